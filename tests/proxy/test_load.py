"""Small load runs in the suite (the big ones live in bench/): concurrency, replay under faults."""

from __future__ import annotations

import asyncio
import json
import random

import aiohttp
import pytest

from tests.conftest import FIXTURES, ProxyFactory
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.stream_validator import validate_anthropic_message, validate_anthropic_stream

BODY = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 50,
    "stream": True,
    "messages": [{"role": "user", "content": "hi"}],
}


async def test_200_concurrent_streams_complete_without_loss(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy()
    upstream.default = Reply(text="0123456789" * 5, chunk_size=5)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> str:
            body = {**BODY, "messages": [{"role": "user", "content": f"request {i}"}]}
            async with session.post(proxy.url + "/v1/messages", json=body) as response:
                assert response.status == 200
                message = validate_anthropic_stream(await response.read())
                return str(message["content"][0]["text"])

        texts = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(200))), 60)
    assert texts == ["0123456789" * 5] * 200
    assert len(upstream.requests) == 200
    assert proxy.service.counters.in_flight == 0
    assert proxy.service.counters.errors == 0


def _fixture_bodies() -> list[dict]:
    if not FIXTURES.is_dir():
        pytest.skip(f"captured Claude Code fixtures not found at {FIXTURES}")
    names = [
        "main-turn-1.json",
        "main-turn-2-tool-result.json",
        "main-turn-2-image-tool-result.json",
        "subagent-explore-haiku-turn-1.json",
        "main-nonstream-fallback.json",
    ]
    return [json.loads((FIXTURES / name).read_text()) for name in names]


async def test_fixture_replay_under_load_with_a_misbehaving_upstream(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    bodies = _fixture_bodies()
    proxy = await make_proxy(MAX_RETRIES=2, RETRY_MAX_TIME=5)
    rng = random.Random(7)
    faults: list[Reply] = []
    for _ in range(200):
        roll = rng.random()
        if roll < 0.15:
            faults.append(Reply(status=rng.choice([429, 500, 503]), headers={"retry-after": "0"}))
        elif roll < 0.25:
            faults.append(Reply(text="cut short " * 20, fault="cut"))
        elif roll < 0.30:
            faults.append(Reply(fault="malformed_sse", text="with garbage inside"))
        else:
            faults.append(Reply(text="fine answer", chunk_size=3))
    upstream.script = faults
    outcomes = {"ok": 0, "stream_error": 0, "http_error": 0}
    async with aiohttp.ClientSession() as session:

        async def session_run(n: int) -> None:
            for turn in range(3):
                body = bodies[(n + turn) % len(bodies)]
                headers = {"X-Claude-Code-Session-Id": f"session-{n}"}
                async with session.post(
                    proxy.url + "/v1/messages", json=body, headers=headers
                ) as r:
                    raw = await r.read()
                    if r.status != 200:
                        envelope = json.loads(raw)
                        assert envelope["type"] == "error"
                        outcomes["http_error"] += 1
                    elif body.get("stream"):
                        result = validate_anthropic_stream(raw)
                        outcomes["stream_error" if result["type"] == "error" else "ok"] += 1
                    else:
                        validate_anthropic_message(json.loads(raw))
                        outcomes["ok"] += 1

        await asyncio.wait_for(asyncio.gather(*(session_run(n) for n in range(20))), 90)
    assert sum(outcomes.values()) == 60
    assert outcomes["ok"] >= 30, outcomes
    async with aiohttp.ClientSession() as session:
        upstream.script = []
        async with session.post(proxy.url + "/v1/messages", json=BODY) as r:
            assert r.status == 200
    assert proxy.service.counters.in_flight == 0
