"""Masking of the configured API keys wherever text leaves the proxy (logs, history, API)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from proxy.core.errors import mask_key, scrub

SecretSource = Callable[[], Iterable[str | None]]


class Redactor:
    """Replaces the configured keys (exact text) and, optionally, anything key-shaped.

    The keys come from a callable, read at each use: the TUI can swap the settings (new keys)
    while the proxy runs.
    """

    def __init__(self, source: SecretSource | Iterable[str | None] = ()) -> None:
        self._source: SecretSource = source if callable(source) else (lambda: tuple(source))
        self._raw: tuple[str | None, ...] = ()
        self._sorted: list[str] = []

    @property
    def secrets(self) -> list[str]:
        """The current keys, longest first (so a key containing another is masked whole)."""
        raw = self._source()
        if raw is self._raw:
            return self._sorted
        raw = tuple(raw)
        if raw != self._raw:
            self._raw = raw
            self._sorted = sorted({s for s in raw if s and len(s) >= 6}, key=len, reverse=True)
        return self._sorted

    def exact(self, text: str) -> str:
        """`text` with every configured key masked (user text otherwise untouched)."""
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, mask_key(secret) or "***")
        return text

    def __call__(self, text: str) -> str:
        """`text` with configured keys and key-shaped strings masked."""
        return scrub(self.exact(text))
