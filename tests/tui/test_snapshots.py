"""SVG snapshots of every view (log, models, presets, detail, debug, stats, help, history),
at 80x24 and 160x48, dark and light (History dark only: the store's work changes it).

Deterministic: the events are synthetic (fixed ids, times, tokens) and published on the real bus,
the clock is UTC, the URL shows a fixed port, cursors do not blink, the config folder is empty.
Update with `uv run pytest tests/tui/test_snapshots.py --snapshot-update` and look at the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, RichLog, TextArea

from app.client.local_backend import LocalBackend
from app.ui.proxy_app import ProxyApp
from proxy.server.runner import ProxyServer
from proxy.state.events import (
    FIRST_TOKEN,
    REQUEST_FAILED,
    REQUEST_FINISHED,
    REQUEST_STARTED,
    TEXT_DELTA,
    ProxyEvent,
)
from screens.answer_view import AnswerView
from tests.support.tui_support import build_app, isolated_tui, wait_for

__all__ = ["isolated_tui"]

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]
THEMES = [pytest.param("textual-dark", id="dark"), pytest.param("textual-light", id="light")]
"""Every view in both themes (History's light variants belong to the store's work)."""
T0 = 1767261600.0  # 2026-01-01 10:00:00 UTC
SESSION = "5b1c7e2a-9d41-4c1e-8f0a-2f6b3c9d7e11"
ANSWER = (
    "The test fails because `parse_date` returns a naive datetime.\n\n"
    "1. Make `parse_date` attach `UTC`.\n"
    "2. Compare aware datetimes in `test_api.py`.\n\n"
    "I'll edit `app/dates.py` now."
)


def body(text: str, model: str, stream: bool = True) -> dict[str, Any]:
    """A client request body like Claude Code's (short)."""
    return {
        "model": model,
        "max_tokens": 8192,
        "stream": stream,
        "system": [{"type": "text", "text": "You are Claude Code."}],
        "messages": [{"role": "user", "content": text}],
    }


def started(
    rid: str, at: float, requested: str, model: str, tier: str, b: dict[str, Any]
) -> ProxyEvent:
    """request_started as the exchange publishes it."""
    data = {
        "requested": requested,
        "model": model,
        "provider": model.split("/")[0],
        "transport": "openai",
        "tier": tier,
        "stream": b["stream"],
        "session_id": SESSION,
        "endpoint": "messages",
        "body": b,
        "notes": [],
    }
    return ProxyEvent(REQUEST_STARTED, rid, data, at)


def finished(
    rid: str,
    at: float,
    model: str,
    text: str,
    inp: int,
    out: int,
    cost: float,
    latency: float,
    ttft: float,
) -> ProxyEvent:
    """request_finished with usage, cost and timings."""
    message = {
        "id": f"msg_{rid[-4:]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": inp, "output_tokens": out},
    }
    upstream = {
        "model": model.split("/", 1)[1],
        "stream": True,
        "max_completion_tokens": 8192,
        "messages": [{"role": "system", "content": "You are Claude Code."}],
    }
    data = {
        "model": model,
        "session_id": SESSION,
        "message": message,
        "upstream_request": upstream,
        "input_tokens": inp,
        "output_tokens": out,
        "cost": cost,
        "latency": latency,
        "ttft": ttft,
        "stop_reason": "end_turn",
    }
    return ProxyEvent(REQUEST_FINISHED, rid, data, at)


