"""One request's journey through the proxy: its target, timings, and the events it publishes."""

from __future__ import annotations

import logging
import time
from itertools import count
from operator import itemgetter
from random import getrandbits
from typing import Any

from proxy.core.conversation_cache import Conversation
from proxy.core.tokens import estimate_input_tokens
from proxy.routing.model_map import Target, choose_model
from proxy.state.events import (
    FIRST_TOKEN,
    REQUEST_FAILED,
    REQUEST_FINISHED,
    REQUEST_STARTED,
    TEXT_DELTA,
    ProxyEvent,
)
from proxy.state.ledger import Started, new_started, prices
from proxy.state.service import ProxyService
from proxy.translate.model_swap import RawBody

_RECORD_HEAD = itemgetter(
    "requested",
    "model",
    "provider",
    "transport",
    "tier",
    "reason",
    "stream",
    "session_id",
    "endpoint",
    "client",
    "origin",
    "preset",
)
log = logging.getLogger(__name__)
STOP_REASONS = frozenset(
    ("end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal")
)
_SEQUENCE = count(getrandbits(31))
"""This process' request numbers, from a random start below 2**31 (two processes sharing a store
start apart; 2**31 requests before the 8 hex digits wrap)."""


def new_request_id() -> str:
    """`req_` + the time in ms (12 hex digits) + this process' next number (8): unique, not
    secret (every /events client sees them), no system call, and growing with time, so the
    store's unique index on ids takes each new one at its end, not at a random page."""
    return f"req_{time.time_ns() // 1_000_000:012x}{next(_SEQUENCE) & 0xFFFFFFFF:08x}"


