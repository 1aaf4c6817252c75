"""History reads and changes over the store, with the turns held in memory as the fallback.

Every `/conversation*` route and the TUI's History view come here. While recording, the store
answers (read in a worker thread after the writer committed what was queued); when recording is
off or the store cannot be read, the newest turns held in memory (`ConversationHistory`) do.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from proxy.state.history import (
    FIELDS,
    ConversationHistory,
    export_document,
    to_markdown,
)
from proxy.state.recorder import Recording
from proxy.store import queries
from proxy.store.db import StoreError
from proxy.store.records import TurnRecord, turn_from_export

log = logging.getLogger(__name__)

T = TypeVar("T")
# How long an import waits for the writer before answering with what memory took in.
IMPORT_TIMEOUT = 30.0
PAGE_LIMIT = 500
MEMORY_CURSOR = "mem:"


def _fields(turn: dict[str, Any]) -> dict[str, Any]:
    """A turn in the API's shape (the store adds `seq` and `at`)."""
    return {key: turn.get(key) for key in FIELDS}


def export_turns(records: list[dict[str, Any]], now: float | None = None) -> list[TurnRecord]:
    """Validated export messages as store turns; a timestamp that is not one keeps file order."""
    start = time.time() if now is None else now
    return [turn_from_export(item, start + i * 0.001) for i, item in enumerate(records)]


def _export_text(conn: Any, fmt: str) -> str:
    """The whole stored history as JSON or Markdown, on the reader's thread."""
    messages = [_fields(turn) for turn in queries.iter_turns(conn)]
    if fmt == "markdown":
        return to_markdown(messages)
    return orjson.dumps(export_document(messages), option=orjson.OPT_INDENT_2).decode()


def _status_numbers(conn: Any) -> tuple[int, int]:
    return queries.turn_count(conn), queries.session_count(conn)


