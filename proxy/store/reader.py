"""Reading the store from the proxy loop or the UI: queries run in a worker thread, never inline."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from proxy.store import db

T = TypeVar("T")

CLOSE_WAIT = 2.0
"""Seconds close() waits for interrupted queries to return before it closes their connections."""


class StoreReader:
    """Read-only connections, one per worker thread, opened on first use."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._open: list[sqlite3.Connection] = []
        self._running = 0
        self._closed = False

    def connection(self) -> sqlite3.Connection:
        """This thread's read-only connection (StoreError when the file cannot be read)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = db.open_reader(self.path, check_same_thread=False)
            self._local.conn = conn
            with self._lock:
                self._open.append(conn)
        return conn

    def call(self, query: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `query(conn, *args, **kwargs)` on this thread (sqlite errors become StoreError)."""
        with self._lock:
            if self._closed:
                raise db.StoreError("the store is closed (the proxy is stopping)", "io", self.path)
            self._running += 1
        try:
            return query(self.connection(), *args, **kwargs)
        except sqlite3.Error as exc:
            raise db.explain(exc, self.path, "read") from exc
        finally:
            with self._lock:
                self._running -= 1
                if not self._running:
                    self._idle.notify_all()

    async def run(self, query: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`call` in a worker thread: the event loop keeps serving while SQLite reads."""
        return await asyncio.to_thread(self.call, query, *args, **kwargs)

    def close(self) -> None:
        """Refuse new queries, interrupt running ones, then close every connection.

        A connection closed under a query running in another thread crashes the process (SQLite
        frees what the query still uses), so close() waits for them; one that outlives the wait
        keeps its connection open rather than risk that."""
        with self._lock:
            self._closed = True
            for conn in self._open:
                conn.interrupt()  # thread-safe: the query stops at its next step
            if not self._idle.wait_for(lambda: not self._running, CLOSE_WAIT):
                return
            connections, self._open = self._open, []
        for conn in connections:
            conn.close()
