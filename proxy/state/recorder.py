"""The bus -> store link: one record per request, queued for the store's writer thread.

`Recorder` listens without text deltas: it keeps the start event of each request in flight and,
when it finishes or fails, builds one plain dict and hands it to `StoreWriter.submit_request`
(a queue put). Masking, JSON and SQLite all happen on the writer's thread, never on the loop.
`Recording` owns the writer, the reader and the subscription for the service.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from proxy.core.settings import Settings
from proxy.state.events import (
    LIFECYCLE,
    REQUEST_FAILED,
    REQUEST_FINISHED,
    REQUEST_STARTED,
    EventBus,
    ProxyEvent,
)
from proxy.state.ledger import Started
from proxy.store import db
from proxy.store.reader import StoreReader
from proxy.store.records import Redact, RequestRecord
from proxy.store.retention import RetentionPolicy
from proxy.store.writer import StoreWriter

log = logging.getLogger(__name__)

T = TypeVar("T")
# A request that never ends (a bug elsewhere) must not grow this map for ever.
MAX_PENDING = 10_000
# How long a reader waits for the writer to commit what is queued (read-your-writes).
READ_FLUSH_TIMEOUT = 2.0
CLOSE_TIMEOUT = 3.0
MB = 1024 * 1024


class Recorder:
    """Bus subscriber: request_started + request_finished/failed -> one RequestRecord."""

    def __init__(self, submit: Callable[[RequestRecord], None], record_bodies: bool) -> None:
        self.submit = submit
        self.record_bodies = record_bodies
        self._pending: dict[str, tuple[float, dict[str, Any]]] = {}
        self.since = time.time()
        """When it started listening (requests that began earlier are not its to record)."""

    def on_event(self, event: ProxyEvent) -> None:
        """O(1) per request, nothing per chunk: a dict put at start, one record at the end."""
        kind = event.kind
        source = event.source
        if source is not None:
            # From an exchange: its ledger record is the start, nothing to hold meanwhile (a
            # request that started before recording did is not recorded, as before).
            if kind != REQUEST_STARTED and source.record.at >= self.since:
                self.submit(self._from_record(event, source.record, source.body))
            return
        if kind == REQUEST_STARTED:
            pending = self._pending
            if len(pending) >= MAX_PENDING:
                pending.pop(next(iter(pending)))
            pending[event.request_id] = (event.time, event.data)
        elif kind in (REQUEST_FINISHED, REQUEST_FAILED):
            started = self._pending.pop(event.request_id, None)
            if started is not None:
                self.submit(self._record(event, *started))

    def _from_record(self, event: ProxyEvent, start: Started, body: Any) -> RequestRecord:
        end = event.data
        record: RequestRecord = {
            "id": event.request_id,
            "started_at": start.at,
            "session_id": start.session_id,
            "client": start.client,
            "endpoint": start.endpoint or "messages",
            "requested_model": start.requested,
            "model": end.get("model") or start.model,
            "provider": end.get("provider") or start.provider,
            "preset": start.preset,
            "reason": start.reason,
            "stream": bool(start.stream),
            "ttft": end.get("ttft"),
            "duration": end.get("latency"),
            "origin": start.origin or "client",
        }
        self._end(record, event, end)
        if self.record_bodies:
            record["request_body"] = body
        return record

    def _record(self, event: ProxyEvent, at: float, start: dict[str, Any]) -> RequestRecord:
        end = event.data
        record: RequestRecord = {
            "id": event.request_id,
            "started_at": at,
            "session_id": start.get("session_id"),
            "client": start.get("client"),
            "endpoint": start.get("endpoint") or "messages",
            "requested_model": start.get("requested"),
            # A fallback may have served it: the end event names the model that did.
            "model": end.get("model") or start.get("model"),
            "provider": end.get("provider") or start.get("provider"),
            "preset": start.get("preset"),
            "reason": start.get("reason"),
            "stream": bool(start.get("stream")),
            "ttft": end.get("ttft"),
            "duration": end.get("latency"),
            "origin": start.get("origin") or "client",
        }
        self._end(record, event, end)
        if self.record_bodies:
            record["request_body"] = start.get("body")
        return record

    def _end(self, record: RequestRecord, event: ProxyEvent, end: dict[str, Any]) -> None:
        # The outcome's fields, from the finished or failed event.
        if event.kind == REQUEST_FINISHED:
            message = end.get("message") or {}
            record["status"] = 200
            record["input_tokens"] = end.get("input_tokens") or 0
            record["output_tokens"] = end.get("output_tokens") or 0
            record["cache_read_tokens"] = end.get("cache_read_tokens") or 0
            record["cache_write_tokens"] = end.get("cache_write_tokens") or 0
            record["cost"] = end.get("cost") or 0.0
            record["stop_reason"] = end.get("stop_reason")
            # The content blocks as they are: the writer keeps the tool_use ones and parses them.
            record["tool_calls"] = message.get("content")
            if self.record_bodies:
                record["response_body"] = message
        else:
            record["status"] = end.get("status")
            record["error_type"] = end.get("error_type")
            # Masked on the writer's thread (StoreWriter.redact).
            record["error_message"] = end.get("message")


def store_path(settings: Settings, environ: Mapping[str, str] | None = None) -> Path:
    """The store file: `claude-proxy.db` in DATA_DIR (else `$XDG_DATA_HOME/claude-proxy`)."""
    return db.default_path(environ, settings.data_dir)


def retention_policy(settings: Settings) -> RetentionPolicy:
    """RETENTION_DAYS and STORE_MAX_MB as the writer's policy (0 means no limit)."""
    return RetentionPolicy(
        days=float(settings.retention_days) or None,
        max_bytes=settings.store_max_mb * MB or None,
    )


