"""The debug log: a bounded ring of structured entries built from bus events, keys masked.

Entries from the bus are kept as their parts (the strings the bus has already masked, a float
time) and turned into what readers see (ISO time, key-shaped strings masked too) on first read:
a request pays for three small tuples, and only /debug_logs and the Debug view pay for the rest.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from proxy.core.redact import Redactor, SecretSource
from proxy.state.events import (
    MODEL_SWITCHED,
    REQUEST_FAILED,
    REQUEST_FINISHED,
    REQUEST_STARTED,
    ProxyEvent,
)

if TYPE_CHECKING:
    from proxy.state.ledger import Started

LOG_TYPES = ("request", "response", "model_mapping", "tool_repair", "error", "switch")
MAX_PENDING = 1000


def _pair(pair: Any) -> dict[str, Any]:
    if pair is None:
        return {}
    if isinstance(pair, dict):
        return dict(pair)
    return {"big": pair.big, "small": pair.small, "preset": pair.preset}


Render = Callable[[tuple[Any, ...]], tuple[str, dict[str, Any]]]


class _Entry:
    """One entry: its parts until first read, then the dict readers get (kept for next reads).

    `parts` is (summary, details), or, with `render`, the values `render` makes them from.
    """

    __slots__ = ("id", "parts", "render", "request_id", "shown", "type", "when")

    def __init__(
        self,
        entry_id: int,
        when: float,
        log_type: str,
        request_id: str,
        parts: tuple[Any, ...],
        render: Render | None = None,
    ) -> None:
        self.id = entry_id
        self.when = when
        self.type = log_type
        self.request_id = request_id
        self.parts = parts
        self.render = render
        self.shown: dict[str, Any] | None = None


class DebugLog:
    """The newest `limit` entries; each is {id, time, type, request_id, summary, details}."""

    def __init__(self, limit: int, secrets: SecretSource | Iterable[str | None] = ()) -> None:
        self.limit = limit
        self._entries: deque[Any] = deque(maxlen=limit)
        """`_Entry`s, and requests' packed items not yet read (`_unpack` makes them entries)."""
        self._next_id = 1
        self.redact = Redactor(secrets)
        # request id -> the request's notes list (filled while it runs; shown with the outcome).
        self._notes: dict[str, list[str]] = {}

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {k: self._clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(v) for v in value]
        return value

    def add(
        self,
        log_type: str,
        summary: str,
        details: dict[str, Any] | None = None,
        request_id: str = "",
        when: float | None = None,
    ) -> None:
        """Append one entry (masked now: text from outside the bus, never stored unmasked)."""
        parts = (self.redact(summary), self._clean(details or {}))
        entry_id = self._next_id
        self._next_id = entry_id + 1
        self._entries.append(_Entry(entry_id, when or time.time(), log_type, request_id, parts))

    def _keep(
        self, log_type: str, request_id: str, when: float, render: Render, values: tuple[Any, ...]
    ) -> None:
        # From the bus: its strings are masked already (configured keys); the summary and
        # details are made, key-shaped text masked and the time formatted on first read.
        entry_id = self._next_id
        self._next_id = entry_id + 1
        self._entries.append(
            _Entry(entry_id, when or time.time(), log_type, request_id, values, render)
        )

    # -- from the request ledger: one packed item per event, entries made when read -----------

    def request_started(self, request_id: str, record: Started) -> None:
        """The request and model_mapping entries of a starting request, kept as its record."""
        first = self._next_id
        self._next_id = first + 2
        self._entries.append((first, request_id, record))

    def request_finished(self, event: ProxyEvent, record: Started, repairs: Any) -> None:
        """The tool_repair entries (if any) and the response entry of a finished request."""
        if repairs:
            self._repairs(event)
        notes = record.notes
        values = (*_RESPONSE_VALUES(event.data), notes.copy() if notes else [])
        entry_id = self._next_id
        self._next_id = entry_id + 1
        self._entries.append((entry_id, event.request_id, "response", event.time, values))

    def request_failed(self, event: ProxyEvent, record: Started) -> None:
        """The error entry of a failed request."""
        notes = record.notes
        values = (*_ERROR_VALUES(event.data), notes.copy() if notes else [])
        entry_id = self._next_id
        self._next_id = entry_id + 1
        self._entries.append((entry_id, event.request_id, "error", event.time, values))

    def _unpack(self) -> None:
        # Items in id order, each one entry or more: the newest `limit` items hold the newest
        # `limit` entries, which the bounded deque keeps once they are made. Read rarely: a scan.
        if all(item.__class__ is _Entry for item in self._entries):
            return
        entries: list[_Entry] = []
        add = entries.append
        for item in self._entries:
            if item.__class__ is not tuple:
                add(item)
            elif len(item) == 3:
                first, request_id, record = item
                parts = (record,)
                add(_Entry(first, record.at, "request", request_id, parts, _request_of))
                add(_Entry(first + 1, record.at, "model_mapping", request_id, parts, _mapping_of))
            else:
                entry_id, request_id, log_type, when, values = item
                render = _response if log_type == "response" else _error
                add(_Entry(entry_id, when, log_type, request_id, values, render))
        self._entries = deque(entries, maxlen=self.limit)

    def _shown(self, entry: _Entry) -> dict[str, Any]:
        if entry.shown is None:
            summary, details = entry.render(entry.parts) if entry.render else entry.parts
            entry.shown = {
                "id": entry.id,
                "time": datetime.fromtimestamp(entry.when, UTC).isoformat(timespec="milliseconds"),
                "type": entry.type,
                "request_id": entry.request_id,
                "summary": self.redact(summary),
                "details": self._clean(details),
            }
        return entry.shown

    def entries(self, log_type: str = "all", limit: int = 100) -> list[dict[str, Any]]:
        """The newest `limit` entries of a type (or all), oldest first; ValueError on a bad type."""
        if log_type != "all" and log_type not in LOG_TYPES:
            raise ValueError(f"unknown log_type {log_type!r}; valid: all, {', '.join(LOG_TYPES)}")
        if limit <= 0:
            return []
        self._unpack()
        items = [e for e in self._entries if log_type == "all" or e.type == log_type]
        return [self._shown(e) for e in items[-limit:]]

    def clear(self) -> None:
        """Drop every entry."""
        self._entries.clear()

    def __len__(self) -> int:
        self._unpack()
        return len(self._entries)

    def on_event(self, event: ProxyEvent) -> None:
        """Bus subscriber; ignores per-chunk events at the cost of one comparison."""
        handler = _HANDLERS.get(event.kind)
        if handler is not None:
            handler(self, event)

    def _started(self, event: ProxyEvent) -> None:
        d = event.data
        rid = event.request_id
        if len(self._notes) >= MAX_PENDING:
            self._notes.pop(next(iter(self._notes)))
        notes = d.get("notes")
        self._notes[rid] = notes if isinstance(notes, list) else []
        body = d.get("body") or {}
        messages = body.get("messages") if isinstance(body, dict) else None
        tools = body.get("tools") if isinstance(body, dict) else None
        try:
            # Exchange.begin's events carry every field: read them in one C call.
            endpoint, requested, stream, session_id = _STARTED_HEAD(d)
            mapping = _MAPPING_VALUES(d)
        except KeyError:
            endpoint, requested, stream, session_id = (
                d.get("endpoint"),
                d.get("requested"),
                d.get("stream"),
                d.get("session_id"),
            )
            mapping = tuple(d.get(k) for k in MAPPING_FIELDS)
        values = (
            d.get("endpoint", "messages"),
            endpoint,
            requested,
            stream,
            session_id,
            len(messages) if isinstance(messages, list) else 0,
            len(tools) if isinstance(tools, list) else 0,
            body.get("max_tokens") if isinstance(body, dict) else None,
            *mapping,
        )
        self._keep("request", rid, event.time, _request, values)
        self._keep("model_mapping", rid, event.time, _mapping, values)

    def _finished(self, event: ProxyEvent) -> None:
        d = event.data
        notes = list(self._notes.pop(event.request_id, []))
        if d.get("tool_repairs"):
            self._repairs(event)
        try:
            values = (*_RESPONSE_VALUES(d), notes)
        except KeyError:
            values = (*(d.get(k) for k in RESPONSE_FIELDS), notes)
        self._keep("response", event.request_id, event.time, _response, values)

    def _repairs(self, event: ProxyEvent) -> None:
        """One tool_repair entry per tool call the proxy recovered, repaired or refused."""
        model = event.data.get("model")
        for record in event.data.get("tool_repairs") or ():
            kinds = ", ".join(record.get("kinds") or ())
            outcome = "repaired" if record.get("ok") else "FAILED"
            self.add(
                "tool_repair",
                f"{model}: {record.get('tool')} ({record.get('format')}) {outcome}: {kinds}",
                {"model": model, **record},
                event.request_id,
                event.time,
            )

    def _failed(self, event: ProxyEvent) -> None:
        d = event.data
        notes = list(self._notes.pop(event.request_id, []))
        values = (*(d.get(k) for k in ERROR_FIELDS), notes)
        self._keep("error", event.request_id, event.time, _error, values)

    def _switched(self, event: ProxyEvent) -> None:
        old, new = _pair(event.data.get("old")), _pair(event.data.get("new"))
        preset = f" (preset {new.get('preset')})" if new.get("preset") else ""
        self.add(
            "switch",
            f"big {old.get('big')} -> {new.get('big')}, small {old.get('small')} -> "
            f"{new.get('small')}{preset}",
            {
                "old": old,
                "new": new,
                "preserve_conversation": event.data.get("preserve_conversation"),
            },
            "",
            event.time,
        )


