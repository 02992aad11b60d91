"""A run must never lose a user's files: paths, output checks, putting results in place, interruptions.

Most tests call ``srceval run`` in process with the stages replaced by a stand-in that writes the
same kinds of files (no kernel starts); one starts the real command and stops it with SIGTERM. A
real run from another folder with a relative ``--out`` is in test_end_to_end.py, where it is also
the second run that must give the same results as the first.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import cli, config
from helpers.pipeline import outputs, runner, stage_kernel

SRCEVAL = Path(sys.executable).with_name("srceval")


def tree(folder: Path) -> dict:
    """Every file under ``folder`` (hidden ones included) with the hash of its content."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def run(*args: str) -> int:
    return cli.main(["run", *args])


@pytest.fixture
def stages(monkeypatch):
    """Replace the stage notebooks and the report's rendering by stand-ins writing the same kinds of files.

    Returns a dict: ``calls`` (stage, parameters) of each stage run, ``figures`` the figure names
    the last stage writes, ``during`` a function called with each stage's name.
    """
    state = {"calls": [], "figures": ["forest_plot", "flow_diagram"], "during": lambda stage: None}

    def execute(stage, files, parameters, stop, kernel):
        state["calls"].append((stage, parameters))
        state["during"](stage)
        files.stages_dir.mkdir(parents=True, exist_ok=True)
        files.stage_result(stage).write_text("{}")
        (files.notebooks_dir / f"{stage}.ipynb").write_text("{}")
        if stage == config.STAGES[0]:
            files.processed_dir.mkdir(parents=True, exist_ok=True)
            files.analysis_table.write_bytes(b"new table")
            files.exclusion_log.write_text("new log")
        if stage == config.STAGES[-1]:
            files.figures_dir.mkdir(parents=True, exist_ok=True)
            for name in state["figures"]:
                files.figure(name).write_bytes(b"new " + name.encode())
            files.results.write_text('{"run": "new"}')

    def render(files, allocation, extract):
        files.report_html.write_text("new report")
        files.report_pdf.write_bytes(b"new pdf")

    monkeypatch.setattr(runner, "_execute", execute)
    monkeypatch.setattr(runner, "_render", render)
    return state


@pytest.fixture
def no_stage_may_start(monkeypatch):
    def execute(*args, **kwargs):
        raise AssertionError("a stage started although the run should have been refused")

    monkeypatch.setattr(runner, "_execute", execute)


def earlier_report(out: Path) -> dict:
    """An output folder holding an earlier run's report and files of the user's own."""
    for name, content in {"results.json": '{"run": "old"}', "report.html": "old report", "notes.txt": "mine",
                          "figures/forest_plot.svg": "old plot", "figures/my_own_chart.png": "mine",
                          "stages/my_notes.json": "mine"}.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(content)
    return tree(out)


# 1. paths ---------------------------------------------------------------------------------------

def test_every_path_argument_is_made_absolute_from_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    args = cli.build_parser().parse_args(["run", "--allocation", "in/log.csv", "--extract", "~/x.csv", "--out",
                                          "rel/out", "--params", "../p.yml", "--processed", "rel/./p"])
    assert args.allocation == tmp_path / "in" / "log.csv"
    assert args.extract == tmp_path / "home" / "x.csv"
    assert args.out == tmp_path / "rel" / "out"
    assert args.params == tmp_path.parent / "p.yml"
    assert args.processed == tmp_path / "rel" / "p"


def test_a_relative_out_gives_the_stages_absolute_paths_and_stages_inside_it(tmp_path, monkeypatch, stages):
    caller = tmp_path / "elsewhere"
    caller.mkdir()
    monkeypatch.chdir(caller)
    beside = []
    stages["during"] = lambda stage: beside.extend(p for p in (caller / "rel").iterdir() if p.name != "out")
    assert run("--out", "rel/out") == 0
    assert {"allocation_path", "extract_path"} <= set(stages["calls"][0][1])  # stage 1 reads the inputs
    for _, parameters in stages["calls"]:
        for key in {"allocation_path", "extract_path", "output_dir", "processed_dir", "params_file"} & set(parameters):
            assert Path(parameters[key]).is_absolute(), key
        staging = Path(parameters["output_dir"]).parent
        assert staging.parent == caller / "rel" / "out" and staging.name.startswith(".srceval-staging-")
    assert not beside, "nothing is written beside the output folder"
    assert not list((caller / "rel" / "out").glob(".srceval-staging-*")) and not (caller / "rel" / "out" / ".srceval.lock").exists()
    assert (caller / "rel" / "out" / "results.json").read_text() == '{"run": "new"}'
    assert (caller / "rel" / "out" / "processed" / "analysis_table.parquet").is_file()


