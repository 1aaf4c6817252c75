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
"""Seconds `close` waits for queries still running in worker threads, before interrupting them."""


class StoreReader:
    """Read-only connections, one per worker thread, opened on first use."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._busy = 0
        """Queries running now (a connection closed under one crashes the process)."""
        self._open: list[sqlite3.Connection] = []

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
            self._busy += 1
        try:
            return query(self.connection(), *args, **kwargs)
        except sqlite3.Error as exc:
            raise db.explain(exc, self.path, "read") from exc
        finally:
            with self._lock:
                self._busy -= 1
                if not self._busy:
                    self._idle.notify_all()

    async def run(self, query: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`call` in a worker thread: the event loop keeps serving while SQLite reads."""
        return await asyncio.to_thread(self.call, query, *args, **kwargs)

    def close(self) -> None:
        """Close every connection opened so far, once no query runs on them.

        A query may still run in a worker thread at shutdown (its awaiting task was cancelled,
        the thread was not): closing its connection under it crashes the process, so this
        waits for it, and interrupts what is still running after CLOSE_WAIT seconds.
        """
        with self._lock:
            if not self._idle.wait_for(lambda: not self._busy, CLOSE_WAIT):
                for conn in self._open:
                    conn.interrupt()
                self._idle.wait_for(lambda: not self._busy, CLOSE_WAIT)
            connections, self._open = self._open, []
        for conn in connections:
            conn.close()
        self._local = threading.local()
