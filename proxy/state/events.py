"""The in-process event bus: every request publishes here; logs, history, stats and the UI listen.

Publishing runs per streamed read, so it is a plain loop over callbacks: no formatting, no locks,
no awaits. Subscribers must return at once (append to a deque, bump a counter).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

# Event kinds.
REQUEST_STARTED = "request_started"
FIRST_TOKEN = "first_token"
TEXT_DELTA = "text_delta"
REQUEST_FINISHED = "request_finished"
REQUEST_FAILED = "request_failed"
MODEL_SWITCHED = "model_switched"
DEBUG = "debug"


@dataclass(slots=True)
class ProxyEvent:
    """One thing that happened; `data` holds references, never copies of request bodies."""

    kind: str
    request_id: str
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)


Subscriber = Callable[[ProxyEvent], None]


class EventBus:
    """Fan-out of ProxyEvents to subscribers, synchronously, in publish order."""

    def __init__(self) -> None:
        self._subscribers: tuple[Subscriber, ...] = ()
        self._delta_readers = 0
        self.delta_demand = 0
        """Extra readers of text deltas that are not subscribers themselves (SSE clients)."""

    def subscribe(self, subscriber: Subscriber, *, deltas: bool = True) -> Callable[[], None]:
        """Add a subscriber; returns the function that removes it.

        `deltas=False` says the subscriber ignores text_delta events, so a proxy whose only
        listeners are bookkeeping (headless) does not build them at all.
        """
        self._subscribers = (*self._subscribers, subscriber)
        self._delta_readers += deltas
        removed = False

        def unsubscribe() -> None:
            nonlocal removed
            if removed:
                return
            removed = True
            self._subscribers = tuple(s for s in self._subscribers if s is not subscriber)
            self._delta_readers -= deltas

        return unsubscribe

    def publish(self, event: ProxyEvent) -> None:
        """Deliver an event to every subscriber; a failing subscriber never breaks a request."""
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception:
                log.exception("event subscriber %r failed", subscriber)

    @property
    def has_subscribers(self) -> bool:
        """True when anyone listens."""
        return bool(self._subscribers)

    @property
    def wants_deltas(self) -> bool:
        """True when someone reads text deltas (the hot path skips building them otherwise)."""
        return self._delta_readers > 0 or self.delta_demand > 0
