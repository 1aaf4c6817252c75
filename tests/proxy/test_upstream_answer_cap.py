"""A whole non-streaming answer is capped as it arrives, however the upstream sends it.

`read_capped` reads an answer with a Content-Length in one go; one that is compressed (its
length says nothing about what it inflates to) or has no length is counted piece by piece.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web

from proxy.server.runner import ProxyServer
from proxy.upstreams import http as upstream_http
from tests.support.local_server import openai_proxy, send_in_pieces, serve_app
from tests.support.mgmt import call, turn

HOW = web.AppKey("how", str)
ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4.1",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "x" * 5000},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
}


async def _answer(request: web.Request) -> web.StreamResponse:
    body = orjson.dumps(ANSWER)
    how = request.app[HOW]
    if how == "gzip":
        return web.Response(
            body=gzip.compress(body),
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
    if how == "chunked":
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        return await send_in_pieces(request, response, body)
    return web.Response(body=body, content_type="application/json")


@pytest.fixture(params=["length", "gzip", "chunked"])
async def proxy(request: pytest.FixtureRequest) -> AsyncIterator[ProxyServer]:
    app = web.Application()
    app[HOW] = request.param
    app.router.add_post("/v1/chat/completions", _answer)
    runner, port = await serve_app(app)
    server = await openai_proxy(port, MAX_RETRIES="0")
    try:
        yield server
    finally:
        await server.stop()
        await runner.cleanup()


async def test_an_answer_within_the_cap_arrives_whole(proxy: ProxyServer) -> None:
    answer = await call(proxy.url, "POST", "/v1/messages", turn("hi"))
    assert answer.status == 200, answer.text
    assert answer.json["content"][0]["text"] == "x" * 5000


async def test_an_answer_past_the_cap_is_refused_however_it_comes(
    proxy: ProxyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 5 KB of text: past a 2 KB cap whether counted from the header, inflated or in pieces.
    monkeypatch.setattr(upstream_http, "MAX_ANSWER_BYTES", 2000)
    answer = await call(proxy.url, "POST", "/v1/messages", turn("hi"))
    assert answer.status == 502, answer.text
    assert "more than 2000 bytes" in answer.text
