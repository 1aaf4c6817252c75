"""Connections and memory stay bounded: idle and slow clients are closed by the timeouts, /events
streams are capped, and the replay ring holds no answers whatever they weigh."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
import orjson

from proxy.server.connections import EnvelopeRequestHandler, EnvelopeServer
from proxy.server.event_stream import HUB, QUEUE_BYTES, RING_BYTES
from proxy.server.request_detail import RING
from proxy.server.runner import ProxyServer
from tests.conftest import ProxyFactory
from tests.proxy.security.client import raw_connection, send
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.mgmt import BIG, SMALL, turn

# Bounds for waits, never asserted as durations: a regression hangs into them and fails.
BOUND = 30.0


def server_connections(proxy: ProxyServer) -> int:
    """Connections the proxy's server holds open right now."""
    assert proxy.runner is not None and proxy.runner.server is not None
    return len(proxy.runner.server.connections)


async def wait_until(condition: Any, bound: float = BOUND) -> None:
    """Poll until `condition()` holds, failing after `bound` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    while not condition():
        assert loop.time() < deadline, "condition never held"
        await asyncio.sleep(0.02)


async def test_a_thousand_idle_connections_are_closed(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(KEEPALIVE_TIMEOUT="1")
    async with contextlib.AsyncExitStack() as stack:
        readers = []
        for _ in range(1000):
            reader, _ = await stack.enter_async_context(raw_connection(proxy.port))
            readers.append(reader)
        ends = await asyncio.wait_for(asyncio.gather(*(r.read() for r in readers)), BOUND)
        assert ends == [b""] * 1000  # every one closed by the server, none answered
        await wait_until(lambda: server_connections(proxy) == 0)
    # The proxy still serves.
    assert (await send(proxy.url, "GET", "/health")).status == 200


async def test_a_keep_alive_connection_is_closed_after_its_request(
    make_proxy: ProxyFactory,
) -> None:
    proxy = await make_proxy(KEEPALIVE_TIMEOUT="0.5")
    async with raw_connection(proxy.port) as (reader, writer):
        writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), BOUND)
        assert head.startswith(b"HTTP/1.1 200")
        length = int(
            next(
                line.split(b":")[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        await reader.readexactly(length)
        assert await asyncio.wait_for(reader.read(), BOUND) == b""


async def test_a_slow_header_client_is_closed(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(KEEPALIVE_TIMEOUT="0.5")
    async with raw_connection(proxy.port) as (reader, writer):
        writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sent = 0
        closed = False
        # One header line every 50 ms, for up to BOUND seconds: far longer than the timeout.
        while sent < BOUND / 0.05:
            try:
                writer.write(b"X-Slow-%d: a\r\n" % sent)
                await writer.drain()
            except (ConnectionError, OSError):
                closed = True
                break
            sent += 1
            with contextlib.suppress(TimeoutError):
                if await asyncio.wait_for(reader.read(1), 0.05) == b"":
                    closed = True
                    break
        assert closed, "the server kept waiting for headers"
    await wait_until(lambda: server_connections(proxy) == 0)


async def test_a_slow_body_gets_a_408_envelope(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, BODY_TIMEOUT="0.5")
    async with raw_connection(proxy.port) as (reader, writer):
        writer.write(
            b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model": '
        )
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), BOUND)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert orjson.loads(body)["error"]["type"] == "timeout_error"


async def test_the_33rd_events_subscriber_is_refused(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy()
    hub = proxy.runner.app[HUB]  # type: ignore[union-attr]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        open_streams = []
        for _ in range(32):
            response = await session.get(proxy.url + "/events")
            assert response.status == 200
            await response.content.readuntil(b": connected\n\n")
            open_streams.append(response)
        refused = await send(proxy.url, "GET", "/events")
        assert refused.status == 503
        assert refused.json["error"]["type"] == "overloaded_error"
        assert "MAX_EVENT_SUBSCRIBERS" in refused.error
        assert len(hub.subscribers) == 32
        open_streams.pop().close()
        await wait_until(lambda: len(hub.subscribers) == 31)
        again = await session.get(proxy.url + "/events")
        assert again.status == 200
        again.close()
        for response in open_streams:
            response.close()


async def test_the_events_ring_holds_no_answers_and_stays_bounded(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    hub = proxy.runner.app[HUB]  # type: ignore[union-attr]
    ring = proxy.runner.app[RING]  # type: ignore[union-attr]
    answer_text = "0123456789abcdef" * 65536  # 1 MiB
    marker = b"0123456789abcdef" * 4
    upstream.default = Reply(text=answer_text, chunk_size=65536)
    async with raw_connection(proxy.port) as (_, stalled):
        # A subscriber that never reads: its queue must stay bounded too.
        stalled.write(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await stalled.drain()
        await wait_until(lambda: len(hub.subscribers) == 1)
        for position in range(12):
            body = turn(f"question {position}", stream=position % 2 == 1)
            answer = await send(proxy.url, "POST", "/v1/messages", json_body=body)
            assert answer.status == 200
        await asyncio.sleep(0.1)
        (subscriber,) = hub.subscribers
        assert subscriber.queued_bytes <= QUEUE_BYTES
        assert sum(len(f) for f in list(subscriber.queue._queue)) <= QUEUE_BYTES  # type: ignore[attr-defined]
    assert hub.ring_bytes <= RING_BYTES
    assert hub.ring_bytes == sum(len(frame) for _, frame in hub.ring)
    assert not any(marker in frame for _, frame in hub.ring)
    finished = [f for _, f in hub.ring if b"event: request_finished" in f]
    assert len(finished) == 12
    kept = orjson.loads(finished[-1].split(b"data: ", 1)[1])
    assert "content" not in kept["message"]
    assert kept["message"]["usage"]["output_tokens"] > 0 and kept["stop_reason"]
    # DELETE /conversation forgets the replay ring and the request bodies too.
    assert ring.entries
    cleared = await send(proxy.url, "DELETE", "/conversation")
    assert cleared.status == 200
    assert (len(hub.ring), hub.ring_bytes, len(ring.entries)) == (0, 0, 0)
    async with (
        aiohttp.ClientSession() as session,
        session.get(proxy.url + "/events", headers={"Last-Event-ID": "3"}) as response,
    ):
        replayed = await response.content.readuntil(b": connected\n\n")
    assert replayed.startswith(b"event: dropped")  # the client knows to refetch state


async def test_live_subscribers_still_get_the_whole_answer(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    upstream.default = Reply(text="live answer text")
    async with (
        aiohttp.ClientSession() as session,
        session.get(proxy.url + "/events") as response,
    ):
        await response.content.readuntil(b": connected\n\n")
        assert (await send(proxy.url, "POST", "/v1/messages", json_body=turn("q"))).status == 200
        frame = await asyncio.wait_for(
            response.content.readuntil(b"event: request_finished"), BOUND
        )
        data = await asyncio.wait_for(response.content.readuntil(b"\n\n"), BOUND)
    assert b"request_started" in frame
    message = orjson.loads(data.split(b"data: ", 1)[1])["message"]
    assert message["content"][0]["text"] == "live answer text"


async def test_the_runner_reaches_into_aiohttp_as_expected(make_proxy: ProxyFactory) -> None:
    """ProxyAppRunner overrides aiohttp's private `_make_server`: an upgrade that changes it
    fails here (and in the long-URL envelope test), not silently in production."""
    proxy = await make_proxy(KEEPALIVE_TIMEOUT="7")
    assert proxy.runner is not None
    server = proxy.runner.server
    assert isinstance(server, EnvelopeServer)
    handler = server()
    assert isinstance(handler, EnvelopeRequestHandler)
    assert handler.keepalive_timeout == 7.0


async def test_rotating_keys_do_not_buy_new_rate_limit_buckets(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, REQUESTS_PER_MINUTE="3")
    statuses = []
    for position in range(5):
        answer = await send(
            proxy.url,
            "POST",
            "/v1/messages",
            headers={"x-api-key": f"rotating-key-{position}"},
            json_body=turn("x"),
        )
        statuses.append(answer.status)
    assert statuses == [200, 200, 200, 429, 429]
    assert len(upstream.requests) == 3