class Exchange:
    """Per-request state; publishes started / first token / deltas / finished or failed."""

    def __init__(
        self,
        service: ProxyService,
        body: dict[str, Any],
        target: Target,
        session_id: str | None,
        endpoint: str = "messages",
        *,
        client_headers: dict[str, str] | None = None,
        query: str = "",
        input_estimate: int | None = None,
        client: str | None = None,
        origin: str = "client",
    ) -> None:
        self.service = service
        self.bus = service.bus
        self.request_id = new_request_id()
        self.body = body
        self.target = target
        self.session_id = session_id
        self.endpoint = endpoint
        self.stream = body.get("stream") is True
        self.notes: list[str] = []
        self.started = time.perf_counter()
        self.first_token_at: float | None = None
        self.upstream_request: dict[str, Any] | None = None
        self.done = False
        self.reason = "big/small mapping"
        """Why this target was chosen (rule, pin, marker, tier), for the model_mapping entry."""
        self.client_headers = client_headers or {}
        """Client headers an upstream may need (anthropic-version, anthropic-beta, x-api-key)."""
        self.query = query
        """The client's query string (Claude Code sends `beta=true`)."""
        self._input_estimate = input_estimate
        self.client = client
        """The client's User-Agent (Claude Code sends `claude-cli/<version> ...`)."""
        self.origin = origin
        """`client`, or `probe` / `replay` for the TUI's own requests (x-claude-proxy-origin)."""
        self.preset = service.pair.preset
        """The preset in force when the request was routed."""
        self.tool_repairs: list[Any] = []
        """Tool calls the translator recovered, repaired or refused (one record each)."""
        self.raw_body: RawBody | None = None
        """The bytes `body` was parsed from (the Anthropic transport may send them as they are)."""
        self.conversation: Conversation | None = None
        """A kept conversation that `body`'s messages start with (translations are memoised
        with it: `to_openai`)."""
        self.record: Started | None = None
        """The request's ledger record, written by begin() (proxy/state/ledger.py)."""
        self._shown: Target | None = None
        """The target request_started named: while it is the same, request_finished reuses the
        record's (masked) model, provider and session id."""

    def input_estimate(self) -> int:
        """The request's estimated input tokens, computed once (routing may have done it)."""
        if self._input_estimate is None:
            self._input_estimate = estimate_input_tokens(self.body)
        return self._input_estimate

    @classmethod
    def rejected(
        cls,
        service: ProxyService,
        body: dict[str, Any],
        session_id: str | None,
        error: Exception,
        client: str | None = None,
        origin: str = "client",
    ) -> None:
        """Publish started + failed for a request refused before it had a target."""
        requested = str(body.get("model", ""))
        chosen, tier = choose_model(requested, service.pair)
        provider = chosen.split("/", 1)[0] if "/" in chosen else "-"
        target = Target(requested, chosen, provider, chosen, "openai", None, None, None, tier)
        exchange = cls(service, body, target, session_id, client=client, origin=origin)
        exchange.reason = "refused before routing"
        exchange.begin()
        status = getattr(error, "status", 400)
        error_type = getattr(error, "error_type", "invalid_request_error")
        exchange.fail(status, error_type, getattr(error, "message", str(error)))

    def begin(self) -> None:
        """Publish request_started with the mapping decision, and write the request's record."""
        t = self.target
        reason, session_id, client, origin, preset = (
            self.reason,
            self.session_id,
            self.client,
            self.origin,
            self.preset,
        )
        notes, bus, now = self.notes, self.bus, time.time()
        stream, endpoint, body = self.stream, self.endpoint, self.body
        head: tuple[Any, ...] = (t.requested, t.model, t.provider, t.transport, t.tier, reason)
        head += (stream, session_id, endpoint, client, origin, preset)
        data = {
            "requested": t.requested,
            "model": t.model,
            "provider": t.provider,
            "transport": t.transport,
            "tier": t.tier,
            "reason": reason,
            "stream": stream,
            "session_id": session_id,
            "endpoint": endpoint,
            "body": body,
            "notes": notes,
            "client": client,
            "origin": origin,
            "preset": preset,
        }
        event = ProxyEvent(REQUEST_STARTED, self.request_id, data, now, True, self)
        # Its strings are the head's and the notes: the bus searches them only when new. Masked
        # here, once, so the record the readers keep holds masked text as well.
        if notes or not bus.clean(head):
            bus.mask(event)
            head = _RECORD_HEAD(data)
        # The debug log's counts of the body (it is not kept).
        messages, tools = body.get("messages"), body.get("tools")
        self.record = new_started(
            Started,
            (
                *head,
                notes,
                now,
                len(messages) if messages.__class__ is list else 0,
                len(tools) if tools.__class__ is list else 0,
                body.get("max_tokens"),
            ),
        )
        self._shown = t
        try:
            self.service.ledger.started(event, self.record)
        except Exception:
            log.exception("request ledger failed")
        bus.publish(event)

    def set_upstream_request(self, request: dict[str, Any]) -> None:
        """Remember the translated request (for the request detail view)."""
        self.upstream_request = request

    def first_token(self, publish: bool = True) -> None:
        """Mark the first content from upstream (once); `publish=False` for a whole answer at
        once, whose request_finished carries the same time (nobody needs the event before it)."""
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
            if publish:
                self.bus.publish(ProxyEvent(FIRST_TOKEN, self.request_id))

    def delta(self, text: str) -> None:
        """Publish newly streamed answer text."""
        if text:
            self.bus.publish(ProxyEvent(TEXT_DELTA, self.request_id, {"text": text}))

    def finish(self, message: dict[str, Any]) -> None:
        """Publish request_finished with usage, cost and timings of the final message."""
        if self.done:
            return
        self.done = True
        elapsed = time.perf_counter() - self.started
        usage = message.get("usage") or {}
        inp = int(usage.get("input_tokens") or 0)
        out = int(usage.get("output_tokens") or 0)
        cached = int(usage.get("cache_read_input_tokens") or 0)
        written = int(usage.get("cache_creation_input_tokens") or 0)
        ttft = (self.first_token_at - self.started) if self.first_token_at else None
        stop_reason = message.get("stop_reason")
        # catalogue.cost_usd's sum, with the model's prices looked up once per model.
        price_in, price_out, price_cached, price_written = prices(self.target.model)
        if price_in or price_out or price_cached or price_written:
            cost = (
                inp * price_in + out * price_out + cached * price_cached + written * price_written
            )
        else:
            cost = 0.0
        record = self.record
        if record is not None and self._shown is self.target:
            model, provider, session_id = record.model, record.provider, record.session_id
            # Every other string is ours or a known stop reason: nothing for the bus to search.
            masked = stop_reason is None or stop_reason in STOP_REASONS
        else:  # a fallback served it, or begin() never ran
            model, provider, session_id = self.target.model, self.target.provider, self.session_id
            masked = False
        repairs = self.tool_repairs
        data: dict[str, Any] = {
            "model": model,
            "provider": provider,
            "session_id": session_id,
            "message": message,
            "upstream_request": self.upstream_request,
            "input_tokens": inp,
            "output_tokens": out,
            "cache_read_tokens": cached,
            "cache_write_tokens": written,
            "cost": cost,
            "latency": elapsed,
            "ttft": ttft,
            "stop_reason": stop_reason,
            "tool_repairs": repairs,
        }
        if record is None:
            self.bus.publish(ProxyEvent(REQUEST_FINISHED, self.request_id, data, masked=masked))
            return
        event = ProxyEvent(REQUEST_FINISHED, self.request_id, data, masked=masked, source=self)
        if not masked:
            # Masked before the ledger reads it (the bus would do it at publish).
            self.bus.mask(event)
            model, provider = data["model"], data["provider"]
        try:
            self.service.ledger.finished(
                event, record, self.body, model, provider, inp, out, cost, elapsed, ttft, repairs
            )
        except Exception:
            log.exception("request ledger failed")
        self.bus.publish(event)

    def fail(self, status: int, error_type: str, message: str) -> None:
        """Publish request_failed (once)."""
        if self.done:
            return
        self.done = True
        event = ProxyEvent(
            REQUEST_FAILED,
            self.request_id,
            {
                "model": self.target.model,
                "provider": self.target.provider,
                "session_id": self.session_id,
                "status": status,
                "error_type": error_type,
                "message": message,
                "latency": time.perf_counter() - self.started,
                "ttft": (self.first_token_at - self.started) if self.first_token_at else None,
                "upstream_request": self.upstream_request,
            },
        )
        record = self.record
        if record is not None:
            event.source = self
            # Masked before the ledger reads it (the bus would do it at publish).
            self.bus.mask(event)
            try:
                self.service.ledger.failed(event, record)
            except Exception:
                log.exception("request ledger failed")
        self.bus.publish(event)
