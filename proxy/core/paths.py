"""The app's folders, and the one rule for files named over HTTP: they stay in the data folder.

A web page or another client can name a file (`/conversation/enable`); without this rule it could
make the proxy read a device or write into `~/.bash_aliases`. Every path that comes from outside
the user's own configuration goes through `confined_path`, every such read through `read_capped`.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from proxy.core.errors import ProxyError

APP_NAME = "claude-proxy"


class PathRuleError(ProxyError):
    """A path that breaks the data-folder rule: a 400 whose message names the rule."""

    def __init__(self, message: str) -> None:
        super().__init__(400, "invalid_request_error", message)


class FileTooLargeError(ProxyError):
    """A file over the read cap: a 413 that names the cap and the setting."""

    def __init__(self, path: Path, limit: int) -> None:
        super().__init__(
            413,
            "request_too_large",
            f"{path} is larger than the limit of {limit} bytes (MAX_FILE_BYTES)",
        )


def config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """`$XDG_CONFIG_HOME/claude-proxy`, `~/.config/claude-proxy` by default."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / APP_NAME


def data_dir(environ: Mapping[str, str] | None = None, override: str | None = None) -> Path:
    """DATA_DIR (`override`), else `$XDG_DATA_HOME/claude-proxy`, else `~/.local/share/...`.

    Not created here: `ensure_data_dir` does that, only when something is written.
    """
    env = os.environ if environ is None else environ
    chosen = override or env.get("DATA_DIR")
    if chosen:
        return Path(chosen).expanduser().absolute()
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser().absolute() / APP_NAME


def ensure_data_dir(folder: Path) -> Path:
    """Create the data folder (0700, parents as needed) and return its real path."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder.resolve()


def confined_path(name: str, folder: Path) -> Path:
    """`name` as a path inside `folder`, or a PathRuleError naming the rule it breaks.

    Accepted: a file name or a relative path inside the folder, or an absolute path that is
    inside it. Refused: NUL bytes, `..`, paths elsewhere, symbolic links (the file or any
    folder between the data folder and it) and anything that exists but is not a regular file.
    """
    if not isinstance(name, str) or not name.strip():
        raise PathRuleError("file_path: must be a non-empty file name")
    if "\x00" in name:
        raise PathRuleError("file_path: must not contain a NUL byte")
    root = ensure_data_dir(folder)
    raw = Path(name).expanduser()
    if ".." in raw.parts:
        raise PathRuleError(f"file_path: '..' is not allowed; give a path inside {root}")
    if raw.is_absolute():
        try:
            relative = raw.relative_to(root)
        except ValueError:
            # The data folder may be reached through a symlink of the user's own (/tmp on macOS).
            try:
                relative = raw.relative_to(folder.absolute())
            except ValueError:
                raise PathRuleError(
                    f"file_path: {raw} is outside the data folder {root}; give a file name or a "
                    "path inside it (set DATA_DIR to move the folder)"
                ) from None
    else:
        relative = raw
    if not relative.parts:
        raise PathRuleError(f"file_path: {raw} is the data folder itself; give a file name")
    current = root
    for part in relative.parts:
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            break  # the rest does not exist yet: created by the writer, inside the folder
        except OSError as exc:
            raise PathRuleError(f"file_path: cannot inspect {current}: {exc.strerror}") from None
        if stat.S_ISLNK(info.st_mode):
            raise PathRuleError(f"file_path: {current} is a symbolic link; links are not followed")
        last = current == root / relative
        if not last and not stat.S_ISDIR(info.st_mode):
            raise PathRuleError(f"file_path: {current} is not a folder")
        if last and not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise PathRuleError(f"file_path: {current} is {kind}")
    return root / relative


def read_capped(path: Path, limit: int) -> bytes:
    """The bytes of a regular file, at most `limit` of them (FileTooLargeError past it).

    Opened with O_NOFOLLOW and O_NONBLOCK, so a symlink or a FIFO swapped in after the checks
    is refused instead of followed or waited on; FileNotFoundError when there is no file.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PathRuleError(f"{path} is a symbolic link; links are not followed") from None
        raise
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise PathRuleError(f"{path} is not a regular file")
        if info.st_size > limit:
            raise FileTooLargeError(path, limit)
        # The file may grow between fstat and read: never take more than the cap.
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise FileTooLargeError(path, limit)
    return data
