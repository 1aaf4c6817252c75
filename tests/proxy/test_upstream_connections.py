"""Upstream connections are kept for the next request: a streamed OpenAI-style answer ends with
`[DONE]` just before its HTTP body does, and releasing it at the marker used to close the
connection (every streamed request then paid a new TCP and TLS handshake). A server that says
`[DONE]` and never ends its body still gives the client its whole answer at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import anthropic
import orjson
import pytest
from aiohttp import web

from proxy.server.runner import ProxyServer
from tests.conftest import DIALECT_MODELS, ProxyFactory
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.local_server import openai_proxy

ROUNDS = 6


def _client(proxy: ProxyServer) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=proxy.url, api_key="sk-test", max_retries=0)


@pytest.mark.parametrize("dialect_", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
async def test_one_upstream_connection_serves_request_after_request(
    make_proxy: ProxyFactory, upstream: FakeUpstream, dialect_: str, stream: bool
) -> None:
    big, small = DIALECT_MODELS[dialect_]
    proxy = await make_proxy(BIG_MODEL=big, SMALL_MODEL=small)
    async with _client(proxy) as client:
        await _ask(client, upstream, stream)
    peers = {rec.peer for rec in upstream.requests}
    assert len(upstream.requests) == ROUNDS
    assert len(peers) == 1, peers


async def _ask(client: anthropic.AsyncAnthropic, upstream: FakeUpstream, stream: bool) -> None:
    for i in range(ROUNDS):
        upstream.script.append(Reply(text=f"answer {i} in a few pieces", chunk_size=4))
        params = {
            "model": "claude-sonnet-4-5",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": f"question {i}"}],
        }
        if stream:
            async with client.messages.stream(**params) as answer:  # type: ignore[arg-type]
                message = await answer.get_final_message()
        else:
            message = await client.messages.create(**params)  # type: ignore[arg-type]
        assert message.content[0].text == f"answer {i} in a few pieces"  # type: ignore[union-attr]


class HeldServer:
    """An OpenAI-style server that sends its answer and `[DONE]`, then holds its body open until
    `release` is set; it lists the peer of every request and sets `ended` on each body's end."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.ended = asyncio.Event()
        self.peers: list[object] = []
        self.port = 0

    async def completions(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        transport = request.transport
        self.peers.append(transport.get_extra_info("peername") if transport else None)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for delta, finish in (({"role": "assistant", "content": "hello"}, None), ({}, "stop")):
            chunk = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        try:
            await self.release.wait()
            await response.write_eof()
        finally:
            self.ended.set()  # also when the proxy closed the connection meanwhile
        return response


@pytest.fixture
async def held() -> AsyncIterator[HeldServer]:
    """The held server on a loopback port, and a proxy pointed at it."""
    server = HeldServer()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", server.completions)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.port = port
    try:
        yield server
    finally:
        server.release.set()
        await runner.cleanup()


async def _held_proxy(server: HeldServer) -> ProxyServer:
    return await openai_proxy(
        server.port,
        BIG_MODEL="openai/gpt-4o",
        SMALL_MODEL="openai/gpt-4o-mini",
        STORE_ENABLED="false",
    )


async def _hello(client: anthropic.AsyncAnthropic) -> None:
    params = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "hi"}],
    }
    async with client.messages.stream(**params) as answer:  # type: ignore[arg-type]
        message = await answer.get_final_message()
    assert message.content[0].text == "hello"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"


async def test_a_body_that_ends_after_done_keeps_its_connection(held: HeldServer) -> None:
    """The answer is complete at `[DONE]`; the body's end comes later, and the connection goes
    back to the pool then (released at the marker, it was closed)."""
    proxy = await _held_proxy(held)
    try:
        async with _client(proxy) as client:
            await _hello(client)
            held.release.set()
            await asyncio.wait_for(held.ended.wait(), 10)
            for _ in range(20):  # the proxy (same loop) reads the body's end
                await asyncio.sleep(0.01)
            await _hello(client)
        assert len(held.peers) == 2 and held.peers[0] == held.peers[1]
    finally:
        await proxy.stop()


async def test_done_without_the_body_end_still_answers_at_once(held: HeldServer) -> None:
    proxy = await _held_proxy(held)
    try:
        async with _client(proxy) as client:
            for _ in range(2):
                await _hello(client)
                # Answered while the server still holds its body open.
                assert not held.release.is_set()
        # The held connection was not handed to the second request.
        assert len(held.peers) == 2 and held.peers[0] != held.peers[1]
    finally:
        await proxy.stop()
