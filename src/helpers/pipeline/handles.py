"""A folder's entries reached through the folder's own handle (``openat``), never through a link.

The guarded writer (:mod:`helpers.pipeline.safewrite`) walks and empties folders with these: an entry
is looked at without following it, and a folder is emptied through a handle on itself, so a link
swapped in on the way leads nowhere outside.
"""
from __future__ import annotations

import os
import stat

DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def entry_stat(name: str, dir_fd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def not_a_file(info: os.stat_result | None) -> str | None:
    """What stands where a file is to be written, when a new file cannot replace it ("a folder", "a named
    pipe", ...); None when nothing is there, or a regular file or a link (replaced, never followed)."""
    if info is None or stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode):
        return None
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))
    return next((kind for test, kind in kinds if test(info.st_mode)), "something other than a file")


def link_target(name: str, dir_fd: int) -> str:
    try:
        return os.readlink(name, dir_fd=dir_fd)
    except OSError:
        return "?"


def remove_folder(fd: int, name: str) -> None:
    """Remove the folder ``name`` of the folder open as ``fd``: emptied through its own handle (no link
    followed), then removed; what cannot be opened or removed is left."""
    try:
        child = os.open(name, DIRECTORY, dir_fd=fd)
    except OSError:
        return
    try:
        empty_folder(child)
    finally:
        os.close(child)
    try:
        os.rmdir(name, dir_fd=fd)
    except OSError:
        pass


def empty_folder(fd: int) -> None:
    """Remove everything inside the folder open as ``fd``: files and links unlinked, folders emptied first."""
    for name in os.listdir(fd):
        info = entry_stat(name, fd)
        if info is None:
            continue
        if stat.S_ISDIR(info.st_mode):
            remove_folder(fd, name)
        else:
            try:
                os.unlink(name, dir_fd=fd)
            except OSError:
                pass
