"""The UI's view of the requests it has seen: one record per request id, built from bus events.

The proxy owns no list of past requests; this is the log the screen shows, bounded, and fed only
by the drain on the UI thread (so nothing here needs a lock).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from proxy.state.events import (
    FIRST_TOKEN,
    REQUEST_FAILED,
    REQUEST_FINISHED,
    REQUEST_STARTED,
    TEXT_DELTA,
    ProxyEvent,
)

LIVE, OK, ERROR = "live", "ok", "error"
PROXY_RESTARTED = "proxy_restarted"
"""Not a bus event: an attached app learnt the proxy restarted, so its live requests never end."""


@dataclass(slots=True)
class RequestRecord:
    """Everything the log and the detail view show about one request."""

    request_id: str
    started: float
    requested: str = ""
    model: str = ""
    provider: str = ""
    tier: str = ""
    reason: str = ""
    """Why the proxy routed it there (`big model`, `direct model`, `session X pinned`, ...)."""
    session_id: str | None = None
    stream: bool = False
    status: str = LIVE
    http_status: int | None = None
    ttft: float | None = None
    latency: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None
    stop_reason: str | None = None
    error: str | None = None
    error_type: str | None = None
    body: dict[str, Any] | None = None
    """The client's request body (a reference the proxy handed over; never mutated here)."""
    upstream_request: dict[str, Any] | None = None
    message: dict[str, Any] | None = None
    chunks: list[str] = field(default_factory=list)
    tool_repairs: list[dict[str, Any]] = field(default_factory=list)
    """Tool calls the proxy recovered, repaired or refused in the answer (one record each)."""
    stored: bool = False
    """Read back from the store (a request from before a restart): no bodies, no answer text."""

    @property
    def text(self) -> str:
        """The answer text streamed so far."""
        if len(self.chunks) > 1:
            # Join once and keep the result: the detail view and tests read it repeatedly.
            self.chunks[:] = ["".join(self.chunks)]
        return self.chunks[0] if self.chunks else ""


def stored_hint(bodies_recorded: bool | None) -> str:
    """Why a request read back from the store (from before a restart, or before an attached TUI
    connected) shows no answer text: one line."""
    if bodies_recorded:
        return "Read back from the store: the log shows its numbers and tool calls only."
    if bodies_recorded is None:
        return "Read back from the store: answers are kept only with RECORD_BODIES=true."
    return "Read back from the store: bodies are not recorded (set RECORD_BODIES=true)."


def record_from_row(row: dict[str, Any]) -> RequestRecord:
    """A finished request as the store keeps it (`GET /requests`), as a log record.

    Bodies and answer text are not stored (only tool calls, shortened); the log shows the tool
    calls in the answer column and the numbers as they were.
    """
    status = row.get("status")
    failed = bool(row.get("error_type")) or (isinstance(status, int) and status >= 400)
    calls = row.get("tool_calls") or []
    content = [
        {"type": "tool_use", "name": call.get("name", "?"), "input": call.get("input") or {}}
        for call in calls
        if isinstance(call, dict)
    ]
    return RequestRecord(
        request_id=str(row["id"]),
        started=float(row.get("started_at") or 0.0),
        requested=str(row.get("requested_model") or ""),
        model=str(row.get("model") or ""),
        provider=str(row.get("provider") or ""),
        tier="direct" if row.get("origin") in ("probe", "replay") else "",
        reason=str(row.get("reason") or ""),
        session_id=row.get("session_id"),
        stream=bool(row.get("stream")),
        status=ERROR if failed else OK,
        http_status=status if isinstance(status, int) else None,
        ttft=row.get("ttft"),
        latency=row.get("duration"),
        input_tokens=None if failed else row.get("input_tokens"),
        output_tokens=None if failed else row.get("output_tokens"),
        cost=row.get("cost"),
        stop_reason=row.get("stop_reason"),
        error=row.get("error_message") if failed else None,
        error_type=row.get("error_type"),
        message={"role": "assistant", "content": content} if content else None,
        stored=True,
    )


