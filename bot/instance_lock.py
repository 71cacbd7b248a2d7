"""One bot per database: a lock held for the life of the process, released if it crashes.

Two bots on one SQLite file would both recover "crashed" charges the other still holds and
both spend the same Imgur budget. The bot takes an exclusive ``flock`` on ``<db>.lock`` next
to the database before it opens anything. The kernel drops the lock when the process exits,
however it exits (a crash, SIGKILL, power loss), so there is no stale lock to clean up. The
holder writes who it is into the file, so the next one can name it.

``filelock`` would do the locking but truncates the file when it opens it, which would erase
the holder's description before anyone could read it; the locking itself is the few lines
below.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from bot.failures import ExitStatus, Failure


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


def _describe_holder(text: str) -> str:
    try:
        holder = json.loads(text)
        started = datetime.fromtimestamp(holder["started_at"], UTC).strftime("%Y-%m-%d %H:%M UTC")
        return f"pid {holder['pid']} on {holder['host']}, started {started}"
    except (ValueError, KeyError, TypeError):
        return "a process that did not say who it is"


@contextmanager
def instance_lock(database: Path) -> Iterator[None]:
    """Hold the database's lock for the ``with`` block; ``Failure`` (status 5) if taken.

    OSError (a folder that cannot be written) is left to the caller, which explains storage.
    """
    if str(database) == ":memory:":
        yield
        return
    path = lock_path(Path(database))
    path.parent.mkdir(parents=True, exist_ok=True)
    # Opened without truncating: while someone else holds the lock, its words must survive.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe_holder(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
            raise Failure(
                ExitStatus.IN_USE,
                f"another imgurbot is already running on {str(database)!r} ({holder}).",
                "Stop it first, or give this one its own database ([store] path).",
            ) from None
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": time.time(),
            "command": " ".join(os.path.basename(a) for a in sys.argv[:2]),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock; the file stays (removing it would race a newcomer)