def traffic() -> list[ProxyEvent]:
    """Four requests: a quick haiku call, an upstream error, one still streaming, one answered."""
    haiku = body("Summarise this folder in 5 words", "claude-haiku-4-5", stream=False)
    sonnet = body("Fix the failing test in tests/test_api.py", "claude-sonnet-4-5-20250929")
    return [
        started("req_0001", T0, "claude-haiku-4-5", "openai/gpt-4.1-mini", "small", haiku),
        finished(
            "req_0001",
            T0 + 0.6,
            "openai/gpt-4.1-mini",
            "Python API with tests",
            412,
            9,
            0.000179,
            0.62,
            0.62,
        ),
        started("req_0002", T0 + 5, "claude-sonnet-4-5-20250929", "openai/gpt-4.1", "big", sonnet),
        ProxyEvent(
            REQUEST_FAILED,
            "req_0002",
            {
                "status": 429,
                "error_type": "rate_limit_error",
                "latency": 0.31,
                "model": "openai/gpt-4.1",
                "message": "openai upstream: Rate limit reached for gpt-4.1 (tokens per min)",
            },
            T0 + 5.3,
        ),
        started("req_0003", T0 + 9, "claude-sonnet-4-5-20250929", "openai/gpt-4.1", "big", sonnet),
        ProxyEvent(FIRST_TOKEN, "req_0003", {}, T0 + 9.5),
        ProxyEvent(TEXT_DELTA, "req_0003", {"text": "Looking at the test first"}, T0 + 9.5),
        started("req_0004", T0 + 12, "claude-sonnet-4-5-20250929", "openai/gpt-4.1", "big", sonnet),
        ProxyEvent(FIRST_TOKEN, "req_0004", {}, T0 + 12.4),
        ProxyEvent(TEXT_DELTA, "req_0004", {"text": ANSWER[:40]}, T0 + 12.4),
        ProxyEvent(TEXT_DELTA, "req_0004", {"text": ANSWER[40:]}, T0 + 13.0),
        finished("req_0004", T0 + 14.1, "openai/gpt-4.1", ANSWER, 15230, 87, 0.031156, 2.1, 0.41),
    ]


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ProxyApp:
    """The real app (embedded proxy on port 0) showing the URL of the default port."""
    monkeypatch.setattr(ProxyServer, "url", property(lambda self: "http://127.0.0.1:8082"))
    # The synthetic traffic is from 2026-01-01: no retention, or its history turns could go.
    return build_app(None, tmp_path, RETENTION_DAYS="0")


def no_blink(app: ProxyApp) -> None:
    """Steady cursors, so the frame taken does not depend on the blink phase."""
    for widget in app.screen.query("Input, TextArea"):
        assert isinstance(widget, Input | TextArea)
        widget.cursor_blink = False


def backfilled(app: ProxyApp) -> bool:
    """The log's first backfill from the store was started (with the first resync, in the same
    frame) and none is running any more (finished workers leave `app.workers`)."""
    return app._generation >= 1 and not any(w.group == "backfill" for w in app.workers)


async def seeded(pilot: Pilot[Any]) -> ProxyApp:
    """Wait for the proxy, publish the traffic on its bus (on its loop), wait for the frame."""
    app = pilot.app
    assert isinstance(app, ProxyApp)
    await wait_for(lambda: app.state == "ready", pilot=pilot)
    backend = app.backend
    assert isinstance(backend, LocalBackend)
    # The traffic is dated 2026-01-01, before the live events began: a backfill from the store
    # running after the proxy recorded it would put its rows first. One ends before it starts.
    await wait_for(lambda: backfilled(app), pilot=pilot)
    bus = backend.service.bus
    for event in traffic():
        await backend.read(bus.publish, event)
    await wait_for(lambda: len(app.store) == 4 and app.store.get("req_0004").status == "ok")  # type: ignore[union-attr]
    # The header counts what the proxy counted: 4 requests, 1 failed, 1 still streaming.
    await wait_for(
        lambda: (app.status.requests, app.status.errors, app.status.in_flight) == (4, 1, 1)
    )
    answer = app.main_screen.query_one(AnswerView)
    await wait_for(lambda: answer.source == ANSWER and answer.rendered, pilot=pilot)
    await pilot.pause()
    return app


