"""One writer per state file: an OS lock on ``<state>.lock`` held for a whole ingest or learn.

SQLite serialises single transactions, but a writing session keeps the learned edges in memory
and saves absolute counts, so two sessions on one file would overwrite each other's counts.
The second writer is refused at once with a message naming the holder.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from learner.model.errors import UsageError


class StateBusyError(UsageError):
    """Another process is writing the state file."""


def lock_path(state: str) -> str:
    return os.path.abspath(state) + ".lock"


@contextmanager
def exclusive_writer(state: str, command: str) -> Iterator[None]:
    """Hold the state file's writer lock, or raise :class:`StateBusyError`."""
    if state == ":memory:":
        yield
        return
    path = lock_path(state)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 200, 0).decode("utf-8", "replace").strip()
            raise StateBusyError(
                f"{state}: in use by another netpol-learner ({holder or 'unknown process'}); "
                "only one ingest or learn may write a state file at a time: wait for it to "
                "finish, or use another state file"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"pid {os.getpid()}, {command}\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def state_error_message(state: str | None, error: Exception) -> str:
    """What to tell the user when SQLite finds the state file unusable mid-run."""
    where = state or "the state file"
    if "locked" in str(error) or "busy" in str(error):
        return (
            f"{where}: busy ({error}); another process holds a long write on it: try again "
            "when it is done"
        )
    return (
        f"{where}: the state file is damaged ({error}). Check it with "
        f"`sqlite3 {where} 'PRAGMA integrity_check'`; restore the last good copy if you keep "
        "backups (copy it while no ingest or learn runs, or use `sqlite3 FILE .backup`), or "
        "start a new state file and ingest the flow files again"
    )