@pytest.mark.parametrize("option", ["--out", "--processed", "--allocation", "--extract", "--params"])
def test_an_empty_path_is_refused(option, capsys, no_stage_may_start):
    with pytest.raises(SystemExit) as stopped:
        run(option, "")
    assert stopped.value.code == 2
    assert f"argument {option}: an empty path names no file or folder" in capsys.readouterr().err


# 2. output folders checked before any kernel starts --------------------------------------------

def refused_folders(tmp_path):
    (tmp_path / "a_file").write_text("x")
    return {"an existing file": (tmp_path / "a_file", "is a file, not a folder"),
            "the raw-data folder": (config.RAW_DIR, "raw-data folder"),
            "inside the raw data": (config.RAW_DIR / "reports", "raw-data folder"),
            "the notebooks": (config.NOTEBOOKS_DIR / "out", "notebooks"),
            "the source code": (config.PROJ_ROOT / "src" / "helpers", "source code"),
            "not writable": (Path("/sys/srceval-out"), "cannot be written to")}


@pytest.mark.parametrize("option", ["--out", "--processed"])
@pytest.mark.parametrize("case", ["an existing file", "the raw-data folder", "inside the raw data", "the notebooks",
                                  "the source code", "not writable"])
def test_a_folder_the_run_must_not_write_to_is_refused_before_it_starts(tmp_path, capsys, no_stage_may_start,
                                                                        option, case):
    folder, reason = refused_folders(tmp_path)[case]
    raw_before = tree(config.RAW_DIR)
    others = {"--out": ["--processed", str(tmp_path / "p")], "--processed": ["--out", str(tmp_path / "out")]}
    assert run(option, str(folder), *others[option]) == 2
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1 and str(folder) in message and reason in message
    assert tree(config.RAW_DIR) == raw_before
    assert not (config.RAW_DIR / "reports").exists() and not (config.NOTEBOOKS_DIR / "out").exists()
    assert not (tmp_path / "out").exists() and not (tmp_path / "p").exists()  # nothing left behind


@pytest.mark.parametrize("where", ["stages/log.csv", "figures/deep/log.csv", "notebooks/log.csv", "results.json",
                                   "processed/exclusion_log.csv"])
def test_an_input_where_the_run_writes_is_refused(tmp_path, capsys, no_stage_may_start, where):
    out = tmp_path / "out"
    log = out / where
    log.parent.mkdir(parents=True)
    shutil.copy(config.DEFAULT_ALLOCATION, log)
    before = log.read_bytes()
    assert run("--allocation", str(log), "--out", str(out)) == 2
    message = capsys.readouterr().err
    assert f"The allocation log {log} would be overwritten" in message
    assert log.read_bytes() == before


@pytest.mark.parametrize("kind", ["folder", "named pipe"])
def test_an_input_that_is_not_a_regular_file_is_named_before_it_is_opened(tmp_path, capsys, no_stage_may_start,
                                                                          kind):
    path = tmp_path / "extract.csv"
    path.mkdir() if kind == "folder" else os.mkfifo(path)
    assert run("--extract", str(path), "--out", str(tmp_path / "out")) == 2
    assert f"{path} is a {kind}, not a file" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["folder", "named pipe"])
@pytest.mark.parametrize("name", ["results.json", "report.html", "report.pdf"])
def test_a_non_file_where_the_run_writes_a_file_is_refused_before_any_stage(tmp_path, capsys, no_stage_may_start,
                                                                             name, kind):
    out = tmp_path / "out"
    out.mkdir()
    blocker = out / name
    blocker.mkdir() if kind == "folder" else os.mkfifo(blocker)
    before = sorted(p.name for p in out.iterdir())
    assert run("--out", str(out), "--processed", str(tmp_path / "p")) == 2
    message = capsys.readouterr().err
    assert str(blocker) in message and f"a {kind} of that name exists" in message
    assert sorted(p.name for p in out.iterdir()) == before and not (tmp_path / "p").exists()


