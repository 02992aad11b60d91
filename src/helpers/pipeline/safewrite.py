"""The one guarded writer every command writes its output folder through.

A command that writes files (``srceval run``, ``pool``, ``simulate``, and any new one) never
opens a destination path itself. It hands its files to this module, which guarantees:

- **Nothing outside the folder.** Every destination is given relative to the output folder and
  reached one folder at a time from a handle on the folder itself (``openat`` with
  ``O_NOFOLLOW``), so its real location is inside the folder whatever the path text says. A
  sub-folder that is a symbolic link (``OUT/figures -> /somewhere``) refuses the command, naming
  the link; a *file* that is a symbolic link is replaced by the new file (one atomic rename
  over the link), never followed, so the link's target is left untouched.
- **Atomic replacement.** Each file is written beside its destination under a temporary name
  and renamed over it: a reader sees the old file or the new one, never half of one.
- **A manifest trusted only inside the folder.** ``.srceval-manifest.json`` lists the files a
  command wrote. The next call of the same command removes the listed files it no longer
  writes, and only those: an entry that leads outside the folder or through a link is ignored,
  and a listed link is removed as a link (its target is never touched).
- **One writer at a time.** ``.srceval.lock`` in the folder is held (an exclusive ``flock``)
  from the first check to the last rename. A second command into the same folder is refused
  with the pid, host and start time of the one that holds it. The lock is released on every way
  out (success, refusal, failure, SIGINT, SIGTERM, SIGHUP); a lock file left by a process that
  was killed outright is no longer locked, and the next command takes it over with a note.

Using it from a new command
---------------------------
In one call, when the command has its files as text or bytes (or as files it made elsewhere)::

    from helpers.pipeline.safewrite import write_files
    written = write_files(out, {"monitor.json": text, "figures/p_chart.svg": svg}, command="srceval monitor")

When a library must write to a path (matplotlib, WeasyPrint), give it a path in the folder's
private staging area and publish what it wrote::

    with OutputFolder(out, command="srceval monitor") as folder:
        staging = folder.staging()
        figure.savefig(staging / "figures" / "p_chart.svg")
        folder.publish(staging)

Either way the command is refused with :class:`RefusedPath` (a folder it must not write, a
link where a folder goes) or :class:`FolderBusy` (another command holds the folder) before any
file is replaced; :class:`Interrupted` carries a signal's exit code (128 + its number).
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import stat
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Iterator, Mapping

from helpers.pipeline.handles import DIRECTORY, entry_stat, link_target, not_a_file, remove_folder
from helpers.pipeline.lockfile import LOCK_NAME, busy_message, describe_holder, parse_holder, read_small, write_holder

MANIFEST_NAME = ".srceval-manifest.json"
STAGING_PREFIX = ".srceval-staging-"
MAX_MANIFEST_BYTES = 1_000_000  # a manifest lists a few dozen files; a bigger one is not ours
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class RefusedPath(ValueError):
    """A path the command must not write to; the message names the path and why."""


class FolderBusy(RefusedPath):
    """Another command holds the output folder's lock; the message says which process."""