MAPPING_FIELDS = ("requested", "model", "provider", "transport", "tier", "reason")
RESPONSE_FIELDS = (
    "model",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cost",
    "latency",
    "ttft",
    "stop_reason",
)
ERROR_FIELDS = ("model", "status", "error_type", "message", "latency")
_STARTED_HEAD = itemgetter("endpoint", "requested", "stream", "session_id")
_MAPPING_VALUES = itemgetter(*MAPPING_FIELDS)
_RESPONSE_VALUES = itemgetter(*RESPONSE_FIELDS)
_ERROR_VALUES = itemgetter(*ERROR_FIELDS)


def _request(v: tuple[Any, ...]) -> tuple[str, dict[str, Any]]:
    named, endpoint, requested, stream, session_id, n_messages, n_tools, max_tokens = v[:8]
    mode = "stream" if stream else "no stream"
    summary = f"{named} {requested} ({mode}, {n_messages} messages, {n_tools} tools)"
    details = {
        "endpoint": endpoint,
        "requested": requested,
        "stream": stream,
        "session_id": session_id,
        "messages": n_messages,
        "tools": n_tools,
        "max_tokens": max_tokens,
    }
    return summary, details


def _request_of(v: tuple[Any, ...]) -> tuple[str, dict[str, Any]]:
    record: Started = v[0]
    return _request(
        (
            record.endpoint,
            record.endpoint,
            record.requested,
            record.stream,
            record.session_id,
            record.messages,
            record.tools,
            record.max_tokens,
        )
    )