def test_the_project_folder_as_out_is_refused_as_it_would_overwrite_the_notebooks(tmp_path, capsys,
                                                                                  no_stage_may_start):
    assert run("--out", str(config.PROJ_ROOT), "--processed", str(tmp_path / "p")) == 2
    assert "stage notebook 01_data_cleaning" in capsys.readouterr().err


def test_the_contract_check_runs_in_a_child_process_that_reports_back():
    """The check's memory goes with its process; a breach comes back as text; an error that is not a
    breach comes back as no breach, for stage 1 to report with its notebook."""
    assert runner._in_child(lambda: str(os.getpid())) != str(os.getpid())
    assert runner._in_child(lambda text: f"breach: {text}", "é" * 100_000) == f"breach: {'é' * 100_000}"
    assert runner._in_child(lambda: None) is None
    assert runner._in_child(lambda: 1 / 0) is None


# 3. putting results in place ------------------------------------------------------------------

def test_only_the_files_the_run_writes_are_replaced(tmp_path, stages):
    out = tmp_path / "out"
    before = earlier_report(out)
    assert run("--out", str(out)) == 0
    after = tree(out)
    for own in ("notes.txt", "figures/my_own_chart.png", "stages/my_notes.json"):
        assert after[own] == before[own]
    assert (out / "results.json").read_text() == '{"run": "new"}'
    assert (out / "figures" / "forest_plot.svg").read_bytes() == b"new forest_plot"
    manifest = json.loads((out / outputs.MANIFEST_NAME).read_text())["files"]
    assert sorted(manifest) == sorted(p for p in after if p not in ("notes.txt", "figures/my_own_chart.png",
                                                                     "stages/my_notes.json", outputs.MANIFEST_NAME))


def test_files_no_longer_written_are_removed_only_when_listed_in_the_manifest(tmp_path, stages):
    out, outside = tmp_path / "out", tmp_path / "outside.txt"
    earlier_report(out)
    assert run("--out", str(out)) == 0
    assert (out / "figures" / "flow_diagram.svg").is_file()
    manifest = json.loads((out / outputs.MANIFEST_NAME).read_text())
    outside.write_text("not ours")
    manifest["files"] += ["../outside.txt", str(outside), "/etc/hostname", "figures"]
    (out / outputs.MANIFEST_NAME).write_text(json.dumps(manifest))
    stages["figures"] = ["forest_plot"]
    assert run("--out", str(out)) == 0
    assert not (out / "figures" / "flow_diagram.svg").exists()  # written last time, not this time
    assert (out / "figures" / "my_own_chart.png").read_text() == "mine"  # never in a manifest
    assert outside.read_text() == "not ours" and Path("/etc/hostname").exists()
    assert "figures/flow_diagram.svg" not in json.loads((out / outputs.MANIFEST_NAME).read_text())["files"]


def test_publishing_never_overwrites_an_input(tmp_path):
    staged = outputs.staged_files(tmp_path / "staging")
    staged.figures_dir.mkdir(parents=True)
    staged.figure("x").write_bytes(b"new")
    staged.results.write_text("{}")
    target = config.StageFiles(tmp_path / "out", tmp_path / "p")
    target.figures_dir.mkdir(parents=True)
    target.figure("x").write_bytes(b"an input")
    with outputs.RunFolders(target.output_dir, target.processed_dir) as folders:
        with pytest.raises(outputs.RefusedPath, match="would overwrite its input"):
            folders.publish(staged, target, [target.figure("x")])
    assert target.figure("x").read_bytes() == b"an input" and not target.results.exists()


def test_a_failed_run_leaves_the_output_as_it_was(tmp_path, stages, capsys):
    out = tmp_path / "out"
    before = earlier_report(out)

    def fail(stage):
        if stage == config.STAGES[2]:
            raise runner.RunFailure("Stage failed. No results were written.")

    stages["during"] = fail
    assert run("--out", str(out)) == 1
    assert tree(out) == before and not list(out.glob(".srceval-staging-*")) and not (out / ".srceval.lock").exists()


# 3b. links in the output folder and the lock ---------------------------------------------------

def test_a_linked_file_in_the_output_folder_is_replaced_and_its_target_left_alone(tmp_path, stages):
    out, mine = tmp_path / "out", tmp_path / "mine.json"
    mine.write_text("the user's")
    out.mkdir()
    (out / "results.json").symlink_to(mine)
    assert run("--out", str(out)) == 0
    assert mine.read_text() == "the user's"
    assert not (out / "results.json").is_symlink() and (out / "results.json").read_text() == '{"run": "new"}'