class Recording:
    """The service's store: one writer, one reader, the recorder on the bus; or off."""

    def __init__(self, settings: Settings, path: Path, bus: EventBus, redact: Redact) -> None:
        self.settings = settings
        self.path = path
        self.bus = bus
        self.redact = redact
        self.writer: StoreWriter | None = None
        self.reader: StoreReader | None = None
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def enabled(self) -> bool:
        """True while the store is open (STORE_ENABLED and started)."""
        return self.writer is not None

    def start(self) -> None:
        """Open the store and subscribe; never blocks (the writer opens the file on its thread).

        A file that cannot be opened (read-only folder, full disk) pauses recording, with the
        reason in `status()`; the proxy serves on.
        """
        if self.writer is not None or not self.settings.store_enabled:
            return
        writer = StoreWriter(self.path, policy=retention_policy(self.settings), redact=self.redact)
        self.writer, self.reader = writer, StoreReader(self.path)
        recorder = Recorder(writer.submit_request, self.settings.record_bodies)
        self._unsubscribe = self.bus.subscribe(recorder.on_event, kinds=LIFECYCLE)

    async def stop(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Unsubscribe, write what is queued (at most `timeout` s), close the file."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        writer, reader = self.writer, self.reader
        self.writer = self.reader = None
        if writer is not None and not await asyncio.to_thread(writer.close, timeout):
            log.warning("store: closed with records not yet written (%s)", writer.status())
        if reader is not None:
            await asyncio.to_thread(reader.close)  # may wait for interrupted queries

    def status(self) -> dict[str, Any]:
        """Whether requests are recorded: `state` is recording, paused (with a reason) or off."""
        writer = self.writer
        if writer is None:
            reason = "STORE_ENABLED is off" if not self.settings.store_enabled else "not started"
            return {"state": "off", "reason": reason, "message": None, "path": str(self.path)}
        status = writer.status()
        state, _, reason = status["state"].partition(": ")
        return {
            "state": state,
            "reason": reason or None,
            "message": status["last_error"] if state == "paused" else None,
            "path": status["path"],
            "backlog": status["backlog"],
            "rows_written": status["rows_written"],
            "dropped": status["dropped"],
        }

    async def read(self, query: Callable[..., T], *args: Any) -> T:
        """Run a query from `proxy.store.queries` in a worker thread, after the writer has
        committed what was queued before (so a number read here includes every request that
        ended before the call). Raises StoreError when the store is off or unreadable."""
        writer, reader = self.writer, self.reader
        if writer is None or reader is None:
            raise db.StoreError(
                f"recording is off ({self.status()['reason']})", "missing", self.path
            )

        def run() -> T:
            if not writer.paused:
                writer.flush(READ_FLUSH_TIMEOUT)
            try:
                return reader.call(query, *args)
            except db.StoreError as exc:
                if not writer.paused:
                    raise
                # Say why first: the pause (read-only folder, full disk) is the cause to fix.
                raise db.StoreError(
                    f"recording is paused: {writer.last_error}", exc.kind, self.path
                ) from exc

        return await asyncio.to_thread(run)
