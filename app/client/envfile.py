"""Write provider keys into `.env`: other lines kept, file mode 0600, replaced atomically."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

_ASSIGN = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")


def _quote(value: str) -> str:
    # Keys are plain tokens; quote anything else so python-dotenv reads it back unchanged.
    if re.fullmatch(r"[A-Za-z0-9_\-./:+]*", value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def update_env_file(path: Path, values: dict[str, str]) -> Path:
    """Set `values` in the env file at `path` (created if missing); returns the path written."""
    path = path.expanduser()
    lines = path.read_text().splitlines() if path.is_file() else []
    remaining = dict(values)
    out: list[str] = []
    for line in lines:
        match = _ASSIGN.match(line)
        if match and match.group(1) in remaining:
            name = match.group(1)
            out.append(f"{name}={_quote(remaining.pop(name))}")
        else:
            out.append(line)
    if remaining and out and out[-1].strip():
        out.append("")
    out.extend(f"{name}={_quote(value)}" for name, value in remaining.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file 0600, so the key is never readable by others, not even briefly.
    fd, tmp = tempfile.mkstemp(prefix=".env.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(out) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