@pytest.mark.parametrize("folder", ["figures", "stages", "notebooks", "processed"])
def test_a_linked_folder_the_run_writes_into_refuses_it_before_it_starts(tmp_path, capsys, no_stage_may_start,
                                                                         folder):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "balance.svg").write_text("the user's")
    out.mkdir()
    (out / folder).symlink_to(elsewhere)
    assert run("--out", str(out)) == 2
    assert f"{out / folder} is a symbolic link (to {elsewhere})" in capsys.readouterr().err
    assert [p.name for p in elsewhere.iterdir()] == ["balance.svg"]  # not even a probe file was written there


def test_no_manifest_entry_is_followed_through_a_link(tmp_path, stages):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.svg").write_text("the user's")
    (elsewhere / "y.svg").write_text("the user's")
    assert run("--out", str(out)) == 0
    (out / "old").symlink_to(elsewhere)
    (out / "stale.svg").symlink_to(elsewhere / "y.svg")
    manifest = json.loads((out / outputs.MANIFEST_NAME).read_text())
    manifest["files"] += ["old/x.svg", "stale.svg", str(elsewhere / "x.svg")]
    (out / outputs.MANIFEST_NAME).write_text(json.dumps(manifest))
    assert run("--out", str(out)) == 0
    assert (elsewhere / "x.svg").read_text() == "the user's" and (elsewhere / "y.svg").read_text() == "the user's"
    assert not os.path.lexists(out / "stale.svg")  # the listed link itself is removed, not what it points to


def test_a_second_run_into_a_folder_in_use_is_refused_with_who_holds_it(tmp_path, capsys, no_stage_may_start):
    from helpers.pipeline.safewrite import OutputFolder

    out = tmp_path / "out"
    with OutputFolder(out, command="srceval run"):
        assert run("--out", str(out)) == 2
    message = capsys.readouterr().err
    assert f"The output folder {out} is in use by srceval run (pid {os.getpid()} on host " in message
    assert not (out / ".srceval.lock").exists()


def test_the_processed_folder_outside_the_output_folder_is_locked_too(tmp_path, capsys, no_stage_may_start):
    from helpers.pipeline.safewrite import OutputFolder

    with OutputFolder(tmp_path / "p", command="srceval run"):
        assert run("--out", str(tmp_path / "out"), "--processed", str(tmp_path / "p")) == 2
    assert f"The output folder {tmp_path / 'p'} is in use" in capsys.readouterr().err


def test_the_lock_is_released_after_a_run_and_a_refusal(tmp_path, stages, monkeypatch):
    out = tmp_path / "out"
    assert run("--out", str(out)) == 0
    assert not (out / ".srceval.lock").exists()
    monkeypatch.setattr(runner, "_contract_breach", lambda *args: "a breach")  # refused after the lock is taken
    assert run("--out", str(out)) == 2
    assert not (out / ".srceval.lock").exists() and not list(out.glob(".srceval-staging-*"))


# 4. interruptions ----------------------------------------------------------------------------

def dead_pid() -> int:
    finished = subprocess.Popen(["true"])
    finished.wait()
    return finished.pid


def test_staging_folders_of_killed_runs_are_removed_at_the_start(tmp_path, stages, capsys):
    """A run holds its folder's lock, so any staging folder in it belongs to a run that was killed."""
    out = tmp_path / "out"
    (out / ".srceval-staging-dead" / "out").mkdir(parents=True)
    (out / ".srceval-staging-dead" / "out" / "results.json").write_text("{}")
    (out / ".srceval-staging-link").symlink_to(tmp_path / "kept")
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "file.txt").write_text("mine")
    (tmp_path / ".out-staging-other").mkdir()  # beside the folder: not this run's to remove
    assert run("--out", str(out)) == 0
    assert not (out / ".srceval-staging-dead").exists()
    assert (tmp_path / "kept" / "file.txt").read_text() == "mine" and (tmp_path / ".out-staging-other").exists()
    assert f"Removed 1 staging folder(s) left in {out} by interrupted runs." in capsys.readouterr().out


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_stops_the_run_cleanly(tmp_path, stages, capsys, signum):
    out, handler = tmp_path / "out", signal.getsignal(signum)
    before = earlier_report(out)

    def interrupt(stage):
        if stage == config.STAGES[2]:
            os.kill(os.getpid(), signum)
            time.sleep(5)  # the handler raises in the main thread before this ends
            raise AssertionError("the signal did not stop the run")

    stages["during"] = interrupt
    assert run("--out", str(out)) == 128 + signum
    err = capsys.readouterr().err
    assert err == f"srceval: run interrupted; no results were written, the earlier report in {out} is unchanged\n"
    assert tree(out) == before and not list(out.glob(".srceval-staging-*")) and not (out / ".srceval.lock").exists()
    assert signal.getsignal(signum) == handler  # the handler of before the run is back


