"""Logging set-up: one line per event, with anything key-shaped masked on the way out."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from proxy.core.errors import scrub

# Maskers of the configured keys (exact text), added by each running service.
_redactors: list[Callable[[str], str]] = []


def add_redactor(redactor: Callable[[str], str]) -> None:
    """Also mask what `redactor` masks (the configured keys) in every log line."""
    if redactor not in _redactors:
        _redactors.append(redactor)
        del _redactors[:-8]  # services come and go in tests; keep the newest few


class ScrubbingFormatter(logging.Formatter):
    """A formatter that masks API keys in every formatted record."""

    def format(self, record: logging.LogRecord) -> str:
        """Format as usual, then mask configured keys and key-shaped strings."""
        text = super().format(record)
        for redactor in _redactors:
            text = redactor(text)
        return scrub(text)


def setup_logging(level: str = "INFO", stream: object = None) -> None:
    """Log to stderr (or `stream`) at `level`, keys masked."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(ScrubbingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # LiteLLM logs every call at INFO; its own debug output is not ours to show.
    for noisy in ("LiteLLM", "litellm", "httpx", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
