"""Where a run writes: checks made before it starts, its staging folder, and putting results in place.

A run writes into a private staging folder inside the output folder. When every stage has
succeeded, each file it wrote replaces the file of the same name in the output (or processed)
folder, one atomic rename at a time, through the guarded writer (:mod:`helpers.pipeline.safewrite`):
no link is followed and nothing else there is touched. The files written are listed in
``OUT/.srceval-manifest.json``, so that the next run can remove the ones it no longer writes,
and only those.
"""
from __future__ import annotations

import os
import shlex
import tempfile
from pathlib import Path, PurePosixPath
from typing import Iterable

from helpers import config
from helpers.pipeline.handles import not_a_file
from helpers.pipeline.safewrite import MANIFEST_NAME, OutputFolder, RefusedPath

__all__ = ["MANIFEST_NAME", "RefusedPath", "RunFolders", "absolute", "check_folder", "check_inputs_kept",
           "remove_if_empty", "staged_files", "write_targets"]


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
    if path.is_symlink():  # a folder named by the user is resolved already: this one is a link inside another
        raise RefusedPath(f"The {role} {path} is a symbolic link (to {os.readlink(path)}); srceval writes only "
                          "inside its folders and never through a link. Remove the link or name the folder itself.")
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
        try:
            blocker = not_a_file(path.lstat())
        except OSError:  # nothing there (or not reachable: the guarded writer's check says why)
            blocker = None
        if blocker:
            raise RefusedPath(f"The run writes the file {path}, but {blocker} of that name exists.")
    for path in folders:
        if path.exists() and not path.is_dir():
            raise RefusedPath(f"The run writes into the folder {path}, but a file of that name exists.")


def staged_files(staging: Path) -> config.StageFiles:
    """Where the stages write inside the staging folder."""
    return config.StageFiles(staging / "out", staging / "processed")


class RunFolders:
    """The folders a run writes, held from the first check to the last rename (:mod:`.safewrite`).

    The output folder, and the processed-data folder where it lies outside the output folder,
    are each locked; every file reaches its place through the guarded writer, so no link in
    either folder is ever followed. The run's staging folder is a private folder inside the
    output folder.
    """

    def __init__(self, out: Path, processed: Path, *, note=None):
        self.out = OutputFolder(out, command=RUN_COMMAND, note=note, handle_signals=False)
        self.processed = (None if _inside(processed, out) else
                          OutputFolder(processed, command=RUN_COMMAND, note=note, handle_signals=False))

    def __enter__(self) -> "RunFolders":
        self.out.open()
        if self.processed is not None:
            try:
                self.processed.open()
            except BaseException:
                self.out.close()
                raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.processed is not None:
            self.processed.close()
        self.out.close()

    @property
    def created(self) -> list[Path]:
        """The folders opening created, for removal if the run fails."""
        return self.out.created + (self.processed.created if self.processed else [])

    def writer_for(self, path: Path) -> tuple[OutputFolder, str]:
        """The writer of the folder ``path`` lies in, and the path relative to it."""
        if _inside(path, self.out.root) and not (self.processed and _inside(path, self.processed.root)
                                                 and _inside(self.processed.root, self.out.root)):
            return self.out, path.relative_to(self.out.root).as_posix()
        if self.processed is not None and _inside(path, self.processed.root):
            return self.processed, path.relative_to(self.processed.root).as_posix()
        raise RefusedPath(f"{path} lies outside the run's output folders")

    def check(self, target: config.StageFiles) -> None:
        """Refuse, before anything runs, a destination reached through a link or blocked by a file or folder."""
        single, folders = write_targets(target)
        for path in single:
            writer, relative = self.writer_for(path)
            writer.check([relative])
        for path in folders:
            writer, relative = self.writer_for(path)
            writer.check([], folders=[relative])

    def staging(self) -> Path:
        return self.out.staging()

    def publish(self, staged: config.StageFiles, target: config.StageFiles, inputs: Iterable[Path]) -> list[Path]:
        """Put every file the run wrote in place, remove what the previous run wrote and this one did not.

        Each file replaces its namesake with one rename; the rest of the folders is left alone.

        Returns
        -------
        list of Path
            The files written, in the output and processed folders.

        Raises
        ------
        RefusedPath
            A file would land on an input of the run, where a folder stands, or through a link.
            Raised before anything is moved.
        """
        inputs = {Path(os.path.abspath(p)) for p in inputs}
        moves = _moves(staged.output_dir, target.output_dir) + _moves(staged.processed_dir, target.processed_dir)
        placed = []
        for _, destination in moves:
            if destination in inputs or Path(os.path.realpath(destination)) in inputs:
                raise RefusedPath(f"The run would overwrite its input {destination}; move the file or choose another "
                                  "output folder.")
            writer, relative = self.writer_for(destination)
            writer.check([relative])
            placed.append((writer, relative))
        written = [writer.write(relative, source) for (writer, relative), (source, _) in zip(placed, moves)]
        self._remove_no_longer_written(written, inputs)
        self.out.write_manifest(_manifest_entry(path, self.out.root) for path in written)
        return written

    def _remove_no_longer_written(self, written: list[Path], inputs: set[Path]) -> None:
        """Remove files of the previous manifest that this run did not write: only files or links inside this
        run's output or processed folder (reached without following a link), never an input."""
        previous = self.out.read_manifest()
        if previous["written_by"] != RUN_COMMAND:
            return
        keep = set(written) | inputs
        for writer in (self.out, self.processed):
            if writer is None:
                continue
            for relative in writer.trusted_entries(previous["files"], writer.root):
                path = writer.path(relative)
                if path in keep or Path(os.path.realpath(path)) in keep:
                    continue
                if writer is self.out and self.processed is not None and _inside(path, self.processed.root):
                    continue  # the processed folder's own writer decides
                writer.remove(relative)


RUN_COMMAND = "srceval run"


def _moves(source_root: Path, target_root: Path) -> list[tuple[Path, Path]]:
    if not source_root.is_dir():
        return []
    return [(path, target_root / path.relative_to(source_root))
            for path in sorted(source_root.rglob("*")) if path.is_file() and not path.is_symlink()]


def _manifest_entry(path: Path, out: Path) -> str:
    return path.relative_to(out).as_posix() if _inside(path, out) else str(path)


def command_line(argv: list[str]) -> str:
    """The command as typed, for the provenance: its arguments shell-quoted, each path by its last part alone, as
    the input files are recorded (a folder's name may name a person or a place)."""
    def short(token: str) -> str:
        option, equals, value = token.partition("=") if token.startswith("--") else ("", "", token)
        if "/" in value or "\\" in value:
            value = PurePosixPath(value.replace("\\", "/").rstrip("/")).name or value
        return option + equals + value

    return shlex.join(["srceval", *(short(token) for token in argv)])
