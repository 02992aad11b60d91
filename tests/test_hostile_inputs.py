"""Every command on hostile inputs: refused with exit 2 and a short, clean message, never a traceback or a hang.

Each command runs as the console script would (``helpers.cli.main``) in a forked child of this
process, so that it starts in a fraction of a second with its libraries already imported, its
stdout and stderr go to files, and an uncaught exception prints a traceback and exits 1 as Python
would. A generous timeout catches a hang (a command that blocks on a named pipe or expands an
alias bomb); it is no performance test (those are benchmarked, not asserted). Two commands run as
real processes: the broken pipe of ``srceval diff ... | head`` and a run refused before it starts.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import traceback
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import cli, config

SRCEVAL = Path(sys.executable).with_name("srceval")
HANG_SECONDS = 120  # far beyond any refusal: only a command that hangs reaches it
MAX_MESSAGE = 3_000  # characters of stderr: a message lists problems, never a whole (expanded) value


@dataclass
class Done:
    code: int
    out: str
    err: str


def command(*argv: str, cwd: Path) -> Done:
    """``srceval ARGV`` in a forked child of this process, from ``cwd``; fails if it does not end."""
    out, err = cwd / f".out-{time.monotonic_ns()}", cwd / f".err-{time.monotonic_ns()}"
    pid = os.fork()
    if pid == 0:  # the child: the command, then out, whatever happens
        code = 1
        try:
            os.chdir(cwd)
            for stream, path in ((1, out), (2, err)):
                handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(handle, stream)
                os.close(handle)
            sys.stdout, sys.stderr = open(1, "w", closefd=False), open(2, "w", closefd=False)
            code = cli.main(list(argv))
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 2
        except BaseException:  # what Python prints for an uncaught exception
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    deadline = time.monotonic() + HANG_SECONDS
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f"srceval {' '.join(argv)} did not end within {HANG_SECONDS} s")
        time.sleep(0.02)
    result = Done(os.waitstatus_to_exitcode(status), out.read_text(errors="replace"), err.read_text(errors="replace"))
    out.unlink()
    err.unlink()
    return result


def refused(done: Done, *expected: str) -> str:
    """The command was refused cleanly: exit 2, each expected phrase, no traceback, a short printable message."""
    assert done.code == 2, (done.code, done.err[-2000:])
    assert "Traceback" not in done.err, done.err[-2000:]
    assert len(done.err) < MAX_MESSAGE, done.err[:500]
    assert all(ch.isprintable() or ch == "\n" for ch in done.err), repr(done.err[:500])
    for phrase in expected:
        assert phrase in done.err, (phrase, done.err)
    return done.err


# -- the parameters file and the files it names ---------------------------------------------------------

SHIPPED = config.PARAMETERS_FILE.read_text(encoding="utf-8")
ALIAS_BOMB = "".join(f"b{i}: &b{i} [{', '.join([f'*b{i - 1}'] * 10)}]\n" for i in range(1, 10))


def parameters(folder: Path, old: str, new: str, *, prefix: str = "") -> Path:
    path = folder / "run.yml"
    text = SHIPPED.replace(old, new) if old else SHIPPED
    path.write_text(prefix + text.replace("population_file: data/external",
                                          f"population_file: {config.PROJ_ROOT}/data/external"), encoding="utf-8")
    return path


def run_with(folder: Path, params: Path, *extra: str) -> Done:
    return command("run", "--params", str(params), "--out", str(folder / "out"), *extra, cwd=folder)


HOSTILE_PARAMETERS = {
    # a billion laughs inside a valid key: ten aliases, nine levels deep, 10^9 values once expanded
    "alias bomb": (lambda f: parameters(f, "delivery_scenarios: [0.8, 0.9, 1.0]", "delivery_scenarios: *b9",
                                        prefix="b0: &b0 [0.5]\n" + ALIAS_BOMB.replace("b1: &b1 [", "b1: &b1 [*b0, ")),
                   ["once its aliases (*name) are expanded"]),
    "an alias inside itself": (lambda f: parameters(f, "delivery_scenarios: [0.8, 0.9, 1.0]",
                                                    "delivery_scenarios: &loop [*loop]"), ["refers to itself"]),
    "nesting 20,000 deep": (lambda f: parameters(f, "delivery_scenarios: [0.8, 0.9, 1.0]",
                                                 "delivery_scenarios: " + "[" * 20_000 + "]" * 20_000), ["parameters"]),
    "ten million draws": (lambda f: parameters(f, "randomisation_draws: 10000", "randomisation_draws: 10000000"),
                          ["parameter 'randomisation_draws' is 10000000: must be at most 100,000",
                           "change no reported digit"]),
    "a thousand scenarios": (lambda f: parameters(f, "delivery_scenarios: [0.8, 0.9, 1.0]",
                                                  f"delivery_scenarios: [{', '.join(['0.5'] * 1000)}]"),
                             ["holds 1,000 values; at most 20"]),
    "control characters and a long value": (lambda f: parameters(f, "seed: 20230601",
                                                                 'seed: "\\e[31mred\\u0007' + "x" * 5000 + '"'),
                                            ["parameter 'seed' is '?[31mred?xxxx"]),
    "the population file is /dev/zero": (lambda f: parameters(f, "population_file: data/external/population_figures.yml",
                                                              "population_file: /dev/zero"),
                                         ["/dev/zero is a device, not a file"]),
    "the population file is a named pipe": (lambda f: (os.mkfifo(f / "pipe.yml"), parameters(
        f, "population_file: data/external/population_figures.yml", f"population_file: {f / 'pipe.yml'}"))[1],
                                            ["is a named pipe, not a file"]),
    "the population file is too big": (lambda f: ((f / "big.yml").write_text("a: 1\n" * 400_000), parameters(
        f, "population_file: data/external/population_figures.yml", f"population_file: {f / 'big.yml'}"))[1],
                                       ["is too big (2,000,000 bytes; the limit is 1,000,000)"]),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_PARAMETERS))
def test_a_hostile_parameters_file_is_refused(tmp_path, case):
    make, phrases = HOSTILE_PARAMETERS[case]
    refused(run_with(tmp_path, make(tmp_path)), *phrases)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["/dev/zero", "named pipe", "missing"])
def test_a_parameters_file_that_is_not_a_file_is_refused(tmp_path, kind):
    path = {"/dev/zero": Path("/dev/zero"), "named pipe": tmp_path / "p.yml", "missing": tmp_path / "none.yml"}[kind]
    if kind == "named pipe":
        os.mkfifo(path)
    message = refused(run_with(tmp_path, path))
    assert str(path) in message


# -- the input files ------------------------------------------------------------------------------------

def test_a_name_typed_into_a_free_text_column_is_never_quoted(tmp_path):
    """A name in hate_strand or in the allocation column: the message gives the row and column, not the name."""
    from .trials import simulated

    allocation, extract = simulated(seed=2)
    allocation.loc[3, "Allocation"] = "John Smithers"
    extract.loc[5, "Hate Strand"] = "Jane Doemarker"
    extract.loc[6, "Outcome Code"] = "Mrs Marker"
    extract.loc[7, "Reported On"] = "Marker Lane"
    allocation.to_csv(tmp_path / "allocation.csv", index=False)
    extract.to_csv(tmp_path / "extract.csv", index=False)
    done = command("run", "--allocation", "allocation.csv", "--extract", "extract.csv", "--out", "out", cwd=tmp_path)
    message = refused(done, "allocation.csv, column 'allocation', row 5", "extract.csv, column 'hate_strand', row 7",
                      "extract.csv, column 'outcome_code', row 8", "extract.csv, column 'reported_on', row 9")
    assert "Smithers" not in message and "Doemarker" not in message and "Marker" not in message


@pytest.mark.parametrize("part", ["xl/worksheets/sheet1.xml", "xl/worksheets/sheet1.bin", "xl/media/image1"])
def test_a_workbook_whose_parts_expand_past_the_limit_is_refused_whatever_they_are_named(tmp_path, part):
    book = tmp_path / "allocation.xlsx"
    with zipfile.ZipFile(book, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr(part, b"<c>1</c>" * 500_000)  # 4 MB
    params = parameters(tmp_path, "", "", prefix="input_limits:\n  max_xlsx_uncompressed_mb: 3\n")
    refused(command("run", "--allocation", str(book), "--params", str(params), "--out", "out", cwd=tmp_path),
            "allocation.xlsx", "4 MB uncompressed, more than the limit of 3 MB")


def test_a_workbook_part_that_inflates_like_a_zip_bomb_is_refused(tmp_path):
    book = tmp_path / "allocation.xlsx"
    with zipfile.ZipFile(book, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * 200_000_000)
    refused(command("run", "--allocation", str(book), "--out", "out", cwd=tmp_path), "allocation.xlsx", "a zip bomb")


@pytest.mark.parametrize("kind", ["/dev/zero", "named pipe"])
def test_an_input_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    path = Path("/dev/zero") if kind == "/dev/zero" else tmp_path / "extract.csv"
    if kind == "named pipe":
        os.mkfifo(path)
    refused(command("run", "--extract", str(path), "--out", "out", cwd=tmp_path), "not a file")


def test_an_output_folder_holding_a_link_is_refused_before_the_run_starts(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "balance.svg").write_text("a user's chart")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "figures").symlink_to(elsewhere)
    refused(command("run", "--out", "out", cwd=tmp_path), f"{tmp_path / 'out' / 'figures'} is a symbolic link",
            "Nothing was written")
    assert [p.name for p in elsewhere.iterdir()] == ["balance.svg"]
    assert (elsewhere / "balance.svg").read_text() == "a user's chart"


def test_a_real_run_refused_exits_2_without_a_traceback(tmp_path):
    params = parameters(tmp_path, "randomisation_draws: 10000", "randomisation_draws: 10000000")
    done = subprocess.run([str(SRCEVAL), "run", "--params", str(params), "--out", "out"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=HANG_SECONDS)
    refused(Done(done.returncode, done.stdout, done.stderr), "must be at most 100,000")


# -- simulate -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("arguments, phrase", [
    (["--n-control", "1000000000"], "more than the generator makes (2,000,000"),
    (["--n-treatment", "-5"], "--n-treatment must be a whole number of at least 0"),
    (["--compliance", "nan"], "--compliance is a share and must lie between 0 and 1"),
    (["--control-withdrawal", "inf"], "--control-withdrawal is a share"),
    (["--replications", "1000"], "--replications must be at least 1 and at most 100"),
    (["--replications", "50", "--n-control", "30000", "--n-treatment", "30000"], "50 replications of 60,000 reports"),
    (["--open-investigations", "300"], "exceeds the 250 randomised reports"),
    (["--seed", "-1"], "srceval simulate:"),
    (["--effect-spread", "nan", "--replications", "2"], "--effect-spread must lie between 0 and 1"),
])
def test_simulate_refuses_sizes_it_cannot_make_with_the_reason(tmp_path, arguments, phrase):
    refused(command("simulate", "--out", "trial", *arguments, cwd=tmp_path), phrase)
    assert not (tmp_path / "trial").exists()


def test_simulate_refuses_a_folder_holding_its_files_unless_forced(tmp_path):
    folder = tmp_path / "realdata"
    folder.mkdir()
    for name in ("crime_extract.csv", "parameters.yml"):
        (folder / name).write_text(f"the user's {name}")
    message = refused(command("simulate", "--out", "realdata", cwd=tmp_path), "already exist", "--force")
    assert str(folder / "crime_extract.csv") in message
    assert (folder / "crime_extract.csv").read_text() == "the user's crime_extract.csv"
    assert sorted(p.name for p in folder.iterdir()) == ["crime_extract.csv", "parameters.yml"]


# -- diff and pool --------------------------------------------------------------------------------------

HOSTILE_JSON = {
    "nested 100,000 deep": ("[" * 100_000 + "]" * 100_000, "nests 100,000 levels deep"),
    "a number of 10^400": ('{"schema_version": "1", "x": 1e400}', "too large to be a figure"),
    "a whole number of 400 digits": ('{"x": 1' + "0" * 400 + "}", "larger than any count of reports"),
    "NaN": ('{"x": NaN}', "NaN, which is not a number JSON allows"),
    "Infinity": ('{"x": -Infinity}', "-Infinity, which is not a number JSON allows"),
    "not UTF-8": (b'{"x": "\xff"}', "not UTF-8"),
    "not JSON": ("{'x': 1}", "it is not JSON"),
}


def write(path: Path, content) -> Path:
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


@pytest.fixture(scope="module")
def results_file(tmp_path_factory, reference_results) -> Path:
    return write(tmp_path_factory.mktemp("results") / "results.json", json.dumps(reference_results))


@pytest.mark.parametrize("case", sorted(HOSTILE_JSON))
def test_diff_refuses_hostile_json(tmp_path, results_file, case):
    content, phrase = HOSTILE_JSON[case]
    hostile = write(tmp_path / "new.json", content)
    refused(command("diff", str(results_file), str(hostile), cwd=tmp_path), "new.json", phrase)


@pytest.mark.parametrize("kind", ["/dev/zero", "named pipe", "sparse 60 MB", "a folder"])
def test_diff_refuses_what_is_not_a_small_regular_file(tmp_path, results_file, kind):
    path = {"/dev/zero": Path("/dev/zero"), "a folder": tmp_path}.get(kind, tmp_path / "new.json")
    if kind == "named pipe":
        os.mkfifo(path)
    if kind == "sparse 60 MB":
        with open(path, "wb") as handle:
            handle.truncate(60_000_000)
    phrase = {"/dev/zero": "a device", "named pipe": "a named pipe", "sparse 60 MB": "too big",
              "a folder": "a folder"}[kind]
    refused(command("diff", str(results_file), str(path), cwd=tmp_path), phrase)


def test_diff_refuses_a_file_that_breaks_the_results_schema(tmp_path, results_file, reference_results):
    broken = dict(reference_results, outcomes=dict(reference_results["outcomes"],
                                                   attrition="a string where an object goes"))
    refused(command("diff", str(results_file), str(write(tmp_path / "new.json", json.dumps(broken))), cwd=tmp_path),
            "does not follow the results schema (at outcomes/attrition: 'a string where an object goes' is not of "
            "type object)")


def test_diff_refuses_a_file_whose_outcomes_are_not_an_object_by_the_schema(tmp_path, results_file, reference_results):
    broken = dict(reference_results, outcomes="a string where an object goes")
    refused(command("diff", str(results_file), str(write(tmp_path / "new.json", json.dumps(broken))), cwd=tmp_path),
            "does not follow the results schema (at outcomes: 'a string where an object goes' is not of type object)")


def test_diff_into_a_closed_pipe_ends_quietly(tmp_path, results_file, reference_results):
    """``srceval diff OLD NEW | head -1``: the reader leaves early; no BrokenPipeError traceback."""
    changed = json.loads(json.dumps(reference_results))
    changed["estimates"] = [{**row, "estimate": 0.123} for row in changed["estimates"]] * 50
    new = write(tmp_path / "new.json", json.dumps(changed))
    done = subprocess.run(f"'{SRCEVAL}' diff '{results_file}' '{new}' | head -1; exit ${{PIPESTATUS[0]}}",
                          shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=HANG_SECONDS)
    assert len(done.stdout.splitlines()) == 1
    assert done.returncode == 0 and done.stderr == "", done.stderr


def pool_document(**changes) -> dict:
    document = {"outcomes": {"attrition": {"treatment": {"events": 54, "n": 125}, "control": {"events": 69, "n": 125}}},
                "provenance": {"parameters": {"outcomes": {"attrition": {"codes": ["14", "16"]}}, "confidence_level": 0.95}}}
    for dotted, value in changes.items():
        node, keys = document, dotted.split(".")
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return document


HOSTILE_RUNS = {
    "the design as a plain string": (pool_document(design="blocked"), "design is not an object"),
    "a count of 10^12": (pool_document(**{"outcomes.attrition.control.n": 10 ** 12}),
                         "outcomes.attrition.control.n is more than 100000000"),
    "outcomes as a string": (pool_document(outcomes="attrition"), "outcomes is not an object"),
    "codes as a mapping": (pool_document(**{"provenance.parameters.outcomes.attrition.codes": {"a": 1}}),
                           "provenance.parameters.outcomes.attrition.codes is not a list"),
    "more events than reports": (pool_document(**{"outcomes.attrition.control.events": 200}), "events <= n"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_RUNS))
def test_pool_refuses_wrong_shapes_and_sizes(tmp_path, case):
    document, phrase = HOSTILE_RUNS[case]
    good = write(tmp_path / "a.json", json.dumps(pool_document()))
    bad = write(tmp_path / "b.json", json.dumps(document))
    refused(command("pool", str(good), str(bad), "--out", "pooled", cwd=tmp_path), "b.json", phrase)
    assert not (tmp_path / "pooled").exists()


@pytest.mark.parametrize("case", sorted(HOSTILE_JSON))
def test_pool_refuses_hostile_json(tmp_path, case):
    content, phrase = HOSTILE_JSON[case]
    good = write(tmp_path / "a.json", json.dumps(pool_document()))
    bad = write(tmp_path / "b.json", content)
    refused(command("pool", str(good), str(bad), "--out", "pooled", cwd=tmp_path), "b.json", phrase)


@pytest.mark.parametrize("arguments, phrase", [
    (["--confidence-level", "nan"], "--confidence-level must lie between 0 and 1"),
    (["--labels", "a"], "give one distinct label per file"),
])
def test_pool_refuses_bad_options(tmp_path, arguments, phrase):
    files = [str(write(tmp_path / f"{name}.json", json.dumps(pool_document()))) for name in "ab"]
    refused(command("pool", *files, "--out", "pooled", *arguments, cwd=tmp_path), phrase)


# -- help -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["simulate", "--help"], ["diff", "--help"],
                                  ["pool", "--help"], ["--version"]])
def test_every_help_page_prints_and_exits_0(tmp_path, argv):
    done = command(*argv, cwd=tmp_path)
    assert done.code == 0 and "Traceback" not in done.err and ("usage: srceval" in done.out or "srceval " in done.out)


@pytest.mark.parametrize("argv", [[], ["nonsense"], ["run", "--out"], ["diff", "a.json"], ["pool"]])
def test_wrong_arguments_exit_2_with_usage(tmp_path, argv):
    done = command(*argv, cwd=tmp_path)
    assert done.code == 2 and "usage: srceval" in done.err and "Traceback" not in done.err
