"""POST /switch_model against the running proxy: presets, models, streams in flight, validation."""

from __future__ import annotations

import asyncio
import threading

import aiohttp
import pytest

from proxy.state.events import MODEL_SWITCHED, ProxyEvent
from tests.conftest import ProxyFactory
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.mgmt import BIG, SMALL, ask, call, streamed_text, turn
from tests.support.stream_validator import validate_anthropic_stream

SLOW_TEXT = "one two three four five six seven eight nine ten"


async def _stream_while(
    base: str, upstream: FakeUpstream, during: object, model: str = "claude-sonnet-4-5"
) -> str:
    """Start a slow stream, run `during()` once it is flowing, then read the stream to its end."""
    upstream.script.append(Reply(text=SLOW_TEXT, chunk_size=4, delay_between_chunks=0.03))
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/v1/messages", json=turn("slow", model, stream=True)) as response,
    ):
        assert response.status == 200
        first = await response.content.readany()
        await during()  # type: ignore[operator]
        rest = await response.read()
    raw = first + rest
    validate_anthropic_stream(raw)
    return raw.decode()


async def test_switch_by_preset_while_streaming(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    switched: list[dict] = []

    async def switch() -> None:
        answer = await call(proxy.url, "POST", "/switch_model", {"preset": "anthropic_pure"})
        assert answer.status == 200, answer.text
        switched.append(answer.json)

    raw = await _stream_while(proxy.url, upstream, switch)
    assert streamed_text(raw) == SLOW_TEXT
    # The stream in flight stayed on the model it started with.
    assert upstream.requests[0].dialect == "openai"
    assert upstream.requests[0].model == "gpt-4.1"
    assert switched[0]["active_preset"] == "anthropic_pure"
    assert switched[0]["previous"]["big_model"] == BIG
    # The next requests, big and small, go to the preset's models.
    await ask(proxy.url, turn("next"))
    await ask(proxy.url, turn("small", "claude-haiku-4-5"))
    assert (upstream.requests[1].dialect, upstream.requests[1].model) == (
        "anthropic",
        "claude-sonnet-5-5",
    )
    assert upstream.requests[2].model == "claude-haiku-5-5"
    config = (await call(proxy.url, "GET", "/config")).json
    assert config["active_preset"] == "anthropic_pure"
    assert config["big_model"] == {
        "model": "anthropic/claude-sonnet-5-5",
        "provider": "anthropic",
        "passthrough": False,
    }


async def test_switch_one_model_while_streaming(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)

    async def switch() -> None:
        answer = await call(proxy.url, "POST", "/switch_model", {"big_model": "gpt-4o"})
        assert answer.status == 200, answer.text
        assert answer.json["big_model"] == "openai/gpt-4o"
        assert answer.json["small_model"] == SMALL
        assert answer.json["active_preset"] is None

    await _stream_while(proxy.url, upstream, switch)
    assert upstream.requests[0].model == "gpt-4.1"
    await ask(proxy.url, turn("big again", stream=True))
    await ask(proxy.url, turn("small", "claude-haiku-4-5"))
    assert upstream.requests[1].model == "gpt-4o"
    assert upstream.requests[2].model == "gpt-4.1-mini"
    # small_model alone works too.
    answer = await call(
        proxy.url, "POST", "/switch_model", {"small_model": "anthropic/claude-haiku-4-5"}
    )
    assert answer.json["big_model"] == "openai/gpt-4o"
    await ask(proxy.url, turn("small", "claude-haiku-4-5"))
    assert (upstream.requests[3].dialect, upstream.requests[3].model) == (
        "anthropic",
        "claude-haiku-4-5",
    )


async def test_preserve_conversation(make_proxy: ProxyFactory, upstream: FakeUpstream) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    await ask(proxy.url, turn("remember me"))
    assert (await call(proxy.url, "GET", "/conversation")).json["total_count"] == 2
    kept = await call(proxy.url, "POST", "/switch_model", {"preset": "openai_premium"})
    assert kept.json["conversation_cleared"] is False
    assert (await call(proxy.url, "GET", "/conversation")).json["total_count"] == 2
    cleared = await call(
        proxy.url,
        "POST",
        "/switch_model",
        {"preset": "openai_premium", "preserve_conversation": False},
    )
    assert cleared.status == 200
    assert cleared.json["conversation_cleared"] is True
    assert (await call(proxy.url, "GET", "/conversation")).json == {
        "messages": [],
        "total_count": 0,
    }


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"big_model": "nosuch/model-x"}, 400, "valid prefixes: "),
        ({"small_model": "nosuch/model-x"}, 400, "small_model: unknown provider prefix"),
        ({"preset": "no_such_preset"}, 404, "openai_premium, gemini_balanced, anthropic_pure"),
        ({}, 400, "preset, big_model or small_model"),
        ({"preset": "openai_premium", "big_model": "gpt-4o"}, 400, "either preset"),
        ({"preset": "openai_premium", "preserve_conversation": "no"}, 400, "preserve_conversation"),
        ({"big": "gpt-4o"}, 400, "big: unknown field"),
        ({"big_model": 5}, 400, "big_model: must be a string"),
        ({"big_model": ""}, 400, "big_model: must be a non-empty"),
        ([1, 2], 400, "JSON object"),
    ],
)
async def test_switch_validation(
    make_proxy: ProxyFactory, body: object, status: int, needle: str
) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    answer = await call(proxy.url, "POST", "/switch_model", body)
    assert answer.status == status, answer.text
    assert needle in answer.error
    assert proxy.service.pair.big == BIG  # nothing changed


async def test_switch_bad_json(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    answer = await call(proxy.url, "POST", "/switch_model", raw=b"{not json")
    assert answer.status == 400
    assert "not valid JSON" in answer.error


async def test_switch_publishes_event_and_debug_entry(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    seen: list[ProxyEvent] = []
    proxy.service.bus.subscribe(lambda e: seen.append(e) if e.kind == MODEL_SWITCHED else None)
    await call(proxy.url, "POST", "/switch_model", {"preset": "cross_speed"})
    assert len(seen) == 1
    assert seen[0].data["new"].preset == "cross_speed"
    logs = (await call(proxy.url, "GET", "/debug_logs?log_type=switch")).json["entries"]
    assert len(logs) == 1
    assert logs[0]["details"]["new"]["big"] == "anthropic/claude-haiku-5-5"
    assert "cross_speed" in logs[0]["summary"]


async def test_switch_is_one_assignment(make_proxy: ProxyFactory) -> None:
    """A reader on another thread (the UI) never sees big from one preset and small from another."""
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    service = proxy.service
    allowed = {
        (p.big, p.small)
        for p in (service.presets.get("openai_premium"), service.presets.get("cross_speed"))
        if p
    } | {(BIG, SMALL)}
    stop = threading.Event()
    mixed: list[tuple[str | None, str | None]] = []

    def reader() -> None:
        while not stop.is_set():
            pair = service.pair
            if (pair.big, pair.small) not in allowed:
                mixed.append((pair.big, pair.small))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(300):
            await service.switch_model(preset="openai_premium" if i % 2 else "cross_speed")
            await asyncio.sleep(0)
    finally:
        stop.set()
        thread.join()
    assert mixed == []