class HistoryStore:
    """The conversation history as the API sees it: the store, or memory when it cannot be read."""

    def __init__(self, live: ConversationHistory, recording: Recording) -> None:
        self.live = live
        self.recording = recording
        self.pending_import: list[dict[str, Any]] = []
        """Turns of the history file read at start, imported when the store opens."""

    # -- the store's life -----------------------------------------------------------------------

    def open(self) -> None:
        """Start recording; turns go to the store from now on, the file read at start too."""
        self.recording.start()
        writer = self.recording.writer
        self.live.store = writer
        if writer is not None and self.pending_import:
            # An older version's history file comes in here, once: stored turns are skipped.
            job = writer.submit_import(export_turns(self.pending_import))
            self.pending_import = []
            # Rewriting the file (newest CONVERSATION_LIMIT turns) before its turns are stored
            # could lose the older ones.
            self.live.hold = lambda: not job.done.is_set()
            log.info("conversation history: importing the history file into %s", writer.path)

    async def close(self) -> None:
        """Write the export file if one is kept, then stop recording."""
        await self.live.flush()
        self.live.store = None
        await self.recording.stop()

    async def _read(self, query: Callable[..., T], *args: Any) -> T | None:
        """A store query's answer, or None when recording is off or the store cannot be read."""
        if not self.recording.enabled:
            return None
        try:
            return await self.recording.read(query, *args)
        except StoreError as exc:
            log.debug("history from memory: %s", exc)
            return None

    # -- reads ----------------------------------------------------------------------------------

    async def messages(
        self, limit: int | None = None, session: str | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        """The newest `limit` turns oldest first (CONVERSATION_LIMIT when None), and how many
        turns there are (of one session when given)."""
        limit = self.live.limit if limit is None else limit
        stored = await self._read(queries.recent_turns, limit, session)
        if stored is not None:
            return [_fields(turn) for turn in stored[0]], stored[1]
        everything = self.live.messages(session=session)
        return (everything[-limit:] if limit > 0 else []), len(everything)

    async def count(self) -> int:
        """How many turns are recorded."""
        stored = await self._read(queries.turn_count)
        return len(self.live) if stored is None else stored

    async def status(self) -> dict[str, Any]:
        """Count, limit, export file and last error (`count` and `sessions` from the store)."""
        status = self.live.status()
        numbers = await self._read(_status_numbers)
        if numbers is not None:
            status["count"], status["sessions"] = numbers
        return status

    async def sessions(self) -> list[str]:
        """Ids of the sessions with turns, in order of their first turn."""
        stored = await self._read(queries.session_ids)
        return self.live.sessions() if stored is None else stored

    async def page(
        self,
        limit: int = 50,
        before: str | None = None,
        session: str | None = None,
        text: str | None = None,
    ) -> dict[str, Any]:
        """Turns newest first, `limit` at a time, of one session or matching `text` (full-text
        search); `next` continues after the last one (None at the end)."""
        limit = max(1, min(limit, PAGE_LIMIT))
        memory = before is not None and before.startswith(MEMORY_CURSOR)
        if not memory:
            try:
                stored = await self._stored_page(limit, before, session, text)
            except ValueError:
                stored = None  # a cursor that is not one: start again
            if stored is not None:
                return stored
        return self._memory_page(limit, before if memory else None, session, text)

    async def _stored_page(
        self, limit: int, before: str | None, session: str | None, text: str | None
    ) -> dict[str, Any] | None:
        if text and text.strip():
            after = int(before) if before else None
            found = await self._read(queries.search_turns, text, limit, after)
            if found is None:
                return None
            turns, cursor = found
            return {"turns": turns, "next": None if cursor is None else str(cursor)}
        if before:
            queries.decode_cursor(before)  # ValueError before any read
        stored = await self._read(queries.history_page, limit, before, session)
        if stored is None:
            return None
        return {"turns": stored[0], "next": stored[1]}

    def _memory_page(
        self, limit: int, before: str | None, session: str | None, text: str | None
    ) -> dict[str, Any]:
        turns = self.live.messages(session=session)
        turns.reverse()
        if text and text.strip():
            words = text.lower().split()
            turns = [t for t in turns if all(w.strip("*") in t["content"].lower() for w in words)]
        start = int(before[len(MEMORY_CURSOR) :]) if before else 0
        chunk = turns[start : start + limit]
        more = start + limit < len(turns)
        return {"turns": chunk, "next": f"{MEMORY_CURSOR}{start + limit}" if more else None}

    async def session_list(
        self, limit: int = 100, before: float | None = None
    ) -> list[dict[str, Any]]:
        """Sessions most recently active first with their totals (the store's, or from memory)."""
        stored = await self._read(queries.sessions, limit, before)
        if stored is not None:
            return stored
        counts: dict[str, int] = {}
        for turn in self.live.messages():
            if turn["session_id"]:
                counts[turn["session_id"]] = counts.get(turn["session_id"], 0) + 1
        return [{"session_id": sid, "turns": n} for sid, n in reversed(counts.items())][:limit]

    async def export(self, fmt: str) -> str:
        """Every recorded turn as the JSON export (importable) or Markdown."""
        stored = await self._read(_export_text, fmt)
        if stored is not None:
            return stored
        if fmt == "markdown":
            return to_markdown(self.live.messages())
        return orjson.dumps(self.live.export(), option=orjson.OPT_INDENT_2).decode()

    # -- changes --------------------------------------------------------------------------------

    async def clear(self) -> int:
        """Forget every turn (store, memory, export file); returns how many there were."""
        removed = await self.count()
        self.live.clear()
        await self.live.save()
        return removed

    async def import_records(self, records: list[dict[str, Any]]) -> int:
        """Add validated export messages, skipping turns already recorded; returns how many
        were new (memory's count when the store cannot say within IMPORT_TIMEOUT)."""
        added = self.live.add_records(records)
        stored = await self.store_import(records)
        await self.live.save()
        return added if stored is None else stored

    async def store_import(self, records: list[dict[str, Any]]) -> int | None:
        """Import into the store only; how many turns were new, None when not recording or the
        writer did not answer within IMPORT_TIMEOUT (the turns wait in its queue)."""
        writer = self.recording.writer
        if writer is None or not records:
            return None if writer is None else 0
        job = writer.submit_import(export_turns(records))
        return await asyncio.to_thread(job.wait, IMPORT_TIMEOUT)
