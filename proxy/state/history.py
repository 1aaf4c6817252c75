"""Conversation history, the live path: each user turn and answer recorded once.

Every turn goes to the store (`TurnSink`, the store's writer) keyed so that Claude Code's resends
and restarts never duplicate it; memory keeps only the newest `limit` turns (the window), which
serve when recording is off and feed the optional JSON export file kept up to date.
`proxy/state/history_store.py` answers the reads from the store.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from proxy.core.atomic import atomic_write_bytes, remove_stale_temps
from proxy.core.errors import ProxyError
from proxy.core.paths import read_capped
from proxy.core.redact import Redactor, SecretSource
from proxy.state import turns
from proxy.state.events import REQUEST_FAILED, REQUEST_FINISHED, REQUEST_STARTED, ProxyEvent
from proxy.store.records import TurnRecord

log = logging.getLogger(__name__)

EXPORT_VERSION = 1
# A burst of finished turns (subagents in parallel) becomes one write.
SAVE_DELAY = 0.05
MAX_PENDING = 1000
MAX_FILE_BYTES = 64 * 1024 * 1024
FIELDS = ("timestamp", "role", "content", "model_used", "request_id", "session_id")


class TurnSink(Protocol):
    """Where turns are kept for good (the store's writer): both calls queue, never block."""

    def submit_turn(self, turn: TurnRecord) -> None:
        """Queue one turn (a second turn with the same key is ignored)."""

    def submit_clear_turns(self, session: str | None = None) -> None:
        """Queue the deletion of every turn submitted before."""


class HistoryFileError(Exception):
    """A history file or import that is not a valid export; the message says what is wrong."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _timestamp(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="milliseconds")


def validate_export(data: Any, source: str = "import") -> list[dict[str, Any]]:
    """The messages of an exported history, checked field by field (HistoryFileError if bad)."""
    if not isinstance(data, dict):
        raise HistoryFileError(f"{source}: expected a JSON object with `messages`")
    messages = data.get("messages")
    if not isinstance(messages, list):
        raise HistoryFileError(f"{source}: `messages` must be a list")
    clean: list[dict[str, Any]] = []
    for i, item in enumerate(messages):
        where = f"{source}: messages[{i}]"
        if not isinstance(item, dict):
            raise HistoryFileError(f"{where}: must be an object")
        if item.get("role") not in turns.ROLES:
            raise HistoryFileError(f"{where}.role: must be 'user' or 'assistant'")
        for key in ("content", "timestamp"):
            if not isinstance(item.get(key), str):
                raise HistoryFileError(f"{where}.{key}: must be a string")
        for key in ("model_used", "request_id", "session_id"):
            if item.get(key) is not None and not isinstance(item.get(key), str):
                raise HistoryFileError(f"{where}.{key}: must be a string or null")
        clean.append({key: item.get(key) for key in FIELDS})
    return clean


def read_history_file(path: Path, limit: int = MAX_FILE_BYTES) -> list[dict[str, Any]]:
    """The validated records of a persisted history (none when the file is missing).

    Temp files left by a writer that was killed mid-write are removed first. Only a regular
    file of at most `limit` bytes is read, never through a symlink.
    """
    remove_stale_temps(path)
    try:
        raw = read_capped(path, limit)
    except FileNotFoundError:
        return []
    except ProxyError as exc:
        raise HistoryFileError(exc.message, exc.status) from None
    except OSError as exc:
        raise HistoryFileError(f"{path}: cannot read: {exc}") from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise HistoryFileError(f"{path}: not valid JSON: {exc}") from None
    return validate_export(data, str(path))


class ConversationHistory:
    """The turns of finished requests, fed by the bus: to the store, and the newest `limit` here."""

    def __init__(
        self,
        limit: int,
        secrets: SecretSource | Iterable[str | None] = (),
        max_file_bytes: int = MAX_FILE_BYTES,
    ) -> None:
        self.limit = limit
        self.max_file_bytes = max_file_bytes
        # A configured key pasted into a prompt must not come back out of /conversation.
        self._redact = Redactor(secrets).exact
        self._messages: deque[dict[str, Any]] = deque(maxlen=limit)
        # request id -> (body, session) from request_started, until the request ends.
        self._pending: dict[str, tuple[dict[str, Any], str | None]] = {}
        # Turn keys already recorded; bounded so a long-running proxy does not grow forever.
        self._seen: OrderedDict[str, None] = OrderedDict()
        self.store: TurnSink | None = None
        """The store's writer while recording (set and cleared by HistoryStore)."""
        self.file: Path | None = None
        self.hold: Callable[[], bool] | None = None
        """While it returns True the file is not rewritten (its turns are not in the store yet)."""
        self.last_error: str | None = None
        self._dirty = False
        self._save_task: asyncio.Task[None] | None = None
        self._write_lock: asyncio.Lock | None = None

    # -- events -------------------------------------------------------------------------------

    def on_event(self, event: ProxyEvent) -> None:
        """Bus subscriber: remember bodies at start, record the turn when the answer is complete."""
        kind = event.kind
        if kind == REQUEST_STARTED:
            data = event.data
            # The TUI's config-test probes and replays are not part of any conversation.
            own = data.get("origin", "client") != "client"
            if own or data.get("endpoint", "messages") != "messages":
                return
            if len(self._pending) >= MAX_PENDING:
                self._pending.pop(next(iter(self._pending)))
            self._pending[event.request_id] = (data.get("body") or {}, data.get("session_id"))
        elif kind == REQUEST_FINISHED:
            pending = self._pending.pop(event.request_id, None)
            if pending is not None:
                body, session = pending
                self.record_turn(body, event.data, session, event.request_id, event.time)
        elif kind == REQUEST_FAILED:
            self._pending.pop(event.request_id, None)

    def record_turn(
        self,
        body: dict[str, Any],
        data: dict[str, Any],
        session: str | None,
        request_id: str,
        when: float,
    ) -> None:
        """Record a finished request's newest user turn and its answer (once each)."""
        newest = turns.newest_user_turn(body)
        if newest is None:
            return
        key, text = newest
        key = f"{session}:{key}"
        seen = self._seen
        answer_key = key + ":answer"
        if key in seen and answer_key in seen:
            # A resend of a turn already recorded with its answer: only remembered again.
            seen.move_to_end(key)
            return
        model = data.get("model")
        # Milliseconds, as an export writes them: an exported turn imported again is found.
        when = round(when, 3)
        added = False
        if key not in seen and text:
            self._append("user", text, model, request_id, session, when, key)
            added = True
        # A retried request (same turn again) must not record its answer twice.
        if answer_key not in seen:
            message = data.get("message") or {}
            answer = turns.summarise(message.get("content"))
            if answer:
                self._append("assistant", answer, model, request_id, session, when, answer_key)
                self._remember(answer_key)
                added = True
        self._remember(key)
        if added:
            self._changed()

    def _remember(self, key: str) -> None:
        seen = self._seen
        seen[key] = None
        seen.move_to_end(key)
        if len(seen) > 4 * self.limit + 100:
            while len(seen) > 4 * self.limit + 100:
                seen.popitem(last=False)

    def _append(
        self,
        role: str,
        content: str,
        model: str | None,
        request_id: str | None,
        session: str | None,
        when: float,
        key: str,
    ) -> None:
        content = self._redact(content)
        self._messages.append(
            {
                "timestamp": _timestamp(when),
                "role": role,
                "content": content,
                "model_used": model,
                "request_id": request_id,
                "session_id": session,
            }
        )
        if self.store is not None:
            # The store's key outlives this process: a resend after a restart is not a new turn.
            self.store.submit_turn(
                {
                    "at": when,
                    "session_id": session,
                    "request_id": request_id,
                    "role": role,
                    "content": content,
                    "model": model,
                    "key": key,
                }
            )

    # -- reading ------------------------------------------------------------------------------

    def messages(
        self, limit: int | None = None, session: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest `limit` records (all when None), oldest first, optionally of one session."""
        items = list(self._messages)
        if session is not None:
            items = [m for m in items if m["session_id"] == session]
        if limit is not None:
            items = items[-limit:] if limit > 0 else []
        return [dict(m) for m in items]

    def sessions(self) -> list[str]:
        """Session ids in order of first appearance."""
        seen: dict[str, None] = {}
        for m in self._messages:
            if m["session_id"]:
                seen.setdefault(m["session_id"], None)
        return list(seen)

    def __len__(self) -> int:
        return len(self._messages)

    def status(self) -> dict[str, Any]:
        """Count, limit and persistence state."""
        return {
            "count": len(self._messages),
            "limit": self.limit,
            "enabled": self.file is not None,
            "persistence_file": str(self.file) if self.file else None,
            "sessions": len(self.sessions()),
            "last_error": self.last_error,
        }

    # -- changing -----------------------------------------------------------------------------

    def clear(self) -> None:
        """Forget every turn, here and in the store (turns already seen stay seen)."""
        self._messages.clear()
        if self.store is not None:
            self.store.submit_clear_turns()
        self._changed()

    def add_records(self, records: list[dict[str, Any]], prepend: bool = False) -> int:
        """Add validated records, skipping exact duplicates; returns how many were added."""
        present = {self._identity(m) for m in self._messages}
        fresh = [r for r in records if self._identity(r) not in present]
        # Exact duplicates inside one import collapse too.
        unique = list({self._identity(r): r for r in fresh}.values())
        merged = [*unique, *self._messages] if prepend else [*self._messages, *unique]
        self._messages = deque(({k: r.get(k) for k in FIELDS} for r in merged), maxlen=self.limit)
        if unique:
            self._changed()
        return len(unique)

    @staticmethod
    def _identity(record: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(record.get(k) for k in FIELDS)

    def export(self) -> dict[str, Any]:
        """The turns held in memory as the JSON export (also the export file's content)."""
        return export_document(list(self._messages))

    # -- persistence --------------------------------------------------------------------------

    def load_file(self, path: Path) -> int:
        """Read a persisted history into memory (before what is there); a missing file is empty."""
        return self.add_records(read_history_file(path, self.max_file_bytes), prepend=True)

    def attach(self, path: Path, records: list[dict[str, Any]] | None = None) -> int:
        """Persist to `path` from now on, after merging what it holds (`records`: already read)."""
        loaded = self.add_records(
            read_history_file(path, self.max_file_bytes) if records is None else records,
            prepend=True,
        )
        self.file = path
        self.last_error = None
        # Written at the next save even when nothing was added (the file may not exist yet).
        self._dirty = True
        return loaded

    def detach(self) -> None:
        """Stop persisting (the file is left as it is)."""
        self.file = None

    def _changed(self) -> None:
        if self.file is None:
            return
        self._dirty = True
        if self._save_task is not None and not self._save_task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.write_now()
            return
        self._save_task = loop.create_task(self._save_later())

    async def _save_later(self) -> None:
        await asyncio.sleep(SAVE_DELAY)
        await self.save()

    async def save(self) -> None:
        """Write the file now if anything changed (serialised on the loop, written in a thread)."""
        if self._write_lock is None:
            self._write_lock = asyncio.Lock()
        # One writer at a time, or an older snapshot could be renamed over a newer one.
        async with self._write_lock:
            if self.hold is not None and self.hold():
                return  # still dirty: written at the next change, or at shutdown
            while self._dirty and self.file is not None:
                self._dirty = False
                path = self.file
                try:
                    data = orjson.dumps(self.export(), option=orjson.OPT_INDENT_2)
                    await asyncio.to_thread(atomic_write_bytes, path, data)
                except Exception as exc:
                    # Never silent: the status, the TUI's history view and the log show it.
                    self._failed(path, exc)
                    return
                self.last_error = None

    def _failed(self, path: Path, exc: Exception) -> None:
        self.last_error = f"cannot write {path}: {exc}"
        log.error("conversation history: %s", self.last_error)

    def write_now(self) -> None:
        """Synchronous write (no loop running, e.g. at start-up); a failure is reported."""
        if self.file is not None:
            self._dirty = False
            try:
                data = orjson.dumps(self.export(), option=orjson.OPT_INDENT_2)
                atomic_write_bytes(self.file, data)
            except Exception as exc:
                self._failed(self.file, exc)
                return
            self.last_error = None

    async def flush(self) -> None:
        """Wait for a pending save and write anything still unsaved (at shutdown)."""
        task = self._save_task
        if task is not None and not task.done() and task is not asyncio.current_task():
            await task
        await self.save()


def export_document(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON export of some turns (the format `/conversation/import` reads back)."""
    return {
        "version": EXPORT_VERSION,
        "exported_at": _timestamp(datetime.now(UTC).timestamp()),
        "total_count": len(messages),
        "messages": [{key: m.get(key) for key in FIELDS} for m in messages],
    }


def to_markdown(records: list[dict[str, Any]]) -> str:
    """The history as Markdown: one heading per message with its time, model and session."""
    lines = ["# Conversation history", "", f"{len(records)} messages", ""]
    for record in records:
        meta = [record.get("timestamp") or ""]
        if record.get("model_used"):
            meta.append(f"model `{record['model_used']}`")
        if record.get("session_id"):
            meta.append(f"session `{record['session_id']}`")
        lines += [
            f"## {record['role']}",
            "",
            "_" + " · ".join(meta) + "_",
            "",
            record["content"],
            "",
        ]
    return "\n".join(lines)
