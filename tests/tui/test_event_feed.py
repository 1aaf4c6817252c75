"""The attached app's event feed against a scripted /events server: resume, dropped, restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web

from app.client import event_feed
from app.client.bridge import EventSink
from app.client.event_feed import SSEParser
from app.client.remote_backend import RemoteBackend
from app.client.requests import LIVE, PROXY_RESTARTED, RequestStore
from proxy.state.events import REQUEST_STARTED, ProxyEvent
from tests.support.tui_support import wait_for


def frame(event_id: int | None, kind: str, data: dict[str, Any]) -> bytes:
    """One SSE frame as the proxy writes it."""
    head = b"id: %d\n" % event_id if event_id is not None else b""
    return head + b"event: %s\ndata: %s\n\n" % (kind.encode(), orjson.dumps(data))


def started(event_id: int, request_id: str) -> bytes:
    """A request_started frame, with the proxy's totals as it sends them (its event id as total)."""
    data = {"requested": "claude-sonnet-4-5", "model": "openai/gpt-4.1", "tier": "big"}
    totals = {"total": event_id, "in_flight": 1, "errors": 0, "tokens": 0, "cost": 0.0}
    data = {**data, "request_id": request_id, "time": 1.0, "totals": totals}
    return frame(event_id, "request_started", data)


class ScriptedProxy:
    """/config and /events; each /events connection plays the next script, then closes."""

    def __init__(self, scripts: list[list[bytes]], uptimes: list[float]) -> None:
        self.scripts = scripts
        self.uptimes = uptimes
        self.config_calls = 0
        self.last_event_ids: list[str | None] = []

    async def config(self, request: web.Request) -> web.Response:
        uptime = self.uptimes[min(self.config_calls, len(self.uptimes) - 1)]
        self.config_calls += 1
        body = {
            "big_model": {"model": "openai/gpt-4.1"},
            "small_model": {"model": "openai/gpt-4.1-mini"},
            "active_preset": None,
            "counters": {"total": 0, "in_flight": 0, "errors": 0},
            "keys": {"OPENAI_API_KEY": {"set": True}},
            "upstream_bases": {},
            "uptime_seconds": uptime,
        }
        return web.json_response(body)

    async def events(self, request: web.Request) -> web.StreamResponse:
        self.last_event_ids.append(request.headers.get("Last-Event-ID"))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        script = self.scripts.pop(0) if self.scripts else []
        await response.write(b": connected\n\n" + b"".join(script))
        if not self.scripts:
            await response.write(b": keep-alive\n\n")
            await asyncio.sleep(30)  # held open until the test's cleanup cancels it
        return response


@pytest.fixture
async def scripted(request: pytest.FixtureRequest) -> AsyncIterator[tuple[ScriptedProxy, str]]:
    """The scripted proxy on a loopback port."""
    proxy = ScriptedProxy(*request.param)
    app = web.Application()
    app.router.add_get("/config", proxy.config)
    app.router.add_get("/events", proxy.events)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield proxy, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def follow(url: str, until: Any, monkeypatch: pytest.MonkeyPatch) -> RemoteBackend:
    """Run a backend's feed until `until(backend)` holds; return the stopped backend."""
    monkeypatch.setattr(event_feed, "INITIAL_BACKOFF", 0.05)
    backend = RemoteBackend(url)
    await backend.start()
    try:
        await wait_for(lambda: until(backend), timeout=5)
    finally:
        await backend.stop()
    return backend


def kinds(sink: EventSink) -> list[tuple[str, str]]:
    """(kind, request id) of what reached the sink."""
    return [(event.kind, event.request_id) for event in sink.queue]


RESUME = ([[started(1, "a"), started(2, "b")], [started(3, "c")]], [500.0])


@pytest.mark.parametrize("scripted", [RESUME], indirect=True)
async def test_reconnect_resumes_with_last_event_id(
    scripted: tuple[ScriptedProxy, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy, url = scripted
    backend = await follow(url, lambda b: len(b.sink.queue) == 3, monkeypatch)
    assert proxy.last_event_ids == [None, "2"]
    assert kinds(backend.sink) == [(REQUEST_STARTED, r) for r in "abc"]
    # The numbers are the proxy's own, from its newest live event (nothing is counted here).
    assert backend.counts.total == 3 and backend.link.generation == 2


DROPPED = ([[frame(None, "dropped", {"last_id": 9})]], [500.0])


@pytest.mark.parametrize("scripted", [DROPPED], indirect=True)
async def test_dropped_events_refetch_the_state(
    scripted: tuple[ScriptedProxy, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy, url = scripted
    backend = await follow(url, lambda b: proxy.config_calls >= 2, monkeypatch)
    await wait_for(lambda: backend.link.generation >= 1)
    assert not backend.sink.queue  # the notice itself is not an event for the log


# Up for 500 s at first, then for 0.01 s: it restarted while we were away.
RESTART = ([[started(7, "old")], [started(1, "new")]], [500.0, 0.01])


@pytest.mark.parametrize("scripted", [RESTART], indirect=True)
async def test_a_restarted_proxy_is_replayed_from_its_start(
    scripted: tuple[ScriptedProxy, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy, url = scripted
    backend = await follow(url, lambda b: len(b.sink.queue) == 3, monkeypatch)
    assert proxy.last_event_ids == [None, "0"]
    assert kinds(backend.sink) == [
        (REQUEST_STARTED, "old"),
        (PROXY_RESTARTED, ""),
        (REQUEST_STARTED, "new"),
    ]
    # The request the old process was serving never ends: the log marks it lost.
    store = RequestStore()
    backend.sink.drain(store)
    old, new = store.get("old"), store.get("new")
    assert old is not None and old.status == "error" and "restarted" in str(old.error)
    assert new is not None and new.status == LIVE


def test_sse_parser_joins_split_frames_and_skips_comments() -> None:
    parser = SSEParser()
    wire = b": replay\n\n" + frame(5, "text_delta", {"text": "a\nb"}) + b": connected\n\n"
    wire += b"id: 6\r\nevent: first_token\r\ndata: {}\r\n\r\n"
    frames = []
    for i in range(0, len(wire), 7):
        frames += list(parser.feed(wire[i : i + 7]))
    assert [(f[0], f[1]) for f in frames] == [(5, "text_delta"), (6, "first_token")]
    assert orjson.loads(frames[0][2]) == {"text": "a\nb"}
    assert parser.connected


def test_store_marks_only_live_requests_lost() -> None:
    store = RequestStore()
    sink = EventSink()
    sink(ProxyEvent(REQUEST_STARTED, "r1", {}, time.time()))
    sink(ProxyEvent(PROXY_RESTARTED, ""))
    frame_ = sink.drain(store)
    assert frame_ is not None and list(frame_.changed) == ["r1"]
    assert store.get("r1").status == "error"  # type: ignore[union-attr]
