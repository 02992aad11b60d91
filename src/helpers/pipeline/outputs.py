"""Where a run writes: checks made before it starts, its staging folder, and putting results in place.

A run writes into a staging folder beside the output folder. When every stage has succeeded,
each file it wrote replaces the file of the same name in the output (or processed) folder, one
atomic rename at a time; nothing else there is touched. The files written are listed in
``OUT/.srceval-manifest.json``, so that the next run can remove the ones it no longer writes,
and only those.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterable

from helpers import config

MANIFEST_NAME = ".srceval-manifest.json"
PID_FILE = "pid"
# A staging folder with no pid file may belong to a run that has just created it.
PIDLESS_GRACE_SECONDS = 60


class RefusedPath(ValueError):
    """A path the run must not write to; the message names the path and why."""


def absolute(path: Path | str) -> Path:
    """``path`` as an absolute path, a relative one taken from the current directory.

    Raises
    ------
    RefusedPath
        The path is empty.
    """
    if not str(path).strip():
        raise RefusedPath("an empty path names no file or folder")
    return Path(path).expanduser().resolve()


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


# Top-level folders of the system: a run writing its report and manifest there could later remove files in them.
SYSTEM_FOLDERS = {"bin", "boot", "dev", "etc", "lib", "lib32", "lib64", "proc", "root", "run", "sbin", "sys", "usr",
                  "var", "home", "tmp", "opt", "srv", "mnt", "media", "snap"}


def check_folder(path: Path, role: str) -> list[Path]:
    """Refuse an output folder the run must not or cannot write to; create it if missing.

    Parameters
    ----------
    path : Path
        The folder, absolute.
    role : str
        What it is for, as the message should name it ("output folder").

    Returns
    -------
    list of Path
        The folders created, outermost first, so that a failed run can remove them again.

    Raises
    ------
    RefusedPath
        It is an existing file, lies in the project's raw data, notebooks or source code, or
        cannot be written to.
    """
    protected = ((config.RAW_DIR, "the raw-data folder"), (config.NOTEBOOKS_DIR, "the stage notebooks' folder"),
                 (config.PROJ_ROOT / "src", "the source code"))
    for folder, name in protected:
        if _inside(path, folder.resolve()):
            raise RefusedPath(f"The {role} {path} is or lies inside {name} ({folder}); choose another folder.")
    if path == Path(path.anchor) or path.parent == Path(path.anchor) and path.name in SYSTEM_FOLDERS:
        raise RefusedPath(f"The {role} {path} is the filesystem's root or a system folder; choose a folder of "
                          "your own.")
    if path.exists() and not path.is_dir():
        raise RefusedPath(f"The {role} {path} is a file, not a folder.")
    created = [folder for folder in (*reversed(path.parents), path) if not folder.exists()]
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):  # the only sure test: write a file
            pass
    except OSError as exc:
        remove_if_empty(created)
        raise RefusedPath(f"The {role} {path} cannot be written to ({exc.strerror or exc}).") from None
    return created


def remove_if_empty(folders: Iterable[Path]) -> None:
    """Remove the folders that are empty, innermost first."""
    for folder in reversed(list(folders)):
        try:
            folder.rmdir()
        except OSError:  # not empty (or already gone): keep it
            continue


def write_targets(files: config.StageFiles) -> tuple[list[Path], list[Path]]:
    """The files a run replaces and the folders it writes into, whatever they hold."""
    single = [files.results, files.report_html, files.report_pdf, files.analysis_table, files.exclusion_log,
              files.output_dir / MANIFEST_NAME]
    return single, [files.notebooks_dir, files.figures_dir, files.stages_dir]


def check_inputs_kept(inputs: dict[str, Path], files: config.StageFiles) -> None:
    """Refuse a run that would write over one of its own inputs or find a file where a folder goes.

    Parameters
    ----------
    inputs : dict
        Each input file by what it is ("allocation log"), as absolute paths.
    files : config.StageFiles
        Where the run's results go.

    Raises
    ------
    RefusedPath
        An input lies where the run writes, or a file or folder stands where the other is needed.
    """
    single, folders = write_targets(files)
    for role, path in inputs.items():
        if path in single or any(_inside(path, folder) for folder in folders):
            where = path if path in single else next(f for f in folders if _inside(path, f))
            raise RefusedPath(f"The {role} {path} would be overwritten: the run writes {where}. Move the file or "
                              "choose another output folder.")
    for path in single:
        if path.is_dir():
            raise RefusedPath(f"The run writes the file {path}, but a folder of that name exists.")
    for path in folders:
        if path.exists() and not path.is_dir():
            raise RefusedPath(f"The run writes into the folder {path}, but a file of that name exists.")


def stale_staging(out: Path, started: float) -> list[Path]:
    """Staging folders beside ``out`` left by earlier runs that were killed before cleaning up.

    A folder is stale when it is older than this run and the process named in its pid file is
    gone (a folder with no pid file: when it is also more than a minute old).
    """
    stale, prefix = [], f".{out.name}-staging-"
    for folder in out.parent.iterdir():
        if not folder.name.startswith(prefix):
            continue
        try:
            modified = folder.lstat().st_mtime
        except OSError:
            continue
        if not folder.is_dir() or folder.is_symlink() or modified >= started:
            continue
        pid = _read_pid(folder / PID_FILE)
        if pid is None and time.time() - modified < PIDLESS_GRACE_SECONDS:
            continue
        if pid is not None and _alive(pid):
            continue
        stale.append(folder)
    return sorted(stale)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def make_staging(out: Path) -> Path:
    """Create this run's staging folder beside ``out``, marked with this process's id."""
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-staging-", dir=out.parent))
    (staging / PID_FILE).write_text(f"{os.getpid()}\n", encoding="utf-8")
    return staging


def staged_files(staging: Path) -> config.StageFiles:
    """Where the stages write inside the staging folder."""
    return config.StageFiles(staging / "out", staging / "processed")


def publish(staged: config.StageFiles, target: config.StageFiles, inputs: Iterable[Path], *,
            written_by: str = "srceval run") -> list[Path]:
    """Put every file the run wrote in place, remove what the previous run wrote and this one did not.

    Each file replaces its namesake with one rename; the rest of the output folder is left alone.

    Returns
    -------
    list of Path
        The files written, in the output and processed folders.

    Raises
    ------
    RefusedPath
        A file would land on an input of the run, or where a folder stands. Raised before
        anything is moved.
    """
    inputs = {Path(p) for p in inputs}
    moves = _moves(staged.output_dir, target.output_dir) + _moves(staged.processed_dir, target.processed_dir)
    for _, destination in moves:
        _check_destination(destination, inputs)
    for source, destination in moves:
        _place(source, destination)
    written = [destination for _, destination in moves]
    _remove_no_longer_written(target, written, inputs)
    _write_manifest(target.output_dir, written, written_by)
    return written


def _moves(source_root: Path, target_root: Path) -> list[tuple[Path, Path]]:
    if not source_root.is_dir():
        return []
    return [(path, target_root / path.relative_to(source_root))
            for path in sorted(source_root.rglob("*")) if path.is_file()]


def _check_destination(destination: Path, inputs: set[Path]) -> None:
    if destination in inputs or destination.resolve() in inputs:
        raise RefusedPath(f"The run would overwrite its input {destination}; move the file or choose another "
                          "output folder.")
    if destination.is_dir() and not destination.is_symlink():
        raise RefusedPath(f"The run writes the file {destination}, but a folder of that name exists.")
    for parent in destination.parents:
        if parent.exists() and not parent.is_dir():
            raise RefusedPath(f"The run writes into the folder {parent}, but a file of that name exists.")


def _place(source: Path, destination: Path) -> None:
    """Replace ``destination`` by ``source`` atomically (a symbolic link is replaced, never followed)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, destination)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        # another file system: copy beside the destination first, so the replacing stays one rename
        partial = destination.with_name(f".{destination.name}.srceval-{os.getpid()}")
        shutil.copy2(source, partial)
        os.replace(partial, destination)