def test_a_signal_while_results_are_put_in_place_waits_for_them(tmp_path, stages, capsys, monkeypatch):
    out = tmp_path / "out"
    earlier_report(out)
    publish = outputs.RunFolders.publish

    def interrupted_publish(*args):
        os.kill(os.getpid(), signal.SIGTERM)
        return publish(*args)

    monkeypatch.setattr(outputs.RunFolders, "publish", interrupted_publish)
    assert run("--out", str(out)) == 143
    assert capsys.readouterr().err == f"srceval: run interrupted after its results were written to {out}\n"
    assert (out / "results.json").read_text() == '{"run": "new"}' and (out / outputs.MANIFEST_NAME).is_file()


def kernels_of(pid: int) -> list[int]:
    listing = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in listing.splitlines() if "ipykernel_launcher" in line]


def test_sigterm_during_a_real_run_kills_its_kernel_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    before = earlier_report(out)
    process = subprocess.Popen([str(SRCEVAL), "run", "--out", str(out), "--processed", str(tmp_path / "p")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline, kernels = time.monotonic() + 120, []
    while time.monotonic() < deadline and not (kernels and list(out.glob(".srceval-staging-*"))):
        assert process.poll() is None, process.communicate()
        kernels = kernels_of(process.pid)
        time.sleep(0.1)
    assert kernels, "no kernel started"
    second = subprocess.run([str(SRCEVAL), "run", "--out", str(out), "--processed", str(tmp_path / "q")],
                            capture_output=True, text=True, timeout=120)  # a second run into the same folder
    assert second.returncode == 2 and f"is in use by srceval run (pid {process.pid} on host" in second.stderr
    time.sleep(1)  # let the kernel get into its notebook
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines() == [f"srceval: run interrupted; no results were written, the earlier "
                                           f"report in {out} is unchanged"]
    assert not list(out.glob(".srceval-*")) and not (tmp_path / "p").exists() and not (tmp_path / "q").exists()
    assert tree(out) == before
    still = subprocess.run(["ps", "-o", "pid=,stat=", "-p", ",".join(map(str, kernels))], capture_output=True,
                           text=True).stdout
    assert not [line for line in still.splitlines() if "Z" not in line.split()[1]], still


# 6. the kernel's shutdown -------------------------------------------------------------------

def test_kernels_are_shut_down_without_an_interrupt(monkeypatch):
    """jupyter_client's SIGINT before shutdown makes ipykernel log 'KeyboardInterrupt caught in kernel'."""
    from jupyter_core.utils import run_sync

    manager = stage_kernel.stage_kernel_manager()(kernel_name=stage_kernel.kernel_name())
    signals = []

    async def record(signum):
        signals.append(signum)

    run_sync(manager.start_kernel)()
    assert manager in stage_kernel._KERNELS  # a signal to the run can kill it
    monkeypatch.setattr(manager, "_async_signal_kernel", record)
    run_sync(manager.shutdown_kernel)()
    assert signal.SIGINT not in signals
    assert not run_sync(manager.is_alive)()


def test_the_command_as_typed_reaches_stage_one_for_the_provenance(tmp_path, stages, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("--out", "my out", "--audience", "full") == 0
    first_stage, parameters = stages["calls"][0]
    assert first_stage == config.STAGES[0]
    assert parameters["command"] == "srceval run --out 'my out' --audience full"
    assert all("command" not in later for _, later in stages["calls"][1:])


def test_the_recorded_command_names_no_folder():
    """Provenance records each path by its last part, as it records the input files: a folder may name a person."""
    from helpers.pipeline.outputs import command_line

    typed = ["run", "--out", "/home/jane smith/cases/out/", "--params=../Victim Files/p.yml", "--allocation",
             r"C:\Users\JSmith\a.xlsx", "--audience", "full"]
    assert command_line(typed) == "srceval run --out out --params=p.yml --allocation a.xlsx --audience full"
    assert command_line(["run", "--out", "my out"]) == "srceval run --out 'my out'"
