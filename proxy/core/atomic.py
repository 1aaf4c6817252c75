"""Crash-safe file writes: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

TEMP_SUFFIX = ".tmp"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via temp file + fsync + rename (parent folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temp file must sit in the same folder: rename is only atomic within one file system.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def write_private(path: Path, data: bytes) -> Path:
    """Write a file the user named (a TUI export): atomically, mode 0600, never via a symlink.

    Returns the absolute path written. The temp file is created 0600 by mkstemp and renamed
    over the target, so the data is never readable by others, not even briefly.
    """
    path = Path(path).expanduser()
    if path.is_symlink():
        raise OSError(errno.ELOOP, "is a symbolic link; exports are not written through one", path)
    atomic_write_bytes(path, data)
    return path.absolute()


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not supported everywhere (Windows), hence best effort.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_stale_temps(path: Path) -> int:
    """Delete temp files a killed writer left beside `path`; returns how many."""
    path = Path(path)
    removed = 0
    if not path.parent.is_dir():
        return 0
    for stale in path.parent.glob(f".{path.name}.*{TEMP_SUFFIX}"):
        with contextlib.suppress(OSError):
            stale.unlink()
            removed += 1
    return removed
