"""GET /events: order per request under load, slow consumers, Last-Event-ID resume."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

import aiohttp
import orjson

from tests.conftest import ProxyFactory
from tests.support.fake_upstream import FakeUpstream, Reply

BODY = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 50,
    "stream": True,
    "messages": [{"role": "user", "content": "hi"}],
}


async def read_events(
    response: aiohttp.ClientResponse, until: int, timeout: float = 20.0
) -> list[tuple[int | None, str, dict]]:
    """Parse SSE frames until `until` request_finished events were seen."""
    events: list[tuple[int | None, str, dict]] = []
    finished = 0
    buffer = b""
    deadline = time.monotonic() + timeout
    while finished < until and time.monotonic() < deadline:
        chunk = await asyncio.wait_for(response.content.readany(), timeout)
        if not chunk:
            break
        buffer += chunk
        while b"\n\n" in buffer:
            raw, buffer = buffer.split(b"\n\n", 1)
            fields = dict(
                line.split(b": ", 1)
                for line in raw.split(b"\n")
                if b": " in line and not line.startswith(b":")
            )
            if b"event" not in fields:
                continue
            event_id = int(fields[b"id"]) if b"id" in fields else None
            kind = fields[b"event"].decode()
            events.append((event_id, kind, orjson.loads(fields[b"data"])))
            finished += kind == "request_finished"
    return events


async def stream_once(session: aiohttp.ClientSession, url: str) -> None:
    """One streaming request, read to the end."""
    async with session.post(url + "/v1/messages", json=BODY) as response:
        assert response.status == 200
        await response.read()


async def test_events_arrive_in_order_for_20_concurrent_streams(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy()
    upstream.default = Reply(text="abcdefghij" * 10, chunk_size=3, delay_between_chunks=0.002)
    async with aiohttp.ClientSession() as session:
        watcher = await session.get(proxy.url + "/events")
        await watcher.content.readuntil(b": connected\n\n")
        reader = asyncio.create_task(read_events(watcher, until=20))
        await asyncio.gather(*(stream_once(session, proxy.url) for _ in range(20)))
        events = await reader
        watcher.close()
    per_request: dict[str, list[str]] = defaultdict(list)
    text: dict[str, str] = defaultdict(str)
    ids = [event_id for event_id, _, _ in events if event_id is not None]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    for _, kind, data in events:
        per_request[data["request_id"]].append(kind)
        if kind == "text_delta":
            text[data["request_id"]] += data["text"]
    assert len(per_request) == 20
    for request_id, kinds in per_request.items():
        assert kinds[0] == "request_started"
        assert kinds[-1] == "request_finished"
        assert kinds.index("first_token") < kinds.index("request_finished")
        assert text[request_id] == "abcdefghij" * 10


async def test_slow_consumer_does_not_slow_the_proxy(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    """A subscriber that never reads: 30 streams still complete in full, and the subscriber is
    told it fell behind instead of holding everything (its queue is bounded)."""
    proxy = await make_proxy()
    upstream.default = Reply(text="x" * 400, chunk_size=2)
    async with aiohttp.ClientSession() as session:
        stalled = await session.get(proxy.url + "/events")  # never read again
        for _ in range(3):
            await asyncio.gather(*(stream_once(session, proxy.url) for _ in range(10)))
        stats = await (await session.get(proxy.url + "/stats")).json()
        stalled.close()
    assert stats["totals"]["requests"] == 30
    assert stats["totals"]["errors"] == 0


async def test_reconnect_with_last_event_id_resumes_without_duplicates(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy()
    async with aiohttp.ClientSession() as session:
        first = await session.get(proxy.url + "/events")
        await first.content.readuntil(b": connected\n\n")
        reader = asyncio.create_task(read_events(first, until=1))
        await stream_once(session, proxy.url)
        seen = await reader
        first.close()
        last_id = max(event_id for event_id, _, _ in seen if event_id is not None)
        await stream_once(session, proxy.url)  # happens while nobody is connected
        second = await session.get(proxy.url + "/events", headers={"Last-Event-ID": str(last_id)})
        resumed = await read_events(second, until=1)
        second.close()
    resumed_ids = [event_id for event_id, _, _ in resumed if event_id is not None]
    assert resumed_ids and min(resumed_ids) == last_id + 1
    assert {kind for _, kind, _ in resumed} >= {"request_started", "request_finished"}


async def test_debug_logs_export_as_jsonl(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy()
    async with aiohttp.ClientSession() as session:
        await stream_once(session, proxy.url)
        async with session.get(proxy.url + "/debug_logs?format=jsonl&limit=50") as response:
            assert response.status == 200
            assert response.content_type == "application/x-ndjson"
            lines = (await response.read()).splitlines()
        async with session.get(proxy.url + "/debug_logs?format=xml") as response:
            assert response.status == 400
    entries = [orjson.loads(line) for line in lines]
    assert entries and {"type", "time", "summary"} <= set(entries[0])


async def test_open_event_streams_do_not_hold_the_shutdown(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy()
    async with aiohttp.ClientSession() as session:
        watcher = await session.get(proxy.url + "/events")
        await watcher.content.readuntil(b": connected\n\n")
        stopping = asyncio.create_task(proxy.stop())
        # The stream ends cleanly (EOF after the last chunk) rather than being cut when the
        # shutdown grace runs out, and it ends before the server has finished stopping.
        assert await asyncio.wait_for(watcher.content.read(), 30) == b""
        ended_first = not stopping.done()
        await stopping
        watcher.close()
    assert ended_first