def _manifest_entry(path: Path, out: Path) -> str:
    return path.relative_to(out).as_posix() if _inside(path, out) else str(path)


def read_manifest(out: Path) -> list[Path]:
    """The files the previous run listed in ``OUT/.srceval-manifest.json`` (none if absent or unreadable)."""
    try:
        entries = json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [Path(os.path.normpath(out / entry)) for entry in entries if isinstance(entry, str) and entry]


def _remove_no_longer_written(target: config.StageFiles, written: list[Path], inputs: set[Path]) -> None:
    """Remove files of the previous manifest that this run did not write: only regular files or links in
    this run's output or processed folder, never an input."""
    keep = set(written) | inputs
    for path in read_manifest(target.output_dir):
        within = _inside(path, target.output_dir) or _inside(path, target.processed_dir)
        if not within or path in keep or path.resolve() in keep or path.name == MANIFEST_NAME:
            continue
        if path.is_symlink() or path.is_file():
            path.unlink(missing_ok=True)


def manifest_writer(out: Path) -> str | None:
    """The command that wrote ``OUT/.srceval-manifest.json`` ("srceval run", ...), or None without one."""
    try:
        return json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8")).get("written_by")
    except (OSError, ValueError, AttributeError):
        return None


def _write_manifest(out: Path, written: list[Path], written_by: str = "srceval run") -> None:
    content = {"written_by": written_by, "files": [_manifest_entry(p, out) for p in written]}
    partial = out / f"{MANIFEST_NAME}.{os.getpid()}"
    partial.write_text(json.dumps(content, indent=1) + "\n", encoding="utf-8")
    os.replace(partial, out / MANIFEST_NAME)
