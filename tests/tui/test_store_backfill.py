"""The request log starts with the store's newest requests (in-process and attached), and the
header's totals stay the proxy's own (/stats) after a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import pytest

from app.client.local_backend import LocalBackend
from app.client.requests import OK, RequestStore
from app.ui.proxy_app import ProxyApp
from screens.request_log import RequestLog
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.tui_support import (
    TuiFactory,
    isolated_tui,
    make_tui,
    ready,
    start_headless,
    tui_mode,
    tui_settings,
    wait_for,
)

__all__ = ["isolated_tui", "make_tui", "tui_mode"]


async def ask(url: str, text: str, model: str = "claude-sonnet-4-5") -> None:
    """One non-streaming request through the proxy at `url`."""
    async with anthropic.AsyncAnthropic(base_url=url, api_key="dummy", max_retries=0) as sdk:
        await sdk.messages.create(
            model=model, max_tokens=64, messages=[{"role": "user", "content": text}]
        )


async def stats(url: str) -> dict[str, Any]:
    """GET /stats of the proxy at `url`."""
    async with aiohttp.ClientSession() as http, http.get(f"{url}/stats") as response:
        data: dict[str, Any] = await response.json()
        return data


def row(rid: str, at: float, **extra: Any) -> dict[str, Any]:
    """A stored request as GET /requests returns it."""
    return {"id": rid, "started_at": at, "status": 200, "model": "openai/gpt-4.1", **extra}


def test_backfill_goes_under_the_live_records_and_keeps_the_bound() -> None:
    store = RequestStore(limit=5)
    store.records["live"] = store_record("live", 100.0)
    rows = [row(f"r{i}", 99.0 - i) for i in range(10)]  # newest first
    rows.insert(0, row("live", 100.0))
    assert store.backfill(rows) == 4
    assert list(store.records) == ["r3", "r2", "r1", "r0", "live"]
    failed = RequestStore()
    failed.backfill([row("e", 1.0, status=429, error_type="rate_limit_error", input_tokens=5)])
    record = failed.records["e"]
    assert (record.status, record.http_status, record.input_tokens) == ("error", 429, None)


def test_a_stored_request_newer_than_a_live_one_goes_after_it() -> None:
    """Attached, a request can reach the store before its live events reach the TUI: the one
    seen live at 100 stays before the stored one from 101."""
    store = RequestStore()
    store.records["live"] = store_record("live", 100.0)
    assert store.backfill([row("newer", 101.0), row("older", 99.0)]) == 2
    assert list(store.records) == ["older", "live", "newer"]


def store_record(rid: str, at: float) -> Any:
    from app.client.requests import RequestRecord

    return RequestRecord(request_id=rid, started=at, status=OK)


async def test_the_log_is_backfilled_after_a_restart(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory
) -> None:
    for i in range(3):
        upstream.script.append(Reply(text=f"answer {i}", prompt_tokens=10 + i, completion_tokens=3))
    before = await asyncio.to_thread(start_headless, tui_settings(upstream, tmp_path))
    try:
        for i in range(3):
            await ask(before.server.url, f"question {i}")
    finally:
        await asyncio.to_thread(before.stop)

    upstream.script.append(Reply(text="after the restart", prompt_tokens=40, completion_tokens=2))
    app: ProxyApp
    async with make_tui(upstream, tmp_path).run_test(size=(120, 30)) as pilot:
        app = await ready(pilot)
        log = app.main_screen.query_one(RequestLog)
        await wait_for(lambda: log.row_count == 3, pilot=pilot)
        records = list(app.store)
        assert [r.status for r in records] == [OK] * 3
        assert [r.input_tokens for r in records] == [10, 11, 12]
        assert records[0].started < records[1].started < records[2].started
        assert {r.model for r in records} == {"openai/gpt-4.1"}
        # The header counts since the proxy started, as /stats does: the backfill adds nothing.
        totals = (await stats(app.backend.url))["totals_since_start"]
        assert (app.status.requests, app.status.tokens) == (totals["requests"], 0) == (0, 0)

        await ask(app.backend.url, "one more")
        await wait_for(lambda: log.row_count == 4 and app.status.requests == 1, pilot=pilot)
        await wait_for(lambda: list(app.store)[-1].status == OK, pilot=pilot)
        totals = (await stats(app.backend.url))["totals_since_start"]
        await wait_for(lambda: app.status.tokens == 42, pilot=pilot)
        assert app.status.requests == totals["requests"] == 1
        assert app.status.tokens == totals["input_tokens"] + totals["output_tokens"] == 42
        assert app.status.cost == pytest.approx(totals["cost"], abs=1e-6)
        assert log.get_row_index(list(app.store)[-1].request_id) == 3


async def test_a_backfill_once_the_proxy_stopped_is_empty(tmp_path: Path) -> None:
    """Quitting while the log backfills: the read finds no proxy and answers nothing, where it
    used to fail the worker (a toast on the way out, seen as a flaky burst-of-keys test)."""
    proxy = start_headless(tui_settings(None, tmp_path))
    backend = LocalBackend(proxy.service.settings, proxy, env_file=tmp_path / ".env")
    assert await backend.recent_requests(10) == []
    loop = proxy.loop
    assert loop is not None
    proxy.stop()
    assert await backend.recent_requests(10) == []
    # Closed between the running check and the call: the same answer, and the coroutine made
    # for the call is closed (never awaited, it would warn; the suite turns warnings to errors).
    loop.is_running = lambda: True  # type: ignore[method-assign]
    probe = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="closed"):
        proxy.call(probe)
    probe.close()
    assert await backend.recent_requests(10) == []
