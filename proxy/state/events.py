"""The in-process event bus: every request publishes here; logs, history, stats and the UI listen.

Publishing runs per streamed read, so it is a plain loop over callbacks: no formatting, no locks,
no awaits. Subscribers must return at once (append to a deque, bump a counter).

The bus is also where text enters the shared state, so it is where the configured keys are
masked, once, for every reader (/events and its replay, the debug log, the TUI). Text deltas are
exempt: they are the upstream's answer text, and an upstream never sees a configured key in what
it answers to (keys travel in headers or the URL, never in a prompt the proxy writes), so a key
can be in an answer only if the client itself put it in its prompt.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from proxy.core.errors import mask_key

log = logging.getLogger(__name__)

# Event kinds.
REQUEST_STARTED = "request_started"
FIRST_TOKEN = "first_token"
TEXT_DELTA = "text_delta"
REQUEST_FINISHED = "request_finished"
REQUEST_FAILED = "request_failed"
MODEL_SWITCHED = "model_switched"
DEBUG = "debug"
LIFECYCLE = (REQUEST_STARTED, REQUEST_FINISHED, REQUEST_FAILED)
"""The kinds a request's bookkeeping (stats, history, logs, the store) reads."""


@dataclass(slots=True)
class ProxyEvent:
    """One thing that happened; `data` holds references, never copies of request bodies."""

    kind: str
    request_id: str
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)
    masked: bool = False
    """Its strings were masked already (taken from an event the bus masked): not searched again."""
    source: Any = None
    """The `Exchange` that published it (its `record` is the request's ledger record), or None."""


Subscriber = Callable[[ProxyEvent], None]
SecretList = Callable[[], list[str]]


def _masked(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, mask_key(secret) or "***")
    return text


def mask_event(event: ProxyEvent, secrets: list[str]) -> None:
    """Mask the keys in an event's text in place: its string fields and lists of strings (notes).

    Bodies (dicts) are references to what the client sent and are never sent on by the bus;
    their readers (/requests/{id}, history) mask what they serialise.
    """
    data = event.data
    values = data.values()
    # Run for every request event and most hold no key: one search per key over all the text.
    text = "\0".join([value for value in values if value.__class__ is str])
    lists = [value for value in values if value.__class__ is list and value]
    if lists:
        text = "\0".join([text, *[i for v in lists for i in v if i.__class__ is str]])
    for secret in secrets:
        if secret in text:
            break
    else:
        return
    for key, value in data.items():
        if value.__class__ is str:
            data[key] = _masked(value, secrets)
        elif value.__class__ is list and value:
            for position, item in enumerate(value):
                if item.__class__ is str:
                    # In place: the exchange keeps appending notes to this same list.
                    value[position] = _masked(item, secrets)


CLEAN_MEMO = 1024
"""At most this many string tuples remembered as holding no key (then forgotten at once)."""


class EventBus:
    """Fan-out of ProxyEvents to subscribers, synchronously, in publish order."""

    def __init__(self, secrets: SecretList | None = None) -> None:
        self.secrets = secrets
        """The configured keys (longest first), masked in every event but text deltas."""
        self._subscribers: tuple[Subscriber, ...] = ()
        self._kinds: dict[Subscriber, frozenset[str] | None] = {}
        self._routes: dict[str, tuple[Subscriber, ...]] = {}
        """Per event kind, the subscribers that take it (built on first publish of the kind)."""
        self._clean: set[tuple[str | None, ...]] = set()
        self._clean_for: list[str] | None = None
        """The key list `_clean` was checked against (another list: start again)."""
        self._delta_readers = 0
        self.delta_demand = 0
        """Extra readers of text deltas that are not subscribers themselves (SSE clients)."""

    def subscribe(
        self,
        subscriber: Subscriber,
        *,
        deltas: bool = True,
        kinds: Iterable[str] | None = None,
    ) -> Callable[[], None]:
        """Add a subscriber; returns the function that removes it.

        `deltas=False` says the subscriber ignores text_delta events, so a proxy whose only
        listeners are bookkeeping (headless) does not build them at all. `kinds` names the only
        event kinds it wants (None: all); the others are never delivered to it.
        """
        wanted = frozenset(kinds) if kinds is not None else None
        if wanted is not None and TEXT_DELTA not in wanted:
            deltas = False
        self._subscribers = (*self._subscribers, subscriber)
        self._kinds[subscriber] = wanted
        self._routes = {}
        self._delta_readers += deltas
        removed = False

        def unsubscribe() -> None:
            nonlocal removed
            if removed:
                return
            removed = True
            self._subscribers = tuple(s for s in self._subscribers if s is not subscriber)
            if subscriber not in self._subscribers:
                self._kinds.pop(subscriber, None)
            self._routes = {}
            self._delta_readers -= deltas

        return unsubscribe

    def _route(self, kind: str) -> tuple[Subscriber, ...]:
        kinds = self._kinds
        route = tuple(
            s for s in self._subscribers if (wanted := kinds.get(s)) is None or kind in wanted
        )
        self._routes[kind] = route
        return route

    def clean(self, strings: tuple[str | None, ...]) -> bool:
        """True when none of `strings` holds a configured key; remembered, since the same few
        (models, reasons, session and client) come request after request."""
        secrets = self.secrets() if self.secrets is not None else None
        if not secrets:
            return True
        if secrets is not self._clean_for:
            self._clean, self._clean_for = set(), secrets
        if strings in self._clean:
            return True
        text = "\0".join([value for value in strings if value.__class__ is str])
        for secret in secrets:
            if secret in text:
                return False
        if len(self._clean) >= CLEAN_MEMO:
            self._clean.clear()
        self._clean.add(strings)
        return True

    def mask(self, event: ProxyEvent) -> None:
        """Mask the configured keys in an event now (as publish would), and mark it masked."""
        if self.secrets is not None and event.data:
            secrets = self.secrets()
            if secrets:
                mask_event(event, secrets)
        event.masked = True

    def publish(self, event: ProxyEvent) -> None:
        """Deliver an event to every subscriber; a failing subscriber never breaks a request."""
        kind = event.kind
        if not event.masked and self.secrets is not None and kind != TEXT_DELTA and event.data:
            secrets = self.secrets()
            if secrets:
                mask_event(event, secrets)
        route = self._routes.get(kind)
        if route is None:
            route = self._route(kind)
        for subscriber in route:
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
