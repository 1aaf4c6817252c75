"""The debug log: a bounded ring of structured entries built from bus events, keys masked.

Entries from the bus are kept as their parts (the strings the bus has already masked, a float
time) and turned into what readers see (ISO time, key-shaped strings masked too) on first read:
a request pays for three small tuples, and only /debug_logs and the Debug view pay for the rest.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from proxy.core.redact import Redactor, SecretSource
from proxy.state.events import (
    MODEL_SWITCHED,
    REQUEST_FAILED,
    REQUEST_FINISHED,
    REQUEST_STARTED,
    ProxyEvent,
)

LOG_TYPES = ("request", "response", "model_mapping", "error", "switch")
MAX_PENDING = 1000


def _pair(pair: Any) -> dict[str, Any]:
    if pair is None:
        return {}
    if isinstance(pair, dict):
        return dict(pair)
    return {"big": pair.big, "small": pair.small, "preset": pair.preset}


class _Entry:
    """One entry: its parts until first read, then the dict readers get (kept for next reads)."""

    __slots__ = ("details", "id", "request_id", "shown", "summary", "type", "when")

    def __init__(
        self,
        entry_id: int,
        when: float,
        log_type: str,
        request_id: str,
        summary: str,
        details: dict[str, Any],
    ) -> None:
        self.id = entry_id
        self.when = when
        self.type = log_type
        self.request_id = request_id
        self.summary = summary
        self.details = details
        self.shown: dict[str, Any] | None = None


class DebugLog:
    """The newest `limit` entries; each is {id, time, type, request_id, summary, details}."""

    def __init__(self, limit: int, secrets: SecretSource | Iterable[str | None] = ()) -> None:
        self.limit = limit
        self._entries: deque[_Entry] = deque(maxlen=limit)
        self._ids = itertools.count(1)
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
        self._keep(log_type, self.redact(summary), self._clean(details or {}), request_id, when)

    def _keep(
        self,
        log_type: str,
        summary: str,
        details: dict[str, Any],
        request_id: str,
        when: float | None,
    ) -> None:
        # The bus masked the configured keys in every string of its events; key-shaped text is
        # masked when the entry is first read (`_shown`), like the time is formatted then.
        entry_id = next(self._ids)
        self._entries.append(
            _Entry(entry_id, when or time.time(), log_type, request_id, summary, details)
        )

    def _shown(self, entry: _Entry) -> dict[str, Any]:
        if entry.shown is None:
            entry.shown = {
                "id": entry.id,
                "time": datetime.fromtimestamp(entry.when, UTC).isoformat(timespec="milliseconds"),
                "type": entry.type,
                "request_id": entry.request_id,
                "summary": self.redact(entry.summary),
                "details": self._clean(entry.details),
            }
        return entry.shown

    def entries(self, log_type: str = "all", limit: int = 100) -> list[dict[str, Any]]:
        """The newest `limit` entries of a type (or all), oldest first; ValueError on a bad type."""
        if log_type != "all" and log_type not in LOG_TYPES:
            raise ValueError(f"unknown log_type {log_type!r}; valid: all, {', '.join(LOG_TYPES)}")
        if limit <= 0:
            return []
        items = [e for e in self._entries if log_type == "all" or e.type == log_type]
        return [self._shown(e) for e in items[-limit:]]

    def clear(self) -> None:
        """Drop every entry."""
        self._entries.clear()

    def __len__(self) -> int:
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
        n_messages = len(messages) if isinstance(messages, list) else 0
        n_tools = len(tools) if isinstance(tools, list) else 0
        mode = "stream" if d.get("stream") else "no stream"
        self._keep(
            "request",
            f"{d.get('endpoint', 'messages')} {d.get('requested')} ({mode}, "
            f"{n_messages} messages, {n_tools} tools)",
            {
                "endpoint": d.get("endpoint"),
                "requested": d.get("requested"),
                "stream": d.get("stream"),
                "session_id": d.get("session_id"),
                "messages": n_messages,
                "tools": n_tools,
                "max_tokens": body.get("max_tokens") if isinstance(body, dict) else None,
            },
            rid,
            event.time,
        )
        self._keep(
            "model_mapping",
            f"{d.get('requested')} -> {d.get('model')} ({d.get('reason') or d.get('tier')}, "
            f"{d.get('transport')})",
            {
                k: d.get(k)
                for k in ("requested", "model", "provider", "transport", "tier", "reason")
            },
            rid,
            event.time,
        )

    def _finished(self, event: ProxyEvent) -> None:
        d = event.data
        notes = list(self._notes.pop(event.request_id, []))
        latency = d.get("latency") or 0.0
        self._keep(
            "response",
            f"{d.get('model')}: {d.get('input_tokens')} in / {d.get('output_tokens')} out tokens, "
            f"{latency:.2f} s, {d.get('stop_reason')}",
            {
                k: d.get(k)
                for k in (
                    "model",
                    "input_tokens",
                    "output_tokens",
                    "cache_read_tokens",
                    "cost",
                    "latency",
                    "ttft",
                    "stop_reason",
                )
            }
            | {"notes": notes},
            event.request_id,
            event.time,
        )

    def _failed(self, event: ProxyEvent) -> None:
        d = event.data
        notes = list(self._notes.pop(event.request_id, []))
        self._keep(
            "error",
            f"{d.get('status')} {d.get('error_type')}: {d.get('message')}",
            {k: d.get(k) for k in ("model", "status", "error_type", "message", "latency")}
            | {"notes": notes},
            event.request_id,
            event.time,
        )

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


_HANDLERS = {
    REQUEST_STARTED: DebugLog._started,
    REQUEST_FINISHED: DebugLog._finished,
    REQUEST_FAILED: DebugLog._failed,
    MODEL_SWITCHED: DebugLog._switched,
}
