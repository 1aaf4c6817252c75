"""Past the store's limit the oldest rows go in batches, and a reader keeps their place."""

from __future__ import annotations

import time
from pathlib import Path

from app.client.requests import RequestStore
from app.ui.proxy_app import ProxyApp
from proxy.state.events import REQUEST_STARTED, ProxyEvent
from screens.request_log import RequestLog
from tests.support.fake_upstream import FakeUpstream
from tests.support.tui_support import build_app, isolated_tui, ready, wait_for

__all__ = ["isolated_tui"]


def start(app: ProxyApp, n: int) -> None:
    """What the proxy publishes when request r<n> starts."""
    data = {"requested": "claude-sonnet-4-5", "model": "openai/gpt-4.1", "tier": "big"}
    app.backend.sink(ProxyEvent(REQUEST_STARTED, f"r{n}", data, time.time()))


def test_store_evicts_the_oldest_in_batches() -> None:
    store = RequestStore(limit=6, evict_batch=3)
    for n in range(7):
        store.apply(ProxyEvent(REQUEST_STARTED, f"r{n}", {}, 0.0))
    assert [r.request_id for r in store] == ["r3", "r4", "r5", "r6"]
    assert store.evicted == ["r0", "r1", "r2"]
    assert RequestStore(limit=2, evict_batch=50).evict_batch == 2  # never more than the limit


async def test_evicted_rows_go_and_the_selected_request_stays(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    app = build_app(upstream, tmp_path)
    app.store.limit, app.store.evict_batch = 6, 3
    async with app.run_test(size=(120, 30)) as pilot:
        await ready(pilot)
        log = app.main_screen.query_one(RequestLog)
        for n in range(6):
            start(app, n)
        await wait_for(lambda: log.row_count == 6, pilot=pilot)
        log.move_cursor(row=4)  # the reader looks at r4, away from the end
        await pilot.pause()
        start(app, 6)
        await wait_for(lambda: log.row_count == 4, pilot=pilot)
        assert [str(log.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(4)] == [
            "r3",
            "r4",
            "r5",
            "r6",
        ]
        assert log.selected_id == "r4"
        # Following the newest row: it stays on the newest.
        log.action_follow()
        for n in range(7, 10):
            start(app, n)
        await wait_for(lambda: log.row_count == 4 and log.selected_id == "r9", pilot=pilot)
