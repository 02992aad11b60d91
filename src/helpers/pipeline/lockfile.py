"""The lock file of an output folder: who holds it, written into it and read back for messages.

``.srceval.lock`` holds the holder's command, pid, host and start time as JSON; the lock itself is
an ``flock`` on the file, taken by :class:`helpers.pipeline.safewrite.OutputFolder`.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
from datetime import datetime
from pathlib import Path

LOCK_NAME = ".srceval.lock"
MAX_LOCK_BYTES = 4_096


def read_small(fd: int) -> bytes:
    try:
        return os.pread(fd, MAX_LOCK_BYTES, 0)
    except OSError:
        return b""


def parse_holder(text: bytes | str | None) -> dict | None:
    if not text:
        return None
    try:
        holder = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return holder if isinstance(holder, dict) else None


def describe_holder(holder: dict) -> str:
    def clean(value, limit=60) -> str:
        text = "".join(ch for ch in str(value) if ch.isprintable())
        return text[:limit]

    return (f"{clean(holder.get('command', 'srceval'))} (pid {clean(holder.get('pid', '?'), 12)} on host "
            f"{clean(holder.get('host', '?'))}, started {clean(holder.get('started', '?'), 30)})")


def write_holder(fd: int, command: str) -> None:
    holder = {"command": command, "pid": os.getpid(), "host": socket.gethostname(),
              "started": datetime.now().astimezone().isoformat(timespec="seconds")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(holder) + "\n").encode("utf-8"), 0)


def busy_message(root: Path, holder: bytes | dict | None, *, other_host: bool = False) -> str:
    """Why a command cannot write ``root``: who holds its lock, and what to do."""
    holder = holder if isinstance(holder, dict) else parse_holder(holder)
    who = describe_holder(holder) if holder else "another srceval command"
    if other_host:
        return (f"The output folder {root} is locked by {who}, on another machine, which srceval cannot "
                f"check from here. If that run has ended, remove {root / LOCK_NAME}; otherwise choose "
                "another output folder.")
    return (f"The output folder {root} is in use by {who}. Wait for it to finish or choose another output "
            "folder; two commands writing one folder at once would mix their files.")


def lock_holder(out: Path | str) -> dict | None:
    """Who holds ``out``'s lock right now (its pid, host, start time and command), or None."""
    try:
        fd = os.open(Path(out) / LOCK_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return parse_holder(read_small(fd)) or {}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
