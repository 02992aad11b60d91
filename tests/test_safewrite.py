"""The guarded writer every command writes through: nothing outside the output folder, whatever links it holds.

The writer is tested alone here (links in the folder and its sub-folders, the manifest, the lock),
then through each command that writes files: ``pool`` and ``simulate`` here, ``run`` in
test_run_safety.py and test_hostile_inputs.py.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from helpers import cli
from helpers.pipeline import lockfile, safewrite
from helpers.pipeline.safewrite import FolderBusy, OutputFolder, RefusedPath, write_files


@pytest.fixture
def outside(tmp_path):
    """A folder of the user's beside the output folder, with a file in it."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "balance.svg").write_text("the user's chart")
    return folder


def untouched(folder) -> bool:
    return [p.name for p in folder.iterdir()] == ["balance.svg"] and \
        (folder / "balance.svg").read_text() == "the user's chart"


def test_a_file_that_is_a_link_is_replaced_never_followed(tmp_path, outside):
    out = tmp_path / "out"
    out.mkdir()
    (out / "pooled.json").symlink_to(outside / "balance.svg")
    write_files(out, {"pooled.json": "{}"}, command="srceval test")
    assert not (out / "pooled.json").is_symlink() and (out / "pooled.json").read_text() == "{}"
    assert untouched(outside)


def test_a_sub_folder_that_is_a_link_refuses_the_command_before_anything_is_written(tmp_path, outside):
    out = tmp_path / "out"
    (out / "figures").parent.mkdir()
    (out / "figures").symlink_to(outside)
    with pytest.raises(RefusedPath, match=rf"{out / 'figures'} is a symbolic link \(to {outside}\)"):
        write_files(out, {"a.json": "{}", "figures/balance.svg": "<svg/>"}, command="srceval test")
    assert untouched(outside) and not (out / "a.json").exists()


def test_a_link_deeper_down_is_refused_too(tmp_path, outside):
    out = tmp_path / "out"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "deep").symlink_to(outside)
    with pytest.raises(RefusedPath, match="is a symbolic link"):
        write_files(out, {"figures/deep/balance.svg": "<svg/>"}, command="srceval test")
    assert untouched(outside)


@pytest.mark.parametrize("entry", ["../elsewhere/balance.svg", "{outside}/balance.svg", "link/balance.svg",
                                   "/etc/hostname"])
def test_the_manifest_is_trusted_only_inside_the_folder(tmp_path, outside, entry):
    out = tmp_path / "out"
    write_files(out, {"a.json": "{}"}, command="srceval test")
    (out / "link").symlink_to(outside)
    manifest = json.loads((out / safewrite.MANIFEST_NAME).read_text())
    manifest["files"].append(entry.format(outside=outside))
    (out / safewrite.MANIFEST_NAME).write_text(json.dumps(manifest))
    write_files(out, {"b.json": "{}"}, command="srceval test")  # a.json is no longer written: removed
    assert not (out / "a.json").exists() and (out / "b.json").exists()
    assert untouched(outside) and os.path.exists("/etc/hostname")


def test_a_listed_link_is_removed_as_a_link(tmp_path, outside):
    out = tmp_path / "out"
    write_files(out, {"old.svg": "x"}, command="srceval test")
    (out / "old.svg").unlink()
    (out / "old.svg").symlink_to(outside / "balance.svg")
    write_files(out, {"new.svg": "x"}, command="srceval test")
    assert not os.path.lexists(out / "old.svg") and untouched(outside)


def test_another_commands_files_are_never_removed(tmp_path):
    out = tmp_path / "out"
    write_files(out, {"results.json": "{}"}, command="srceval run")
    write_files(out, {"pooled.json": "{}"}, command="srceval pool")
    assert (out / "results.json").exists()


def test_a_folder_where_a_file_goes_and_a_file_where_a_folder_goes_are_refused(tmp_path):
    out = tmp_path / "out"
    (out / "pooled.json").mkdir(parents=True)
    (out / "figures").write_text("a file")
    with pytest.raises(RefusedPath, match="a folder of that name exists"):
        write_files(out, {"pooled.json": "{}"}, command="srceval test")
    with pytest.raises(RefusedPath, match="a file of that name exists"):
        write_files(out, {"figures/x.svg": "x"}, command="srceval test")


def test_without_overwrite_an_existing_file_is_refused_and_nothing_written(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "crime_extract.csv").write_text("the user's")
    with pytest.raises(RefusedPath, match="already exists; nothing was written"):
        write_files(out, {"allocation_log.csv": "x", "crime_extract.csv": "y"}, command="srceval test",
                    overwrite=False)
    assert sorted(p.name for p in out.iterdir()) == ["crime_extract.csv"]


@pytest.mark.parametrize("relative", ["../x", "/etc/x", "a/../../x", "", "a\0b"])
def test_a_destination_that_could_leave_the_folder_is_refused(tmp_path, relative):
    with pytest.raises(RefusedPath):
        write_files(tmp_path / "out", {relative: "x"}, command="srceval test")


# -- the lock -------------------------------------------------------------------------------------------