DEBUG_ENTRIES = [
    {
        "id": 1,
        "time": "2026-01-01T10:00:00.120000+00:00",
        "type": "startup",
        "request_id": None,
        "summary": "proxy listening on http://127.0.0.1:8082",
        "details": {"host": "127.0.0.1", "port": 8082},
    },
    {
        "id": 2,
        "time": "2026-01-01T10:00:05.010000+00:00",
        "type": "model_mapping",
        "request_id": "req_5f0c2a9e41b7d3c8",
        "summary": "claude-sonnet-4-5-20250929 -> openai/gpt-4.1 (big)",
        "details": {"requested": "claude-sonnet-4-5-20250929", "model": "openai/gpt-4.1"},
    },
    {
        "id": 3,
        "time": "2026-01-01T10:00:05.300000+00:00",
        "type": "error",
        "request_id": "req_5f0c2a9e41b7d3c8",
        "summary": "429 rate_limit_error: Rate limit reached for gpt-4.1 (tokens per min)",
        "details": {"status": 429, "error_type": "rate_limit_error"},
    },
    {
        "id": 4,
        "time": "2026-01-01T10:00:14.100000+00:00",
        "type": "response",
        "request_id": "req_a13e77c0d925fb64",
        "summary": "end_turn · 15,230 in / 87 out · $0.0312 · 2.10 s",
        "details": {"stop_reason": "end_turn", "notes": []},
    },
]
"""What the debug view shows in its snapshot (the live log holds real times and ports)."""


async def themed(pilot: Pilot[Any], theme: str) -> ProxyApp:
    """The seeded app in `theme`."""
    app = await seeded(pilot)
    app.theme = theme
    await pilot.pause()
    return app


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", SIZES)
def test_main_screen(snap_compare: Any, app: ProxyApp, size: tuple[int, int], theme: str) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await themed(pilot, theme)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", SIZES)
def test_debug(
    snap_compare: Any,
    app: ProxyApp,
    size: tuple[int, int],
    theme: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def entries(log_type: str = "all", limit: int = 500) -> list[dict[str, Any]]:
        return DEBUG_ENTRIES

    async def run_before(pilot: Pilot[Any]) -> None:
        app = await themed(pilot, theme)
        monkeypatch.setattr(app.backend, "debug_entries", entries)
        await pilot.press("d")
        await wait_for(
            lambda: app.screen.query(RichLog) and len(app.screen.query_one(RichLog).lines) >= 4,
            pilot=pilot,
        )
        no_blink(app)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", SIZES)
def test_stats(snap_compare: Any, app: ProxyApp, size: tuple[int, int], theme: str) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = await themed(pilot, theme)
        await pilot.press("s")
        await wait_for(
            lambda: app.screen.query(DataTable) and app.screen.query_one(DataTable).row_count >= 3,
            pilot=pilot,
        )
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare: Any, app: ProxyApp, size: tuple[int, int], theme: str) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = await themed(pilot, theme)
        await pilot.press("question_mark")
        await wait_for(lambda: len(app.screen_stack) == 2, pilot=pilot)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", SIZES)
def test_model_picker(snap_compare: Any, app: ProxyApp, size: tuple[int, int], theme: str) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = await themed(pilot, theme)
        await pilot.press("m")
        await wait_for(
            lambda: (
                app.screen.query("#models")
                and app.screen.query_one("#models", DataTable).row_count > 60
            ),
            pilot=pilot,
        )
        await pilot.press(*"gpt-4.1")
        no_blink(app)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", SIZES)
def test_presets(snap_compare: Any, app: ProxyApp, size: tuple[int, int], theme: str) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = await themed(pilot, theme)
        await pilot.press("p")
        await wait_for(
            lambda: (
                app.screen.query("#presets")
                and app.screen.query_one("#presets", DataTable).row_count == 7
            ),
            pilot=pilot,
        )
        await pilot.press("down", "down")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", SIZES)
def test_request_detail(
    snap_compare: Any, app: ProxyApp, size: tuple[int, int], theme: str
) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = await themed(pilot, theme)
        await pilot.press("enter")
        await wait_for(
            lambda: (
                app.screen.query("#upstream-json")
                and "gpt-4.1" in app.screen.query_one("#upstream-json", TextArea).text
            ),
            pilot=pilot,
        )
        no_blink(app)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_history(snap_compare: Any, app: ProxyApp, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = await seeded(pilot)
        await pilot.press("h")
        await wait_for(
            lambda: (
                app.screen.query("#history-status")
                # The session list comes after the first page.
                and "4 of 4 turns · 1 session"
                in str(app.screen.query_one("#history-status").render())
            ),
            timeout=15.0,
            pilot=pilot,
        )
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
