"""What the TUI remembers between runs (the theme, the request log's filter): `tui.json` in the
user's config folder, beside the proxy's own `state.json` (which keeps the models in force).

Read once when the app is built; written atomically off the UI thread, newest values last.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from proxy.core.paths import config_dir
from proxy.core.user_state import UserState

UI_STATE_FILE = "tui.json"


@dataclass(frozen=True, slots=True)
class UiChoices:
    """The user's choices that outlive a run."""

    theme: str | None = None
    filter_model: str = ""
    """The request log's model filter (substring)."""
    filter_status: str = "all"
    """The request log's status filter: all / ok / error / live."""

    @property
    def filtering(self) -> bool:
        """True when the log shows only some requests."""
        return bool(self.filter_model.strip()) or self.filter_status != "all"


def _text(value: Any, default: str) -> str:
    return value if isinstance(value, str) else default


class UiMemory:
    """The choices as last saved, and a thread-safe save of changed ones."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.file = UserState(config_dir(environ) / UI_STATE_FILE)
        data = self.file.read()
        theme = data.get("theme")
        self.choices = UiChoices(
            theme=theme if isinstance(theme, str) else None,
            filter_model=_text(data.get("filter_model"), ""),
            filter_status=_text(data.get("filter_status"), "all"),
        )
        self._lock = threading.Lock()

    def remember(self, **changes: Any) -> UiChoices:
        """Record changed choices and write the file (call it from a thread: it does disk I/O)."""
        with self._lock:
            choices = UiChoices(**{**asdict(self.choices), **changes})
            if choices != self.choices:
                self.choices = choices
                self.file.update(**asdict(choices))
            return choices