def test_a_second_writer_is_refused_with_the_holders_pid_host_and_start(tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out, command="srceval run"):
        with pytest.raises(FolderBusy) as busy:
            write_files(out, {"x": "y"}, command="srceval pool")
        assert lockfile.lock_holder(out)["pid"] == os.getpid()
    message = str(busy.value)
    assert f"in use by srceval run (pid {os.getpid()} on host {socket.gethostname()}, started 20" in message
    assert not (out / "x").exists() and not (out / safewrite.LOCK_NAME).exists()
    assert lockfile.lock_holder(out) is None


def test_the_lock_is_released_when_the_command_fails(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ZeroDivisionError):
        with OutputFolder(out, command="srceval test"):
            1 / 0
    write_files(out, {"x": "y"}, command="srceval test")
    assert not (out / safewrite.LOCK_NAME).exists()


def test_the_lock_of_a_killed_process_is_taken_over_with_a_note(tmp_path):
    out = tmp_path / "out"
    code = ("import os, sys; from helpers.pipeline.safewrite import OutputFolder; "
            f"OutputFolder({str(out)!r}, command='srceval run').open(); os._exit(0)")  # killed: no clean-up
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert (out / safewrite.LOCK_NAME).exists()
    notes = []
    write_files(out, {"x": "y"}, command="srceval pool", note=notes.append)
    assert len(notes) == 1 and notes[0].startswith(f"took over the lock of {out} left by srceval run (pid ")
    assert notes[0].endswith("which no longer runs")


def test_a_lock_of_another_machine_is_not_taken_over(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / safewrite.LOCK_NAME).write_text(json.dumps({"command": "srceval run", "pid": 1, "host": "elsewhere.example",
                                                       "started": "2024-01-01T00:00:00+00:00"}))
    with pytest.raises(FolderBusy, match="on another machine, which srceval cannot check from here"):
        write_files(out, {"x": "y"}, command="srceval pool")


def test_a_lock_file_that_is_a_link_is_refused(tmp_path, outside):
    out = tmp_path / "out"
    out.mkdir()
    (out / safewrite.LOCK_NAME).symlink_to(outside / "balance.svg")
    with pytest.raises(RefusedPath, match="is a symbolic link"):
        write_files(out, {"x": "y"}, command="srceval test")
    assert untouched(outside)


def test_a_signal_releases_the_lock(tmp_path):
    """SIGTERM while a command holds the folder: Interrupted (exit 143 from the command line), lock gone."""
    out = tmp_path / "out"
    code = ("import os, signal, time; from helpers.pipeline.safewrite import OutputFolder, Interrupted\n"
            f"folder = OutputFolder({str(out)!r}, command='srceval test')\n"
            "try:\n    with folder:\n        os.kill(os.getpid(), signal.SIGTERM); time.sleep(30)\n"
            "except Interrupted as stopped:\n    raise SystemExit(stopped.exit_code)\n")
    done = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert done.returncode == 143 and not (out / safewrite.LOCK_NAME).exists()


# -- pool and simulate write through it ---------------------------------------------------------------

def pool_inputs(folder) -> list[str]:
    paths = []
    for name, (a, n1, c, n2) in {"one": (54, 125, 69, 125), "two": (40, 100, 50, 100)}.items():
        path = folder / name / "results.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({
            "outcomes": {"attrition": {"treatment": {"events": a, "n": n1}, "control": {"events": c, "n": n2}}},
            "provenance": {"parameters": {"outcomes": {"attrition": {"codes": ["14", "16"]}},
                                          "confidence_level": 0.95}}}))
        paths.append(str(path))
    return paths


def test_pool_replaces_a_link_in_its_folder_and_leaves_the_target_alone(tmp_path, outside):
    out = tmp_path / "pooled"
    out.mkdir()
    (out / "pooled.json").symlink_to(outside / "balance.svg")
    assert cli.main(["pool", *pool_inputs(tmp_path), "--out", str(out)]) == 0
    assert not (out / "pooled.json").is_symlink() and json.loads((out / "pooled.json").read_text())["outcomes"]
    assert untouched(outside)
    assert not (out / safewrite.LOCK_NAME).exists() and not list(out.glob(".srceval-staging-*"))


def test_pool_refuses_a_linked_figures_folder(tmp_path, outside, capsys):
    out = tmp_path / "pooled"
    out.mkdir()
    (out / "figures").symlink_to(outside)
    assert cli.main(["pool", *pool_inputs(tmp_path), "--out", str(out)]) == 2
    assert "is a symbolic link" in capsys.readouterr().err
    assert untouched(outside) and not (out / "pooled.json").exists()


def test_simulate_with_force_replaces_a_linked_file_and_leaves_the_target_alone(tmp_path, outside, capsys):
    folder = tmp_path / "realdata"
    folder.mkdir()
    (folder / "allocation_log.xlsx").symlink_to(outside / "balance.svg")
    assert cli.main(["simulate", "--out", str(folder)]) == 2
    assert "already exists; nothing was written" in capsys.readouterr().err
    assert cli.main(["simulate", "--out", str(folder), "--force"]) == 0
    assert not (folder / "allocation_log.xlsx").is_symlink()
    assert (folder / "allocation_log.xlsx").read_bytes()[:2] == b"PK" and untouched(outside)
    assert sorted(p.name for p in folder.iterdir()) == ["allocation_log.xlsx", "crime_extract.csv",
                                                        "synthetic-manifest.json"]
