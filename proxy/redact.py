"""Masking of the configured API keys wherever text leaves the proxy (logs, history, API)."""

from __future__ import annotations

from collections.abc import Iterable

from proxy.errors import mask_key, scrub


class Redactor:
    """Replaces the configured keys (exact text) and, optionally, anything key-shaped."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Longest first, so a key that contains another is masked whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def exact(self, text: str) -> str:
        """`text` with every configured key masked (user text otherwise untouched)."""
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, mask_key(secret) or "***")
        return text

    def __call__(self, text: str) -> str:
        """`text` with configured keys and key-shaped strings masked."""
        return scrub(self.exact(text))
