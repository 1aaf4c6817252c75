"""The writer's thread wakes as little as it can: each wake-up takes the GIL from the proxy loop."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from proxy.store.writer import StoreWriter
from tests.proxy.store.support import request
from tests.proxy.store.test_writer import count, wait_for

NOW = 1_800_000_000.0


class CountingEvent(threading.Event):
    """An Event that counts the waits on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waits = 0

    def wait(self, timeout: float | None = None) -> bool:
        self.waits += 1
        return super().wait(timeout)


def rows_written(writer: StoreWriter, rows: int) -> Callable[[], bool]:
    """A condition for `wait_for`: `rows` records are written."""
    return lambda: writer.rows_written == rows


def test_a_batch_window_is_one_sleep_not_a_poll(tmp_path: Path) -> None:
    path = tmp_path / "claude-proxy.db"
    writer = StoreWriter(path, batch_seconds=0.3)
    try:
        assert writer.flush(20)  # the file is open: the thread now waits on its queue
        urgent = writer._urgent = CountingEvent()
        writer.submit_request(request(0, NOW))
        assert wait_for(lambda: writer.rows_written == 1)
        # After a quiet spell the record went at once: no wait at all.
        assert urgent.waits == 0 and writer.batches == 1
        for n in range(1, 51):
            writer.submit_request(request(n, NOW + n))
        assert wait_for(lambda: writer.rows_written == 51)
        # These came within the window of the first transaction: one wait for its end, then one
        # batch (a stalled machine may split them into two: still one wait each at most), and at
        # most one more window that finds nothing and ends the steady spell.
        assert 1 <= writer.batches - 1 <= 2 and urgent.waits <= writer.batches
    finally:
        writer.close(10)
    assert count(path, "requests") == 51


def test_records_apart_are_each_written_on_one_wake_up(tmp_path: Path) -> None:
    writer = StoreWriter(tmp_path / "claude-proxy.db", batch_seconds=0.1)
    try:
        assert writer.flush(20)
        urgent = writer._urgent = CountingEvent()
        for n in range(1, 4):
            writer.submit_request(request(n, NOW + n))
            assert wait_for(rows_written(writer, n))
            time.sleep(0.15)  # longer than the window: the next record meets a quiet writer
        # A person's requests, seconds apart: each committed as the thread woke, none waited.
        assert writer.batches == 3 and urgent.waits == 0
    finally:
        writer.close(10)


def test_steady_records_wake_the_thread_once_a_window(tmp_path: Path) -> None:
    writer = StoreWriter(tmp_path / "claude-proxy.db", batch_seconds=0.1)
    try:
        assert writer.flush(20)
        start, batches = writer.wake_ups, writer.batches
        for n in range(40):
            writer.submit_request(request(n, NOW + n))
            time.sleep(0.02)  # five records a window, as a busy agent's requests come
        assert writer.flush(20) and writer.rows_written == 40
        wakes, batched = writer.wake_ups - start, writer.batches - batches
        # Once steady, the thread sleeps window to window and no record's put wakes it: about
        # one wake-up a batch (the first two records and the flush add one each), not two.
        assert batched < 40 and wakes <= batched + 3
    finally:
        writer.close(10)


def test_a_flush_ends_the_window_at_once(tmp_path: Path) -> None:
    writer = StoreWriter(tmp_path / "claude-proxy.db", batch_seconds=30.0)
    try:
        writer.submit_request(request(1, NOW))
        # Were the window not cut short, this flush would time out.
        assert writer.flush(10) and writer.rows_written == 1
    finally:
        writer.close(10)
