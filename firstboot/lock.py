"""One agent at a time (the unit, a manual `run`, the publish timer)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from firstboot.contract.layout import Layout


def acquire_lock(layout: Layout, wait: bool) -> int | None:
    """An flock held for the process's life; the kernel drops it when the process dies, so a crash never
    leaves it stale. None when another process holds it and `wait` is False."""
    layout.var.mkdir(parents=True, exist_ok=True)
    return acquire_file_lock(layout.lock_file, wait)


def acquire_file_lock(path: Path, wait: bool = False) -> int | None:
    """The same on any lock file (the backups' own: Layout.backup_lock_file)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