class Interrupted(BaseException):
    """A signal stopped the command (a BaseException, like KeyboardInterrupt)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def relative_parts(relative: str | os.PathLike) -> tuple[str, ...]:
    """The parts of a destination relative to the output folder, refusing any that could leave it."""
    text = os.fspath(relative)
    if not text or "\x00" in text:
        raise RefusedPath(f"{text!r} names no file inside the output folder")
    path = PurePosixPath(text.replace(os.sep, "/"))
    if path.is_absolute() or any(part in ("..", "") for part in path.parts) or path.parts == (".",):
        raise RefusedPath(f"{text} is not a path inside the output folder")
    return tuple(part for part in path.parts if part != ".")


class OutputFolder:
    """An output folder held for writing: its lock taken, every destination reached without following links.

    Parameters
    ----------
    root : Path
        The output folder (created if missing, with its parents).
    command : str
        What writes it, as the lock and the manifest name it ("srceval pool").
    note : callable, optional
        Receives one-line notes for the user (a stale lock taken over); default: ignored.
    handle_signals : bool
        Turn SIGINT, SIGTERM and SIGHUP into :class:`Interrupted` while the folder is held (in the
        main thread), so that the lock is released; False when the caller has its own handlers.
    """

    def __init__(self, root: Path | str, *, command: str, note: Callable[[str], None] | None = None,
                 handle_signals: bool = True):
        self.root = Path(os.path.abspath(os.fspath(root)))
        self.command = command
        self.note = note or (lambda message: None)
        self.handle_signals = handle_signals
        self.created: list[Path] = []
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._stagings: list[Path] = []
        self._previous_handlers: dict = {}

    # -- opening and closing ---------------------------------------------------------------------

    def __enter__(self) -> "OutputFolder":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        """Create the folder if missing, take a handle on it and its lock (refusing a busy folder)."""
        self.created = [folder for folder in (*reversed(self.root.parents), self.root) if not os.path.lexists(folder)]
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.root, DIRECTORY)
        except OSError as exc:
            self._remove_created()
            if exc.errno == errno.ELOOP:
                raise RefusedPath(f"The output folder {self.root} is a symbolic link; name the folder it points to."
                                  ) from None
            if exc.errno in (errno.ENOTDIR, errno.EEXIST):
                raise RefusedPath(f"The output folder {self.root} is a file, not a folder.") from None
            raise RefusedPath(f"The output folder {self.root} cannot be written to ({exc.strerror or exc}).") from None
        try:
            self._take_lock()
        except BaseException:
            os.close(self._fd)
            self._fd = None
            self._remove_created()
            raise
        self._install_signal_handlers()

    def close(self) -> None:
        """Remove the staging folders, release the lock, let go of the folder (safe to call twice)."""
        self._restore_signal_handlers()
        if self._fd is None:
            return
        for staging in self._stagings:
            self._remove_tree(staging.name)
        self._stagings.clear()
        if self._lock_fd is not None:
            try:
                os.unlink(LOCK_NAME, dir_fd=self._fd)
            except OSError:
                pass
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None
        os.close(self._fd)
        self._fd = None

    def remove_if_empty(self) -> None:
        """Remove the folders this writer created, innermost first, where they are still empty."""
        self._remove_created()

    def _remove_created(self) -> None:
        for folder in reversed(self.created):
            try:
                folder.rmdir()
            except OSError:
                continue

    # -- the lock --------------------------------------------------------------------------------

    def _take_lock(self) -> None:
        for _ in range(5):  # another process may remove or replace the file between our steps
            try:
                fd = os.open(LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=self._fd)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise RefusedPath(f"{self.root / LOCK_NAME} is a symbolic link; remove it.") from None
                raise RefusedPath(f"The output folder {self.root} cannot be written to ({exc.strerror}).") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = read_small(fd)
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise FolderBusy(busy_message(self.root, holder)) from None
                raise
            current = entry_stat(LOCK_NAME, self._fd)
            mine = os.fstat(fd)
            if current is None or (current.st_dev, current.st_ino) != (mine.st_dev, mine.st_ino):
                os.close(fd)  # the file was replaced after we opened it: try again on the new one
                continue
            if not stat.S_ISREG(mine.st_mode):
                os.close(fd)
                raise RefusedPath(f"{self.root / LOCK_NAME} is not a regular file; remove it.")
            holder = parse_holder(read_small(fd))
            if holder and holder.get("host") not in (None, socket.gethostname()):
                os.close(fd)  # a lock of another machine's process cannot be checked from here
                raise FolderBusy(busy_message(self.root, holder, other_host=True))
            if holder:
                self.note(f"took over the lock of {self.root} left by {describe_holder(holder)}, which no longer runs")
            self._lock_fd = fd
            write_holder(fd, self.command)
            return
        raise FolderBusy(f"The output folder {self.root} is being locked and unlocked by other processes; try again.")

    # -- signals ---------------------------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return

        def stop(signum, frame):
            raise Interrupted(signum)

        self._previous_handlers = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}

    def _restore_signal_handlers(self) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers = {}

    # -- checking and reaching destinations ------------------------------------------------------

    def _require_open(self) -> int:
        if self._fd is None:
            raise RuntimeError("the output folder is not open")
        return self._fd

    def _folder_fd(self, parts: tuple[str, ...], *, create: bool) -> int | None:
        """A handle on the folder ``parts`` below the root, each step refusing a link; None if missing."""
        fd = os.dup(self._require_open())
        walked = self.root
        try:
            for part in parts:
                walked = walked / part
                try:
                    child = os.open(part, DIRECTORY, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        os.close(fd)
                        return None
                    try:
                        os.mkdir(part, 0o777, dir_fd=fd)
                    except FileExistsError:
                        pass
                    child = self._open_child(part, fd, walked)
                except OSError as exc:
                    if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                    child = self._open_child(part, fd, walked)
                os.close(fd)
                fd = child
            return fd
        except BaseException:
            os.close(fd)
            raise

    def _open_child(self, part: str, fd: int, walked: Path) -> int:
        try:
            return os.open(part, DIRECTORY, dir_fd=fd)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
        info = entry_stat(part, fd)
        if info is not None and stat.S_ISLNK(info.st_mode):
            raise RefusedPath(f"{walked} is a symbolic link (to {link_target(part, fd)}); srceval writes only inside "
                              f"{self.root} and never through a link. Remove the link or choose another output folder.")
        raise RefusedPath(f"The command writes into the folder {walked}, but a file of that name exists.")

    def check(self, relatives: Iterable[str | os.PathLike], folders: Iterable[str | os.PathLike] = ()) -> None:
        """Refuse, before anything is written, destinations that cannot be written without following a link.

        ``relatives`` are files, ``folders`` folders, each relative to the root. Existing folders on
        the way must be real folders (not links, not files); a file's destination must not be a folder.
        """
        for relative in folders:
            parts = relative_parts(relative)
            self._check_parts(parts, leaf_is_folder=True)
        for relative in relatives:
            self._check_parts(relative_parts(relative), leaf_is_folder=False)

    def _check_parts(self, parts: tuple[str, ...], *, leaf_is_folder: bool) -> None:
        folders = parts if leaf_is_folder else parts[:-1]
        fd = os.dup(self._require_open())
        walked = self.root
        try:
            for part in folders:
                walked = walked / part
                info = entry_stat(part, fd)
                if info is None:
                    return  # created when written
                if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
                    self._open_child(part, fd, walked)  # raises with the reason
                child = os.open(part, DIRECTORY, dir_fd=fd)
                os.close(fd)
                fd = child
            blocker = None if leaf_is_folder else not_a_file(entry_stat(parts[-1], fd))
            if blocker:
                raise RefusedPath(f"The command writes the file {walked / parts[-1]}, but {blocker} of that name "
                                  "exists.")
        finally:
            os.close(fd)

    def path(self, relative: str | os.PathLike) -> Path:
        """The absolute path of a destination (for messages; writing goes through :meth:`write`)."""
        return self.root.joinpath(*relative_parts(relative))

    # -- writing ---------------------------------------------------------------------------------

    def write(self, relative: str | os.PathLike, content: bytes | str | Path) -> Path:
        """Write one file atomically: text (UTF-8), bytes, or an existing file moved (or copied) in.

        A link at the destination is replaced, never followed; a folder there is refused.
        """
        parts = relative_parts(relative)
        fd = self._folder_fd(parts[:-1], create=True)
        try:
            name = parts[-1]
            blocker = not_a_file(entry_stat(name, fd))
            if blocker:
                raise RefusedPath(f"The command writes the file {self.path(relative)}, but {blocker} of that name "
                                  "exists.")
            if isinstance(content, Path):
                self._move_in(content, name, fd)
            else:
                data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
                self._replace_with(name, fd, lambda handle: handle.write(data))
        finally:
            os.close(fd)
        return self.path(relative)

    def _replace_with(self, name: str, fd: int, fill: Callable) -> None:
        temporary = f".{name[:100]}.srceval-{os.getpid()}-{secrets.token_hex(4)}"
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                         dir_fd=fd)
        try:
            with os.fdopen(handle, "wb") as file:
                fill(file)
            os.replace(temporary, name, src_dir_fd=fd, dst_dir_fd=fd)
        except BaseException:
            try:
                os.unlink(temporary, dir_fd=fd)
            except OSError:
                pass
            raise

    def _move_in(self, source: Path, name: str, fd: int) -> None:
        info = os.stat(source, follow_symlinks=False)
        if not stat.S_ISREG(info.st_mode):
            raise RefusedPath(f"{source} is not a regular file")
        try:
            os.replace(source, name, dst_dir_fd=fd)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            # another file system: copy beside the destination, so that the replacing stays one rename
            with open(source, "rb") as original:
                self._replace_with(name, fd, lambda handle: shutil.copyfileobj(original, handle))
            os.unlink(source)

    def remove(self, relative: str | os.PathLike) -> bool:
        """Remove one file or link inside the folder, never following a link; False if there was none."""
        parts = relative_parts(relative)
        try:
            fd = self._folder_fd(parts[:-1], create=False)
        except RefusedPath:
            return False  # the way there passes a link or a file: the entry is not trusted
        if fd is None:
            return False
        try:
            info = entry_stat(parts[-1], fd)
            if info is None or not (stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode)):
                return False
            os.unlink(parts[-1], dir_fd=fd)
            return True
        finally:
            os.close(fd)

    def staging(self) -> Path:
        """A fresh private folder inside the root for a library to write into; removed when the folder closes."""
        self._require_open()
        path = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.root))
        self._stagings.append(path)
        return path

    def remove_stale_staging(self) -> int:
        """Remove staging folders left in the root by commands that were killed (only while holding the lock)."""
        fd = self._require_open()
        mine = {path.name for path in self._stagings}
        removed = 0
        for name in os.listdir(fd):
            if name.startswith(STAGING_PREFIX) and name not in mine:
                info = entry_stat(name, fd)
                if info is not None and stat.S_ISDIR(info.st_mode):
                    self._remove_tree(name)
                    removed += 1
        return removed

    def _remove_tree(self, name: str) -> None:
        """Remove a folder of the root and everything in it, links removed as links (never followed)."""
        remove_folder(self._require_open(), name)

    def publish(self, staging: Path, *, under: str | os.PathLike | None = None) -> list[Path]:
        """Move every file of a staging folder to the same place in the root (or below ``under``)."""
        staging = Path(staging)
        files = sorted(path for path in staging.rglob("*") if path.is_file() and not path.is_symlink())
        prefix = relative_parts(under) if under else ()
        destinations = {PurePosixPath(*prefix, *path.relative_to(staging).parts).as_posix(): path for path in files}
        self.check(destinations)
        return [self.write(relative, source) for relative, source in destinations.items()]

    # -- the manifest ----------------------------------------------------------------------------

    def read_manifest(self) -> dict:
        """The previous manifest (``{"written_by": ..., "files": [...]}``), or an empty one.

        A manifest that is a link, too big, or not what this module writes is not trusted.
        """
        fd = self._require_open()
        try:
            handle = os.open(MANIFEST_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        except OSError:
            return {"written_by": None, "files": []}
        try:
            if not stat.S_ISREG(os.fstat(handle).st_mode):
                return {"written_by": None, "files": []}
            raw = os.read(handle, MAX_MANIFEST_BYTES + 1)
        finally:
            os.close(handle)
        try:
            content = json.loads(raw.decode("utf-8")) if len(raw) <= MAX_MANIFEST_BYTES else None
        except (UnicodeDecodeError, ValueError, RecursionError):
            content = None
        if not isinstance(content, dict) or not isinstance(content.get("files"), list):
            return {"written_by": None, "files": []}
        files = [entry for entry in content["files"] if isinstance(entry, str) and entry]
        return {"written_by": content.get("written_by"), "files": files}

    def trusted_entries(self, entries: Iterable[str], root: Path | None = None) -> list[str]:
        """The manifest's entries that name a file inside ``root`` (default: this folder), relative to it.

        An absolute entry counts only if it lies inside; a relative one that climbs out (``..``) never.
        """
        root = Path(os.path.abspath(root or self.root))
        trusted = []
        for entry in entries:
            path = Path(os.path.normpath(entry if os.path.isabs(entry) else self.root / entry))
            try:
                relative = path.relative_to(root)
            except ValueError:
                continue
            if relative.parts and relative.name not in (MANIFEST_NAME, LOCK_NAME):
                trusted.append(relative.as_posix())
        return trusted

    def remove_no_longer_written(self, written: Iterable[str], keep: Iterable[Path] = ()) -> list[Path]:
        """Remove the files the previous manifest of this command listed inside the folder and this call did not
        write (never one in ``keep``, such as the command's inputs); return those removed."""
        previous = self.read_manifest()
        if previous["written_by"] != self.command:
            return []  # another command's files are not this command's to remove
        written = {PurePosixPath(*relative_parts(w)).as_posix() for w in written}
        keep = {Path(os.path.abspath(p)) for p in keep}
        removed = []
        for relative in self.trusted_entries(previous["files"]):
            if relative in written or self.path(relative) in keep:
                continue
            if self.remove(relative):
                removed.append(self.path(relative))
        return removed

    def write_manifest(self, files: Iterable[str]) -> Path:
        """Record the files this command wrote (relative paths, or absolute ones outside the folder)."""
        content = {"written_by": self.command, "files": sorted(set(files))}
        return self.write(MANIFEST_NAME, json.dumps(content, indent=1) + "\n")


def write_files(out: Path | str, files: Mapping[str, bytes | str | Path], *, command: str, manifest: bool = True,
                overwrite: bool = True, note: Callable[[str], None] | None = None) -> list[Path]:
    """Write ``files`` (relative path to text, bytes, or a file to move in) into ``out`` in one guarded call.

    Takes the folder's lock, checks every destination before writing any (no link followed, no
    folder replaced; with ``overwrite`` False, no existing file replaced), writes each file
    atomically, then (with ``manifest``) removes what this command wrote last time and no longer
    writes, and records what it wrote.

    Raises
    ------
    RefusedPath
        A destination that cannot be written safely, or (``overwrite`` False) that already exists.
    FolderBusy
        Another command holds the folder.
    Interrupted
        SIGINT, SIGTERM or SIGHUP arrived; the lock is released.
    """
    with OutputFolder(out, command=command, note=note) as folder:
        folder.check(files)
        if not overwrite:
            existing = [folder.path(relative) for relative in files if _exists(folder, relative)]
            if existing:
                raise RefusedPath(f"{', '.join(map(str, existing))} already exist{'s' if len(existing) == 1 else ''}; "
                                  "nothing was written. Choose another folder, or give --force to replace "
                                  f"{'it' if len(existing) == 1 else 'them'}.")
        written = [folder.write(relative, content) for relative, content in files.items()]
        if manifest:
            folder.remove_no_longer_written(files)
            folder.write_manifest(files)
        return written


def _exists(folder: OutputFolder, relative: str) -> bool:
    parts = relative_parts(relative)
    try:
        fd = folder._folder_fd(parts[:-1], create=False)
    except RefusedPath:
        return True
    if fd is None:
        return False
    try:
        return entry_stat(parts[-1], fd) is not None
    finally:
        os.close(fd)


@contextmanager
def signals_as_exceptions() -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP raise :class:`Interrupted` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise Interrupted(signum)

    previous = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


__all__ = ["OutputFolder", "write_files", "RefusedPath", "FolderBusy", "Interrupted", "signals_as_exceptions",
           "relative_parts", "MANIFEST_NAME", "LOCK_NAME"]
