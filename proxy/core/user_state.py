"""The little state the proxy remembers between runs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson

from proxy.core.atomic import atomic_write_bytes
from proxy.core.paths import config_dir

__all__ = ["STATE_FILE", "UserState", "config_dir"]

log = logging.getLogger(__name__)

STATE_FILE = "state.json"


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
