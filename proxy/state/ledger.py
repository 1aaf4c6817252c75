"""The request ledger: one small record per request, written once and masked once, and the one
keeper of the proxy's per-request books.

An `Exchange` writes a `Started` record when it begins (its strings masked by then, no body in
it) and hands it, with itself, to every lifecycle event it publishes (`ProxyEvent.source`). The
readers keep that record by reference instead of copying its fields: the debug log renders its
entries from it when read, the /events replay ring encodes its started frame from it, the store's
recorder builds its row from it. `RequestLedger` keeps the service's books: the exchange tells
it of each step with the values at hand (before publishing, as the bus's first subscriber would
be told), and it feeds stats, latency histograms, session models, the history and the debug log
in one call each.

Events published by hand (tests, older callers) carry no source: each keeper then reads the event
as it always did (its own `on_event`).
"""

from __future__ import annotations

from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from proxy.core import catalogue
from proxy.state.events import REQUEST_STARTED, ProxyEvent

if TYPE_CHECKING:
    from proxy.state.debug_log import DebugLog
    from proxy.state.history import ConversationHistory
    from proxy.state.latency import LatencyHistograms
    from proxy.state.session_models import SessionModels
    from proxy.state.stats import Stats


class Started(NamedTuple):
    """What request_started said, masked: the first eight are /events' started fields, in order."""

    requested: str
    model: str
    provider: str
    transport: str
    tier: str | None
    reason: str
    stream: bool
    session_id: str | None
    endpoint: str
    client: str | None
    origin: str
    preset: str | None
    notes: list[str]
    """The exchange's own notes list (it keeps growing): readers copy what they show."""
    at: float
    """The request_started event's time (epoch seconds)."""
    messages: int
    """How many messages and tools the body held, and its max_tokens (for the debug log)."""
    tools: int
    max_tokens: Any


new_started = tuple.__new__
"""`new_started(Started, values)`: a record from a tuple in one C call (no Python __new__)."""

FAILED_VALUES = itemgetter("model", "provider", "latency", "ttft")
MESSAGES = "messages"
CLIENT = "client"


_PRICES: dict[str, tuple[float, float, float, float]] = {}
"""Per model, its four per-token prices as `catalogue.cost_usd` reads them (the catalogue never
changes once loaded); bounded like the catalogue's own lookups."""


def prices(model: str) -> tuple[float, float, float, float]:
    """(input, output, cache read, cache write) USD per token of a model, 0.0 when unknown."""
    found = _PRICES.get(model)
    if found is None:
        info = catalogue.lookup(model)
        if not info:
            found = (0.0, 0.0, 0.0, 0.0)
        else:
            price_in = float(info.get("input_cost_per_token") or 0.0)
            found = (
                price_in,
                float(info.get("output_cost_per_token") or 0.0),
                float(info.get("cache_read_input_token_cost") or price_in),
                float(info.get("cache_creation_input_token_cost") or price_in),
            )
        if len(_PRICES) >= catalogue.LOOKUPS_LIMIT:
            _PRICES.clear()
        _PRICES[model] = found
    return found


class RequestLedger:
    """Feeds stats, histograms, session models, history and debug log from one read per step."""

    def __init__(
        self,
        stats: Stats,
        latency: LatencyHistograms,
        session_models: SessionModels,
        history: ConversationHistory,
        debug: DebugLog,
    ) -> None:
        self.stats = stats
        self.latency = latency
        self.session_models = session_models
        self.history = history
        self.debug = debug

    def started(self, event: ProxyEvent, record: Started) -> None:
        """A request began (its exchange calls this, before publishing `event`)."""
        self.stats.request_started(record)
        if record.endpoint == MESSAGES:
            self.session_models.request_started(record)
        self.debug.request_started(event.request_id, record)

    def finished(
        self,
        event: ProxyEvent,
        record: Started,
        body: Any,
        model: str,
        provider: str,
        tokens_in: int,
        tokens_out: int,
        cost: float,
        latency: float,
        ttft: float | None,
        repairs: list[Any],
    ) -> None:
        """A request answered (its exchange calls this with the event's masked values)."""
        self.stats.request_finished(
            record, model, tokens_in, tokens_out, cost, latency, ttft, repairs
        )
        self.latency.observe(provider, model, latency, ttft)
        if record.endpoint == MESSAGES and record.origin == CLIENT:
            self.history.record_turn(
                body or {}, event.data, record.session_id, event.request_id, event.time
            )
        self.debug.request_finished(event, record, repairs)

    def failed(self, event: ProxyEvent, record: Started) -> None:
        """A request failed (its exchange calls this, `event` masked)."""
        model, provider, latency, ttft = FAILED_VALUES(event.data)
        self.stats.request_failed(record, model)
        self.latency.observe(provider, model, latency, ttft)
        self.debug.request_failed(event, record)

    def on_event(self, event: ProxyEvent) -> None:
        """Bus subscriber: a lifecycle event published without an exchange (by hand) is read
        by each keeper itself; an exchange's events were told to the ledger already."""
        if event.source is None:
            self._by_hand(event)

    def _by_hand(self, event: ProxyEvent) -> None:
        # An event published without an exchange: every keeper reads it itself.
        kind = event.kind
        self.stats.on_event(event)
        if kind == REQUEST_STARTED:
            self.session_models.on_event(event)
        else:
            self.latency.on_event(event)
        self.history.on_event(event)
        self.debug.on_event(event)
