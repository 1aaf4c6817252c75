"""Logging set-up: one line per event, with anything key-shaped masked on the way out."""

from __future__ import annotations

import logging
import sys

from proxy.errors import scrub


class ScrubbingFormatter(logging.Formatter):
    """A formatter that masks API keys in every formatted record."""

    def format(self, record: logging.LogRecord) -> str:
        """Format as usual, then mask key-shaped strings."""
        return scrub(super().format(record))


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
