"""The idle and total bounds of upstream requests (`upstreams.http.UpstreamClock`).

One timer per loop looks at the requests in flight instead of aiohttp's timers per request, so
each bound must hold in every phase: waiting for the answer, reading a whole answer, reading a
stream; and a cancel that is not the clock's must stay a cancel. Real loopback servers, no mocks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web

from proxy.core.errors import ProxyError
from proxy.core.settings import load_settings
from proxy.routing.model_map import Target
from proxy.server.runner import ProxyServer
from proxy.upstreams import http as upstream_http
from proxy.upstreams.wire import UpstreamPool, UpstreamResponse
from tests.conftest import ProxyFactory
from tests.support.local_server import serve_app
from tests.support.messages_support import raw_post
from tests.support.stream_validator import validate_anthropic_stream

ANSWER = orjson.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4.1",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "slow but whole"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9},
    }
)
REQUEST = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "hi"}],
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Start a one-route loopback server answering /v1/chat/completions with a handler."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", handler)
        runner, port = await serve_app(app, handler_cancellation=True)
        runners.append(runner)
        return f"http://127.0.0.1:{port}/v1"

    yield start
    for runner in runners:
        await runner.cleanup()


def _trickle(pieces: int, pause: float, stop_after: int | None = None) -> Handler:
    """A whole JSON answer sent in `pieces` parts `pause` s apart (hanging after `stop_after`)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = len(ANSWER)
        await response.prepare(request)
        size = -(-len(ANSWER) // pieces)
        for i in range(pieces):
            if stop_after is not None and i == stop_after:
                await asyncio.sleep(60)
            await response.write(ANSWER[i * size : (i + 1) * size])
            await asyncio.sleep(pause)
        await response.write_eof()
        return response

    return handler


def _endless_stream(pause: float) -> Handler:
    """An OpenAI stream that never ends: a text chunk every `pause` s."""

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        chunk = {"choices": [{"index": 0, "delta": {"content": "more "}}]}
        while True:
            await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
            await asyncio.sleep(pause)

    return handler


async def _hang(request: web.Request) -> web.StreamResponse:
    await request.read()
    await asyncio.sleep(60)
    return web.Response()


async def _proxy_to(make_proxy: ProxyFactory, base: str, **env: Any) -> ProxyServer:
    """A proxy whose big model is served by the test's server at `base`, without retries."""
    return await make_proxy(BIG_MODEL="openai/gpt-4.1", OPENAI_API_BASE=base, MAX_RETRIES=0, **env)


def _assert_timeout(response: httpx.Response) -> None:
    assert response.status_code == 504, response.text
    assert response.json()["error"]["type"] == "timeout_error"


async def test_a_whole_answer_read_slowly_within_the_idle_period_arrives(
    make_proxy: ProxyFactory, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    base = await serve(_trickle(pieces=6, pause=0.25))
    proxy = await _proxy_to(make_proxy, base, STREAM_IDLE_TIMEOUT=0.6)
    response = await raw_post(proxy, REQUEST)  # 1.5 s in all, never 0.6 s without a byte
    assert response.status_code == 200, response.text
    assert response.json()["content"][0]["text"] == "slow but whole"


async def test_a_whole_answer_that_stops_midway_is_a_504(
    make_proxy: ProxyFactory, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    base = await serve(_trickle(pieces=4, pause=0.05, stop_after=2))
    proxy = await _proxy_to(make_proxy, base, STREAM_IDLE_TIMEOUT=0.4)
    _assert_timeout(await raw_post(proxy, REQUEST))


async def test_request_timeout_ends_a_stream_that_never_stops(
    make_proxy: ProxyFactory, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    base = await serve(_endless_stream(pause=0.05))
    proxy = await _proxy_to(make_proxy, base, REQUEST_TIMEOUT=0.8, STREAM_IDLE_TIMEOUT=30)
    response = await raw_post(proxy, {**REQUEST, "stream": True})
    assert response.status_code == 200
    result = validate_anthropic_stream(response.content)
    assert result["type"] == "error"
    assert result["error"]["type"] == "timeout_error"
    assert response.content.count(b"more ") > 3  # it streamed until the bound


async def test_waiting_for_the_answer_past_the_request_timeout_is_a_504(
    make_proxy: ProxyFactory, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    base = await serve(_hang)
    proxy = await _proxy_to(make_proxy, base, REQUEST_TIMEOUT=0.4, STREAM_IDLE_TIMEOUT=30)
    _assert_timeout(await raw_post(proxy, REQUEST))


async def _post_hanging(http: UpstreamPool, base: str, idle: str) -> UpstreamResponse:
    """`upstream_http.post` to a server that never answers, with STREAM_IDLE_TIMEOUT `idle`."""
    settings = load_settings(
        environ={"STREAM_IDLE_TIMEOUT": idle, "REQUEST_TIMEOUT": "30"}, listen_checks=False
    )
    target = Target("claude", "openai/gpt-4.1", "openai", "gpt-4.1", "openai", None, None)
    return await upstream_http.post(
        http, target, base + "/chat/completions", {}, {"model": "m"}, settings
    )


async def test_a_cancel_that_is_not_the_clocks_stays_a_cancel(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    """A client that goes away cancels the request: that must not become a 504 (a retry)."""
    base = await serve(_hang)
    http = UpstreamPool()
    task = asyncio.ensure_future(_post_hanging(http, base, "30"))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await http.close()


async def test_the_clocks_timeout_is_a_504_and_the_clock_stops_after(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    base = await serve(_hang)
    loop = asyncio.get_running_loop()
    http = UpstreamPool()
    with pytest.raises(ProxyError) as failure:
        await _post_hanging(http, base, "0.3")
    assert failure.value.status == 504
    assert failure.value.error_type == "timeout_error"
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
    # Nothing in flight: the clock's next look finds nobody and it stops.
    for _ in range(50):
        if loop not in upstream_http._CLOCKS:
            break
        await asyncio.sleep(0.05)
    assert loop not in upstream_http._CLOCKS
    await http.close()