def _mapping_of(v: tuple[Any, ...]) -> tuple[str, dict[str, Any]]:
    record: Started = v[0]
    values = (record.requested, record.model, record.provider, record.transport, record.tier)
    return _mapping_shown(dict(zip(MAPPING_FIELDS, (*values, record.reason), strict=True)))


def _mapping(v: tuple[Any, ...]) -> tuple[str, dict[str, Any]]:
    return _mapping_shown(dict(zip(MAPPING_FIELDS, v[8:], strict=True)))


def _mapping_shown(details: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    d = details.get
    summary = f"{d('requested')} -> {d('model')} ({d('reason') or d('tier')}, {d('transport')})"
    return summary, details


def _response(v: tuple[Any, ...]) -> tuple[str, dict[str, Any]]:
    details = dict(zip(RESPONSE_FIELDS, v[:-1], strict=True))
    details["notes"] = v[-1]
    d = details.get
    summary = (
        f"{d('model')}: {d('input_tokens')} in / {d('output_tokens')} out tokens, "
        f"{d('latency') or 0.0:.2f} s, {d('stop_reason')}"
    )
    return summary, details


def _error(v: tuple[Any, ...]) -> tuple[str, dict[str, Any]]:
    details = dict(zip(ERROR_FIELDS, v[:-1], strict=True))
    details["notes"] = v[-1]
    d = details.get
    return f"{d('status')} {d('error_type')}: {d('message')}", details


_HANDLERS = {
    REQUEST_STARTED: DebugLog._started,
    REQUEST_FINISHED: DebugLog._finished,
    REQUEST_FAILED: DebugLog._failed,
    MODEL_SWITCHED: DebugLog._switched,
}