EVICT_BATCH = 50
"""Past the limit the oldest records go this many at a time: each removal re-indexes and
repaints the whole log, so under a steady stream of requests it happens once per 50, not per one."""


class RequestStore:
    """Records by request id, newest last, at most `limit` of them."""

    def __init__(self, limit: int = 1000, evict_batch: int = EVICT_BATCH) -> None:
        self.limit = limit
        self.evict_batch = max(1, min(evict_batch, limit))
        self.records: OrderedDict[str, RequestRecord] = OrderedDict()
        self.evicted: list[str] = []
        """Ids dropped by the last apply() calls; the log removes their rows and clears this."""

    def get(self, request_id: str) -> RequestRecord | None:
        """The record for an id, if still kept."""
        return self.records.get(request_id)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.records.values())

    def backfill(self, rows: list[dict[str, Any]]) -> int:
        """Put stored requests (newest first, as `GET /requests` gives them) among the ones seen
        live by start time, skipping ids already here, up to `limit`; returns how many came in."""
        older: list[RequestRecord] = []
        room = self.limit - len(self.records)
        for row in rows:
            if room <= 0:
                break
            request_id = str(row.get("id") or "")
            if not request_id or request_id in self.records:
                continue
            older.append(record_from_row(row))
            room -= 1
        if not older:
            return 0
        # By start time, live ones included: a request can be in the store before its live
        # events reach this side, so a backfilled row may be newer than one seen live.
        merged = sorted([*older, *self.records.values()], key=lambda record: record.started)
        self.records = OrderedDict((record.request_id, record) for record in merged)
        return len(older)

    def abandon_live(self, reason: str) -> list[RequestRecord]:
        """Mark every live request failed with `reason`; returns them."""
        lost = [record for record in self.records.values() if record.status == LIVE]
        for record in lost:
            record.status = ERROR
            record.error_type = "lost"
            record.error = reason
        return lost

    def apply(self, event: ProxyEvent) -> RequestRecord | None:
        """Fold one event into its record; returns the record it changed (None if unrelated)."""
        kind, data = event.kind, event.data
        if kind == REQUEST_STARTED:
            if data.get("endpoint", "messages") != "messages":
                return None
            record = RequestRecord(
                request_id=event.request_id,
                started=event.time,
                requested=str(data.get("requested", "")),
                model=str(data.get("model", "")),
                provider=str(data.get("provider", "")),
                tier=str(data.get("tier", "")),
                reason=str(data.get("reason") or ""),
                session_id=data.get("session_id"),
                stream=bool(data.get("stream")),
                body=data.get("body"),
            )
            self.records[event.request_id] = record
            if len(self.records) > self.limit:
                for _ in range(min(self.evict_batch, len(self.records) - 1)):
                    old_id, _ = self.records.popitem(last=False)
                    self.evicted.append(old_id)
            return record
        found = self.records.get(event.request_id)
        if found is None:
            return None
        record = found
        if kind == TEXT_DELTA:
            record.chunks.append(data.get("text", ""))
        elif kind == FIRST_TOKEN:
            record.ttft = event.time - record.started
        elif kind == REQUEST_FINISHED:
            record.status = OK
            record.http_status = 200
            record.latency = data.get("latency")
            record.ttft = data.get("ttft", record.ttft)
            record.input_tokens = data.get("input_tokens")
            record.output_tokens = data.get("output_tokens")
            record.cost = data.get("cost")
            record.stop_reason = data.get("stop_reason")
            record.message = data.get("message")
            record.upstream_request = data.get("upstream_request")
            record.tool_repairs = list(data.get("tool_repairs") or ())
        elif kind == REQUEST_FAILED:
            record.status = ERROR
            record.http_status = data.get("status")
            record.error_type = data.get("error_type")
            record.error = data.get("message")
            record.latency = data.get("latency")
            record.upstream_request = data.get("upstream_request")
        return record
