"""The user's config folder and the little state the proxy remembers between runs."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from proxy.core.atomic import atomic_write_bytes

log = logging.getLogger(__name__)

STATE_FILE = "state.json"


def config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """`$XDG_CONFIG_HOME/claude-proxy`, `~/.config/claude-proxy` by default."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "claude-proxy"


class UserState:
    """A small JSON object in the config folder (e.g. the history file persistence is on for)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, Any]:
        """The stored object; empty when missing or unreadable (logged, never fatal)."""
        try:
            data = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, orjson.JSONDecodeError) as exc:
            log.warning("ignoring %s: %s", self.path, exc)
            return {}
        return data if isinstance(data, dict) else {}

    def update(self, **values: Any) -> None:
        """Merge `values` into the stored object and write it atomically."""
        data = {**self.read(), **values}
        atomic_write_bytes(self.path, orjson.dumps(data, option=orjson.OPT_INDENT_2))
