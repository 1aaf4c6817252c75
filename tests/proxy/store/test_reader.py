"""The reader helper: queries from the event loop run in worker threads on read-only connections."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from proxy.store import db, queries
from proxy.store.reader import StoreReader
from proxy.store.writer import StoreWriter
from tests.proxy.store.support import request, turn


async def test_queries_run_off_the_loop_while_the_writer_writes(tmp_path: Path) -> None:
    path = tmp_path / "claude-proxy.db"
    writer = StoreWriter(path)
    for n in range(500):
        writer.submit_request(request(n, 1_800_000_000.0 + n))
        writer.submit_turn(turn(n, 1_800_000_000.0 + n))
    assert await asyncio.to_thread(writer.flush, 30)
    reader = StoreReader(path)
    try:
        totals, page, found = await asyncio.gather(
            reader.run(queries.totals),
            reader.run(queries.history_page, limit=10),
            reader.run(queries.search_turns, "number"),
        )
        assert totals["requests"] == 500
        assert len(page[0]) == 10 and len(found[0]) == 50
        with pytest.raises(db.StoreError):
            await reader.run(lambda conn: conn.execute("DELETE FROM turns"))
    finally:
        reader.close()
        writer.close()


async def test_a_missing_file_is_a_store_error(tmp_path: Path) -> None:
    reader = StoreReader(tmp_path / "nothing-yet.db")
    with pytest.raises(db.StoreError) as caught:
        await reader.run(queries.totals)
    assert caught.value.kind == "missing"
    reader.close()


async def test_close_waits_for_a_query_still_running_in_its_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing a connection under a running query crashes the process: close waits, then
    interrupts what still runs."""
    import threading

    from proxy.store import reader as reader_module

    path = tmp_path / "claude-proxy.db"
    writer = StoreWriter(path)
    writer.submit_request(request(1, 1_800_000_000.0))
    assert await asyncio.to_thread(writer.flush, 30)
    writer.close()
    monkeypatch.setattr(reader_module, "CLOSE_WAIT", 0.2)
    reader = StoreReader(path)
    started = threading.Event()

    def endless(conn: object) -> object:
        started.set()
        sql = (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
        )
        return conn.execute(sql).fetchone()  # type: ignore[attr-defined]

    running = asyncio.create_task(reader.run(endless))
    await asyncio.to_thread(started.wait, 10)
    await asyncio.to_thread(reader.close)
    with pytest.raises(db.StoreError):
        await running  # interrupted, not crashed
    assert reader._busy == 0
