"""The one writer: records queued in O(1) by the proxy, written in batches by a daemon thread.

The proxy loop only ever calls `SimpleQueue.put`. A record after a quiet spell is committed as
soon as the thread wakes; records that come within `batch_seconds` of a transaction's start wait
for that window to end and are then committed together, in as few transactions as possible.
While they keep coming, the thread sleeps window to window and no record's put wakes it. When the
disk is full, the folder read-only or the file locked too long, recording pauses: records wait in
a bounded backlog and the thread retries until the write succeeds.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from proxy.store import commit, db, records, retention
from proxy.store.commit import Row
from proxy.store.records import RequestRecord, TurnRecord

log = logging.getLogger(__name__)

_REQUEST, _TURN, _CLEAR_TURNS, _IMPORT, _FLUSH, _CLOSE = range(6)
# Turns deleted (or imported) per transaction: other processes get the lock between.
CLEAR_BATCH = 2_000
_SHORT_REASONS = {
    "readonly": "read-only folder",
    "full": "disk full",
    "locked": "database locked",
    "corrupt": "damaged file",
    "too_new": "newer schema",
    "old": "old schema",
    "missing": "missing file",
    "io": "I/O error",
}

_ALONE = (_CLEAR_TURNS, _IMPORT)

ConnectHook = Callable[[sqlite3.Connection], None]


class _Marker:
    """A flush or close request travelling through the queue behind the records before it."""

    __slots__ = ("done", "ok", "target")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = False
        self.target = -1


class TurnImport:
    """Turns to import, and the answer once they are written: `done` set, `added` counted."""

    __slots__ = ("added", "done", "turns")

    def __init__(self, turns: list[TurnRecord]) -> None:
        self.turns = turns
        self.done = threading.Event()
        self.added = 0

    def wait(self, timeout: float | None = None) -> int | None:
        """How many turns were new, once written; None when not written within `timeout`."""
        return self.added if self.done.wait(timeout) else None


class StoreWriter:
    """Owns the store's only write connection, on its own daemon thread."""

    def __init__(
        self,
        path: Path,
        *,
        batch_seconds: float = 0.25,
        batch_size: int = 1_000,
        backlog_limit: int = 100_000,
        retry_seconds: float = 1.0,
        max_retry_seconds: float = 30.0,
        busy_timeout: float = db.BUSY_TIMEOUT,
        policy: retention.RetentionPolicy | None = None,
        connect_hook: ConnectHook | None = None,
        redact: records.Redact | None = None,
    ) -> None:
        self.path = Path(path)
        self.batch_seconds = batch_seconds
        """Longest a record waits in memory before its transaction starts (<= 0.5 s)."""
        self.batch_size = batch_size
        """Most records in one transaction."""
        self.backlog_limit = backlog_limit
        """Most records kept while paused; past it the oldest are dropped (and counted)."""
        self.retry_seconds = retry_seconds
        self.max_retry_seconds = max_retry_seconds
        self.busy_timeout = busy_timeout
        self.policy = policy
        self._connect_hook = connect_hook
        self.redact = redact
        """Masks keys in error messages, tool arguments and bodies, here on the writer's thread."""
        self._queue: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        self._put = self._queue.put
        self._urgent = threading.Event()
        self._backlog: deque[tuple[int, Any]] = deque()
        self._waiters: list[_Marker] = []
        self._conn: sqlite3.Connection | None = None
        # Records taken off the queue, and records settled (written, refused or dropped); both
        # only grow, and settle in queue order, so a flush waits for `settled >= taken-at-flush`.
        self._taken = 0
        self._settled = 0
        self._error: db.StoreError | None = None
        self._retry_in = retry_seconds
        self._retry_at = 0.0
        self._next_prune = 0.0
        self._window_ends = 0.0
        self._steady = False
        self._closing = False
        self.rows_written = 0
        self.batches = 0
        self.dropped = 0
        self.rejected = 0
        self.pruned = 0
        self.wake_ups = 0
        """Times the thread blocked and woke again (each costs CPU and takes the GIL)."""
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    # -- the caller's side (any thread; never blocks) -------------------------------------------

    def submit_request(self, record: RequestRecord) -> None:
        """Queue a finished request for writing; O(1), never blocks, never raises."""
        self._put((_REQUEST, record))

    def submit_turn(self, turn: TurnRecord) -> None:
        """Queue a conversation turn for writing; O(1), never blocks, never raises."""
        self._put((_TURN, turn))

    def submit_clear_turns(self, session: str | None = None) -> None:
        """Queue the deletion of every turn submitted before it (of one session when given)."""
        self._put((_CLEAR_TURNS, session))

    def submit_import(self, turns: list[TurnRecord]) -> TurnImport:
        """Queue turns from an export, skipping the ones already stored; `wait()` on the result
        for how many were new."""
        job = TurnImport(turns)
        self._put((_IMPORT, job))
        self._urgent.set()
        return job

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted before this call is written; False on timeout/pause."""
        if not self._thread.is_alive():
            return self._queue.empty() and self._taken == self._settled
        marker = _Marker()
        self._put((_FLUSH, marker))
        self._urgent.set()
        return marker.done.wait(timeout) and marker.ok

    def close(self, timeout: float | None = 10.0) -> bool:
        """Write what is queued (one last try when paused), close the file, stop the thread."""
        if not self._thread.is_alive():
            return True
        marker = _Marker()
        self._put((_CLOSE, marker))
        self._urgent.set()
        self._thread.join(timeout)
        return not self._thread.is_alive() and self._taken == self._settled

    def status(self) -> dict[str, Any]:
        """`state` ('recording' or 'paused: <reason>'), backlog, last error and counters."""
        error = self._error
        return {
            "state": "recording" if error is None else f"paused: {_SHORT_REASONS[error.kind]}",
            "backlog": len(self._backlog) + self._queue.qsize(),
            "last_error": self.last_error,
            "rows_written": self.rows_written,
            "batches": self.batches,
            "dropped": self.dropped,
            "rejected": self.rejected,
            "pruned": self.pruned,
            "path": str(self.path),
        }

    @property
    def paused(self) -> bool:
        """True while writes fail and records wait in the backlog."""
        return self._error is not None

    # -- the writer thread ----------------------------------------------------------------------

    def _run(self) -> None:
        self._connect()
        while not self._closing:
            try:
                self._step()
            except Exception as exc:
                # A bug here must not silently stop recording for the rest of the run.
                log.exception("store writer failed; retrying")
                self._pause(db.StoreError(f"store writer failed: {exc!r}", "io", self.path))
        self._disconnect(optimize=True)
        # Waiters still here were not satisfied: they wake up to a False.
        for marker in self._waiters:
            marker.done.set()

    def _step(self) -> None:
        """Wait for records, gather a batch, write it, answer flushes, prune a little."""
        if self._steady and self._error is None:
            # Records kept coming: sleep out the window and take what came, rather than be woken
            # by each record's put. A window that brought nothing ends the steady spell.
            self._gather()
            self._steady = not self._queue.empty()
        else:
            try:
                item = self._queue.get(timeout=self._idle_timeout())
            except queue.Empty:
                item = None
            self.wake_ups += 1
            if item is not None:
                self._take(item)
                # A record within the last transaction's window: traffic is steady.
                self._steady = time.monotonic() < self._window_ends
                self._gather()
        self._urgent.clear()
        while True:
            # Recording: take one batch at a time, so a flood waits in the queue, not in the
            # backlog (whose limit is for a pause). Paused: take all, oldest dropped past it.
            paused = self._error is not None
            self._drain(None if paused else self.batch_size - len(self._backlog))
            # Closing gets one last try even while paused.
            due = not paused or self._closing or time.monotonic() >= self._retry_at
            if self._backlog and due:
                self._write_backlog()
            elif paused and due:
                self._connect()
            self._release_waiters()
            if self._error is not None or self._queue.empty():
                break
        if not self._closing:
            self._prune()

    def _idle_timeout(self) -> float | None:
        now = time.monotonic()
        due: list[float] = []
        if self._error is not None:
            due.append(self._retry_at)
        elif self.policy is not None:
            due.append(self._next_prune)
        return max(0.0, min(due) - now) if due else None

    def _gather(self) -> None:
        """Let a batch build up until `batch_seconds` after the last transaction began, unless
        a flush (or close, import) waits.

        A record after a quiet spell (a person's requests, seconds apart) goes at once: each
        wake-up costs CPU (~0.1 ms on a VM) and takes the GIL from the loop, so one per record,
        not two. One sleep, not a poll: a flood meanwhile waits in the queue and is then
        written `batch_size` records per transaction, one wake-up a window.
        """
        wait = self._window_ends - time.monotonic()
        if wait > 0:
            self.wake_ups += 1
            self._urgent.wait(wait)

    def _drain(self, limit: int | None) -> None:
        """Move queued items into the backlog: at most `limit` records (None: all)."""
        get = self._queue.get_nowait
        taken = self._taken
        while limit is None or self._taken - taken < limit:
            try:
                item = get()
            except queue.Empty:
                return
            self._take(item)

    def _take(self, item: tuple[int, Any]) -> None:
        kind, payload = item
        if kind >= _FLUSH:
            payload.target = self._taken
            self._waiters.append(payload)
            self._closing = self._closing or kind == _CLOSE
            return
        self._taken += 1
        if len(self._backlog) >= self.backlog_limit:
            dropped_kind, dropped = self._backlog.popleft()
            if dropped_kind == _IMPORT:
                dropped.done.set()  # its waiter learns that nothing was added
            self.dropped += 1
            self._settled += 1
        self._backlog.append(item)

    def _release_waiters(self) -> None:
        if not self._waiters:
            return
        waiting = []
        for marker in self._waiters:
            if self._settled >= marker.target:
                marker.ok = True
                marker.done.set()
            else:
                waiting.append(marker)
        self._waiters = waiting

    # -- connection and errors ------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection | None:
        if self._conn is not None:
            return self._conn
        try:
            conn = db.open_store(self.path, busy_timeout=self.busy_timeout)
            if self._connect_hook is not None:
                self._connect_hook(conn)
        except db.StoreError as exc:
            self._pause(exc)
            return None
        self._conn = conn
        if self._error is not None and not self._backlog:
            self._resume()
        return conn

    def _disconnect(self, optimize: bool = False) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if optimize:
                # Keeps the planner's statistics fresh, cheaply, once per run.
                conn.execute("PRAGMA optimize")
        except sqlite3.Error:
            pass
        conn.close()

    def _pause(self, error: db.StoreError) -> None:
        first = self._error is None
        self._error = error
        self.last_error = str(error)
        now = time.monotonic()
        if first:
            self._retry_in = self.retry_seconds
            log.warning(
                "recording paused: %s New records wait in memory (up to %d) until this is fixed.",
                error,
                self.backlog_limit,
            )
        else:
            self._retry_in = min(self._retry_in * 2, self.max_retry_seconds)
        self._retry_at = now + self._retry_in
        # A fresh connection on the next try picks up a folder made writable or a freed disk.
        self._disconnect()

    def _resume(self) -> None:
        log.warning("recording resumed: %s", self.path)
        self._error = None
        self._retry_in = self.retry_seconds

    # -- writing --------------------------------------------------------------------------------

    def _write_backlog(self) -> None:
        self._window_ends = time.monotonic() + self.batch_seconds
        conn = self._connect()
        while conn is not None and self._backlog:
            batch = self._next_batch()
            try:
                if batch[0][0] == _CLEAR_TURNS:
                    self._clear_turns(conn, batch[0][1])
                elif batch[0][0] == _IMPORT:
                    self._import(conn, batch[0][1])
                else:
                    self._write(conn, batch)
            except sqlite3.Error as exc:
                self._backlog.extendleft(reversed(batch))
                self._pause(db.explain(exc, self.path, "write"))
                return
            if self._error is not None:
                self._resume()

    def _next_batch(self) -> list[tuple[int, Any]]:
        """Up to `batch_size` records from the backlog; a clear or an import travels alone."""
        backlog = self._backlog
        if backlog[0][0] in _ALONE:
            return [backlog.popleft()]
        batch: list[tuple[int, Any]] = []
        while backlog and len(batch) < self.batch_size and backlog[0][0] not in _ALONE:
            batch.append(backlog.popleft())
        return batch

    def _clear_turns(self, conn: sqlite3.Connection, session: str | None) -> None:
        commit.clear_turns(conn, session, CLEAR_BATCH)
        self._settled += 1
        self.batches += 1

    def _import(self, conn: sqlite3.Connection, job: TurnImport) -> None:
        rows: list[Row] = []
        for turn in job.turns:
            try:
                rows.append(records.turn_row(turn))
            except (KeyError, TypeError, ValueError) as exc:
                self.rejected += 1
                log.warning("store: refused an imported turn: %s", exc)
        job.added = commit.import_turns(conn, rows, CLEAR_BATCH)
        self.rows_written += job.added
        self._settled += 1
        self.batches += 1
        job.done.set()

    def _write(self, conn: sqlite3.Connection, batch: list[tuple[int, Any]]) -> None:
        """Commit one batch in one transaction (each bad record refused on its own)."""
        requests, bodies, turns = self._rows(batch)
        try:
            self.rows_written += commit.write_rows(conn, requests, bodies, turns)
            self.batches += 1
        except commit.DATA_ERRORS:
            # One bad row spoils the batch: write them one by one, refusing the bad ones.
            written = commit.write_rows_one_by_one(conn, requests, bodies, turns)
            self.rows_written += written
            self.rejected += len(requests) + len(turns) - written
        self._settled += len(batch)

    def _rows(self, batch: list[tuple[int, Any]]) -> tuple[list[Row], list[Row], list[Row]]:
        """The rows of a batch's records; a record that is not one is refused here."""
        requests: list[Row] = []
        bodies: list[Row] = []
        turns: list[Row] = []
        for kind, payload in batch:
            try:
                if kind == _REQUEST:
                    requests.append(records.request_row(payload, self.redact))
                    body = records.bodies_row(payload, self.redact)
                    if body is not None:
                        bodies.append(body)
                else:
                    turns.append(records.turn_row(payload))
            except (KeyError, TypeError, ValueError, orjson.JSONEncodeError) as exc:
                self.rejected += 1
                log.warning("store: refused a malformed record: %s", exc)
        return requests, bodies, turns

    # -- retention ------------------------------------------------------------------------------

    def _prune(self) -> None:
        policy = self.policy
        if policy is None or self._error is not None or time.monotonic() < self._next_prune:
            return
        conn = self._connect()
        if conn is None:
            return
        try:
            deleted = retention.prune_step(conn, policy)
        except sqlite3.Error as exc:
            log.warning("store: pruning failed, next try later: %s", exc)
            deleted = 0
        self.pruned += deleted
        # More to delete: again at once, between batches; otherwise at the next interval.
        self._next_prune = time.monotonic() + (0.0 if deleted else policy.interval)
