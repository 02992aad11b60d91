"""The full ``srceval`` commands of test_end_to_end.py, test_ordinary_files.py, test_disclosure_attack.py and
test_monitor_end_to_end.py, started as soon as collection ends.

A pytest plugin, loaded by those modules (``pytest_plugins``). In one process (``-n 0``), the
end-to-end runs start in the background when the session knows which tests it will run, use the
other core while the tests before them run, and are usually finished when their tests need them.
Under pytest-xdist, a module's runs start when the worker that runs the module reaches its first
test (see :func:`pytest_collection_finish`). Only the runs that the selected tests use are started; none with
``--collect-only``. Runs still going when the session ends (it was interrupted) are stopped.
"""
from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from helpers import config
from helpers.inputs.simulate import TrialDesign, simulate_trial

from . import ordinary_files

SRCEVAL = Path(sys.executable).with_name("srceval")
MODULES = ("test_end_to_end", "test_ordinary_files", "test_disclosure_attack", "test_monitor_end_to_end")
RUNS = ("run", "relative_run", "messy_run", "leadership_run", "blocked_run", "workbook_run", "repeated_wards_run",
        "no_delivery_run", "hostile_run", "monitor_run", "planned_monitor_run")
MARKERS = {"Victim Name": "ZQXMARKERNAME", "Address": "ZQXMARKERADDRESS", "Phone Number": "07000ZQX999",
           "Email": "zqx.marker@example.org", "Date of Birth": "ZQX-01/01/1970", "notes": "ZQXMARKERNOTE"}
# Columns that identify a person by what they mean, under names the exact-name list never had.
IDENTIFYING = {"contact": "ZQXCONTACT", "Caller": "ZQXCALLER", "Informant": "ZQXINFORMANT", "OIC": "ZQXOIC",
               "Officer in the case": "ZQXOFFICER", "Location": "ZQXLOCATION", "Latest update": "ZQXUPDATE"}

# The results.json of an earlier run, left in the relative run's output folder: its report says what changed.
EARLIER_RESULTS = {"schema_version": "1", "analysis_plan": {"primary_outcome": "attrition"},
                   "flow": {"randomised": 240, "allocated": {"treatment": 120, "control": 120}},
                   "outcomes": {"attrition": {"itt": {"risk_difference": -0.2, "risk_difference_ci": [-0.3, -0.1]}}},
                   "provenance": {"generated_at": "2025-01-02T03:04:05+00:00", "package_version": "0.0.9"}}

_started: dict = {}
_pending: dict[str, set] = {}  # under pytest-xdist: the runs each module's tests use, not yet started


