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


class StoreReader:
    """Read-only connections, one per worker thread, opened on first use."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._lock = threading.Lock()
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
        try:
            return query(self.connection(), *args, **kwargs)
        except sqlite3.Error as exc:
            raise db.explain(exc, self.path, "read") from exc

    async def run(self, query: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`call` in a worker thread: the event loop keeps serving while SQLite reads."""
        return await asyncio.to_thread(self.call, query, *args, **kwargs)

    def close(self) -> None:
        """Close every connection opened so far (at shutdown, when no query runs)."""
        with self._lock:
            connections, self._open = self._open, []
        for conn in connections:
            conn.close()
        self._local = threading.local()
