"""Retry policy for upstream failures that happen before the client has seen a byte."""

from __future__ import annotations

import random

from proxy.core.errors import ProxyError

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 529})
BASE_DELAY = 0.5
MAX_DELAY = 8.0


def is_retryable(error: ProxyError) -> bool:
    """429, 5xx-class and connection failures are worth another try; timeouts, 4xx and answers
    the proxy could not read (the same request gets the same answer) are not."""
    return error.retry and error.status in RETRYABLE_STATUS


def backoff_delay(attempt: int, error: ProxyError) -> float:
    """Seconds to wait before retry `attempt` (1-based): retry-after if given, else jittered exp."""
    retry_after = error.headers.get("retry-after")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            pass
    delay = min(MAX_DELAY, BASE_DELAY * 2 ** (attempt - 1))
    return delay * (0.5 + random.random() / 2)