def file_hashes(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


class Started:
    """A ``srceval`` command running in the background; :meth:`result` waits for it."""

    def __init__(self, folder: Path, *args: str, cwd: Path | None = None):
        folder.mkdir(parents=True, exist_ok=True)
        self.stdout, self.stderr = folder / "stdout.txt", folder / "stderr.txt"
        with open(self.stdout, "w") as stdout, open(self.stderr, "w") as stderr:
            self.process = subprocess.Popen([str(SRCEVAL), *args], cwd=cwd, stdout=stdout, stderr=stderr)

    def result(self) -> subprocess.CompletedProcess:
        self.process.wait(timeout=900)
        return subprocess.CompletedProcess(self.process.args, self.process.returncode, self.stdout.read_text(),
                                           self.stderr.read_text())


def messy_inputs(folder: Path) -> tuple[Path, Path]:
    """An extract with identifying columns (marker values), open investigations and a randomised
    non-crime incident."""
    trial = simulate_trial(TrialDesign(open_investigations=3))
    extract = trial.extract.assign(**MARKERS)
    randomised = extract["Crime Ref"].isin(trial.allocation["Crime Ref"])
    extract.loc[extract.index[randomised][0], "Record Type"] = "incident"
    trial.extract = extract
    return trial.write(folder / "raw")


def hostile_inputs(folder: Path) -> tuple[Path, Path]:
    """The shipped trial with every hostile case at once (a borough of one report, one of two, a ward named
    like a person, three transgender victims, a rare strand) and identifying columns under new names."""
    from .trials import HAND_MADE, hostile

    trial = simulate_trial(TrialDesign())
    allocation, extract = hostile(trial.allocation, trial.extract, HAND_MADE["every hostile case at once"], seed=5)
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "allocation.csv", folder / "extract.csv"
    allocation.to_csv(paths[0], index=False)
    extract.assign(**IDENTIFYING).to_csv(paths[1], index=False)
    return paths


def _start(name: str, folder: Path) -> tuple[Path, Started]:
    if name == "run":
        return folder, Started(folder, "run", "--out", str(folder / "reports"), "--processed", str(folder / "processed"))
    if name == "relative_run":  # the shipped data again, from another folder, into one holding a file of the user's
        (folder / "rel" / "out" / "figures").mkdir(parents=True)       # and the results of an earlier run
        (folder / "rel" / "out" / "figures" / "my_own_chart.png").write_text("mine")
        (folder / "rel" / "out" / "results.json").write_text(json.dumps(EARLIER_RESULTS))
        return folder, Started(folder / "log", "run", "--out", "rel/out", cwd=folder)
    if name == "messy_run":
        allocation, extract = messy_inputs(folder)
        return folder, Started(folder / "log", "run", "--allocation", str(allocation), "--extract", str(extract),
                               "--out", str(folder / "out"), "--processed", str(folder / "processed"))
    if name == "leadership_run":
        return folder, Started(folder / "log", "run", "--audience", "leadership", "--out", str(folder / "out"),
                               "--processed", str(folder / "p"))
    if name == "blocked_run":  # a blocked trial written by `srceval simulate`, with its own parameters file
        trial = folder / "blocked"
        subprocess.run([str(SRCEVAL), "simulate", "--out", str(trial), "--blocks", "borough", "--block-shares",
                        "0.3,0.5,0.7,0.5", "--block-risk-spread", "0.15"], capture_output=True, check=True,
                       timeout=120)
        return folder, Started(folder / "log", "run", "--allocation", str(trial / "allocation_log.xlsx"), "--extract",
                               str(trial / "crime_extract.csv"), "--params", str(trial / "parameters.yml"),
                               "--out", str(folder / "out"))
    if name == "monitor_run":  # the shipped roll-out, from another folder, with relative paths
        rollout = Path(os.path.relpath(config.RAW_DIR / "rollout", folder))
        folder.mkdir(parents=True, exist_ok=True)
        return folder, Started(folder / "log", "monitor", "--extract", str(rollout / "monitoring_extract.csv"),
                               "--rollout", str(rollout / "rollout_schedule.csv"), "--out", "monitoring", cwd=folder)
    if name == "planned_monitor_run":  # the README's path: plan the order, simulate it, monitor it
        return folder, StartedInTurn(folder, [
            ("simulate", "--rollout", "--out", "rollout"),
            ("plan-rollout", "--wards", "rollout/wards.csv", "--steps", "6", "--start", "2023-02-01",
             "--months-per-step", "4", "--seed", "11", "--out", "plan"),
            ("simulate", "--rollout", "--schedule", "plan/rollout_plan.csv", "--out", "planned"),
            ("monitor", "--extract", "planned/monitoring_extract.csv", "--rollout", "plan/rollout_plan.csv",
             "--out", "reports/monitoring")])
    if name == "hostile_run":
        allocation, extract = hostile_inputs(folder / "raw")
        return folder, Started(folder / "log", "run", "--allocation", str(allocation), "--extract", str(extract),
                               "--out", str(folder / "out"), "--processed", str(folder / "processed"))
    builders = {"workbook_run": (ordinary_files.odd_workbook, "leadership"),
                "repeated_wards_run": (ordinary_files.repeated_wards, "leadership"),
                "no_delivery_run": (ordinary_files.no_delivery, "full")}
    if name in builders:  # files made here, run from their own folder with relative paths, as an evaluator would
        build, audience = builders[name]
        made = build(folder / "in")
        args = [str(Path(a).relative_to(folder)) if a.startswith(str(folder)) else a for a in made["args"]]
        command = Started(folder / "log", "run", *args, "--out", "out", "--audience", audience, cwd=folder)
        command.made = made  # what the files were made to give, for the tests to compare with
        return folder, command
    raise KeyError(name)


class StartedInTurn(Started):
    """Several ``srceval`` commands, one after the other in the background, from one folder (a shell's ``&&``)."""

    def __init__(self, folder: Path, commands: list[tuple[str, ...]]):
        folder.mkdir(parents=True, exist_ok=True)
        self.stdout, self.stderr = folder / "stdout.txt", folder / "stderr.txt"
        line = " && ".join(" ".join([shlex.quote(str(SRCEVAL)), *map(shlex.quote, command)]) for command in commands)
        with open(self.stdout, "w") as stdout, open(self.stderr, "w") as stderr:
            self.process = subprocess.Popen(["bash", "-c", line], cwd=folder, stdout=stdout, stderr=stderr)


def start(names) -> None:
    """Start the runs named (once each); the raw files' hashes are taken before the first starts."""
    if "root" not in _started:
        _started["root"] = Path(tempfile.mkdtemp(prefix="srceval-e2e-"))
        _started["raw_before"] = file_hashes(config.RAW_DIR)
    for name in RUNS:
        if name in names and name not in _started:
            _started[name] = _start(name, _started["root"] / name)


def started(name: str) -> tuple[Path, Started]:
    start({name})
    return _started[name]


def raw_before() -> dict:
    start(set())
    return _started["raw_before"]


def _module(item) -> str | None:
    module = getattr(item, "module", None)
    return module.__name__.rpartition(".")[2] if module is not None else None


def pytest_collection_finish(session) -> None:
    """Start the runs the selected tests use; in a pytest-xdist worker, note them by module instead.

    Every xdist worker collects every test but runs only the modules it is sent (conftest.py keeps each
    of these modules in one worker), so a module's runs start when its worker reaches its first test,
    and never in two workers.
    """
    if session.config.option.collectonly:
        return
    needed: dict[str, set] = {}
    for item in session.items:
        if _module(item) in MODULES:
            needed.setdefault(_module(item), set()).update(n for n in getattr(item, "fixturenames", ()) if n in RUNS)
    if hasattr(session.config, "workerinput"):
        _pending.update(needed)
    elif needed:
        start(set().union(*needed.values()))


def pytest_runtest_setup(item) -> None:
    if _module(item) in _pending:
        start(_pending.pop(_module(item)))


def pytest_sessionfinish(session) -> None:
    for name in RUNS:
        if name in _started and _started[name][1].process.poll() is None:
            _started[name][1].process.terminate()  # srceval removes its staging folder on SIGTERM
            _started[name][1].process.wait()
    if "root" in _started:
        shutil.rmtree(_started["root"], ignore_errors=True)
    _started.clear()
    _pending.clear()
