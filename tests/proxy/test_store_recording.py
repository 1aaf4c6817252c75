"""Every request through the proxy becomes one row in the store, with the fields the issue lists.

Real proxy on loopback, real SQLite file in the test's DATA_DIR, the official SDK as the client.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from app.client.remote_backend import RemoteBackend
from proxy.core import catalogue
from proxy.server.runner import ProxyServer
from proxy.state import recorder
from proxy.store import db, queries
from proxy.store.writer import StoreWriter
from tests.conftest import DIALECT_MODELS, FAKE_KEYS, ProxyFactory
from tests.support.fake_upstream import FakeUpstream, Reply, ToolCall
from tests.support.messages_support import SDK
from tests.support.mgmt import SESSION, ask, call, turn

UA = "claude-cli/2.1.197 (external, cli)"
READ = {
    "name": "Read",
    "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}},
}
REQUEST: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 500,
    "messages": [{"role": "user", "content": "read the app"}],
    "tools": [READ],
}


async def recorded(proxy: ProxyServer, limit: int = 100) -> list[dict[str, Any]]:
    """The newest requests in the store, newest first (after the writer caught up)."""
    return await proxy.service.recording.read(queries.recent_requests, limit)


@pytest.fixture(params=[False, True], ids=["whole", "stream"])
def stream(request: pytest.FixtureRequest) -> bool:
    """Non-streaming and streaming in turn."""
    return bool(request.param)


async def test_a_request_is_recorded_with_its_fields(
    make_proxy: ProxyFactory, upstream: FakeUpstream, engine: str, stream: bool
) -> None:
    big, small = DIALECT_MODELS["openai"]
    proxy = await make_proxy(BIG_MODEL=big, SMALL_MODEL=small, UPSTREAM_ENGINE=engine)
    await proxy.service.switch_model(preset="openai_premium")
    upstream.script.append(
        Reply(
            text="Reading it.",
            tool_calls=[ToolCall("Read", {"file_path": "/src/app.py"})],
            prompt_tokens=100,
            completion_tokens=20,
            cached_tokens=30,
        )
    )
    async with SDK(proxy, default_headers={"User-Agent": UA, SESSION: "sess-1"}) as sdk:
        message = await sdk.ask(REQUEST, stream)
    [row] = await recorded(proxy)
    model = "openai/gpt-5.5"  # the preset's big model
    assert row["id"].startswith("req_")
    assert row["session_id"] == "sess-1" and row["client"] == UA
    assert row["endpoint"] == "messages" and row["origin"] == "client"
    assert row["requested_model"] == "claude-sonnet-4-5"
    assert (row["model"], row["provider"], row["preset"]) == (model, "openai", "openai_premium")
    assert row["reason"] and row["stream"] is stream
    assert row["status"] == 200 and row["error_type"] is None and row["error_message"] is None
    assert (row["input_tokens"], row["output_tokens"]) == (70, 20)
    assert (row["cache_read_tokens"], row["cache_write_tokens"]) == (30, 0)
    assert row["cost"] == pytest.approx(catalogue.cost_usd(model, 70, 20, 30))
    in_memory = proxy.service.stats.snapshot()["models"][model]["cost"]  # rounded to 6 places
    assert row["cost"] == pytest.approx(in_memory, abs=1e-6)
    assert row["stop_reason"] == message["stop_reason"] == "tool_use"
    assert row["tool_calls"] == [{"name": "Read", "input": {"file_path": "/src/app.py"}}]
    assert row["ttft"] is not None and 0 < row["ttft"] <= row["duration"]
    # No bodies unless RECORD_BODIES is on.
    detail = await proxy.service.recording.read(queries.request, row["id"])
    assert detail is not None and detail["request_body"] is None


async def test_an_anthropic_stream_records_tool_input_and_cache_writes(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    big, small = DIALECT_MODELS["anthropic"]
    proxy = await make_proxy(BIG_MODEL=big, SMALL_MODEL=small, RECORD_BODIES="true")
    upstream.script.append(
        Reply(
            text="",
            tool_calls=[ToolCall("Bash", {"command": "ls -la", "timeout": 5})],
            prompt_tokens=1_040,
            cached_tokens=40,
            cache_write_tokens=500,
            completion_tokens=9,
            chunk_size=4,
        )
    )
    async with SDK(proxy) as sdk:
        await sdk.ask(REQUEST, stream=True)
    [row] = await recorded(proxy)
    assert row["model"] == big and row["provider"] == "anthropic"
    assert (row["input_tokens"], row["output_tokens"]) == (1_000, 9)
    assert (row["cache_read_tokens"], row["cache_write_tokens"]) == (40, 500)
    assert row["cost"] == pytest.approx(catalogue.cost_usd(big, 1_000, 9, 40, 500))
    assert row["cost"] > catalogue.cost_usd(big, 1_000, 9, 40)
    assert row["tool_calls"] == [{"name": "Bash", "input": {"command": "ls -la", "timeout": 5}}]
    # RECORD_BODIES: the request as routed and the answer as the events saw it.
    detail = await proxy.service.recording.read(queries.request, row["id"])
    assert detail is not None
    assert detail["request_body"]["messages"] == REQUEST["messages"]
    assert detail["response_body"]["stop_reason"] == "tool_use"


async def test_a_failed_request_is_recorded_with_the_key_masked(
    make_proxy: ProxyFactory, upstream: FakeUpstream, engine: str
) -> None:
    big, small = DIALECT_MODELS["openai"]
    proxy = await make_proxy(
        BIG_MODEL=big, SMALL_MODEL=small, UPSTREAM_ENGINE=engine, MAX_RETRIES=0
    )
    key = FAKE_KEYS["OPENAI_API_KEY"]
    upstream.script.append(Reply(status=400, error_message=f"bad request for key {key}"))
    answer = await call(proxy.url, "POST", "/v1/messages", turn("fail", stream=True))
    assert answer.status == 400
    [row] = await recorded(proxy)
    assert row["status"] == 400 and row["error_type"] == "invalid_request_error"
    assert "bad request for key" in row["error_message"]
    assert key not in row["error_message"] and key[-4:] in row["error_message"]
    assert row["input_tokens"] == row["output_tokens"] == 0 and row["cost"] == 0
    assert row["stream"] is True and row["ttft"] is None
    stats = await call(proxy.url, "GET", "/stats")
    assert stats.json["all_time"]["errors"] == 1


async def test_a_stream_that_fails_midway_keeps_its_ttft(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    big, small = DIALECT_MODELS["openai"]
    proxy = await make_proxy(BIG_MODEL=big, SMALL_MODEL=small, MAX_RETRIES=0)
    upstream.script.append(Reply(text="a long answer that is cut", fault="cut"))
    await call(proxy.url, "POST", "/v1/messages", turn("cut", stream=True))
    [row] = await recorded(proxy)
    assert row["status"] == 502 and row["error_type"] == "api_error"
    assert row["ttft"] is not None


async def test_the_tuis_probe_and_replay_are_marked(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    big, small = DIALECT_MODELS["openai"]
    proxy = await make_proxy(BIG_MODEL=big, SMALL_MODEL=small)
    backend = RemoteBackend(proxy.url)
    assert (await backend.probe("small")).ok
    assert (await backend.replay(turn("again"), "claude-sonnet-4-5")).ok
    await ask(proxy.url, turn("from a client"))
    # Only the TUI's two values count: anything else is an ordinary client.
    await call(
        proxy.url, "POST", "/v1/messages", turn("x"), headers={"x-claude-proxy-origin": "evil"}
    )
    rows = await recorded(proxy)
    assert [r["origin"] for r in reversed(rows)] == ["probe", "replay", "client", "client"]
    assert rows[-1]["model"] == small and rows[-1]["session_id"] == "probe"


async def test_a_request_refused_before_routing_is_recorded(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy(BIG_MODEL="gemini/gemini-2.5-pro", GEMINI_API_KEY="")
    answer = await call(
        proxy.url, "POST", "/v1/messages", turn("no key"), headers={"User-Agent": UA}
    )
    assert answer.status == 401
    [row] = await recorded(proxy)
    assert row["status"] == 401 and row["client"] == UA
    assert row["model"] == "gemini/gemini-2.5-pro" and "GEMINI_API_KEY" in row["error_message"]


async def test_store_off(make_proxy: ProxyFactory, upstream: FakeUpstream) -> None:
    proxy = await make_proxy(STORE_ENABLED="false")
    await ask(proxy.url, turn("not recorded"))
    health = (await call(proxy.url, "GET", "/health")).json
    assert health["recording"] == {"state": "off", "reason": "STORE_ENABLED is off"}
    usage = await call(proxy.url, "GET", "/usage")
    assert usage.status == 503 and "recording is off" in usage.error
    stats = (await call(proxy.url, "GET", "/stats")).json
    assert stats["totals"]["requests"] == 1 and stats["all_time"] is None
    assert not (proxy.service.recording.path).exists()


async def test_recording_status_in_health_and_config(
    make_proxy: ProxyFactory, upstream: FakeUpstream, tmp_path: Path
) -> None:
    proxy = await make_proxy(DATA_DIR=str(tmp_path / "folder"))
    await ask(proxy.url, turn("hello"))
    await recorded(proxy)
    health = (await call(proxy.url, "GET", "/health")).json
    assert health["recording"] == {"state": "recording", "reason": None}
    config = (await call(proxy.url, "GET", "/config")).json["recording"]
    # One request and its two history turns.
    assert config["state"] == "recording" and config["rows_written"] == 3
    assert config["path"] == str(tmp_path / "folder" / db.DB_NAME)
    assert (tmp_path / "folder").stat().st_mode & 0o777 == 0o700


async def test_a_stalled_disk_never_slows_a_stream(
    make_proxy: ProxyFactory, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer blocks inside SQLite (a progress handler waits on an event) while ten streams
    run: every stream completes while it is still blocked, and all rows arrive once it is free."""
    stalled, release = threading.Event(), threading.Event()
    armed = threading.Event()

    def progress() -> int:
        if armed.is_set():
            stalled.set()
            release.wait(60)
        return 0

    def slow_writer(path: Path, **kwargs: Any) -> StoreWriter:
        hook = lambda conn: conn.set_progress_handler(progress, 50)  # noqa: E731
        return StoreWriter(path, connect_hook=hook, **kwargs)

    monkeypatch.setattr(recorder, "StoreWriter", slow_writer)
    big, small = DIALECT_MODELS["openai"]
    proxy = await make_proxy(BIG_MODEL=big, SMALL_MODEL=small)
    armed.set()
    try:
        await ask(proxy.url, turn("first"))
        assert await asyncio.to_thread(stalled.wait, 30)
        upstream.script += [Reply(text="x" * 200, chunk_size=2) for _ in range(10)]
        answers = await asyncio.gather(
            *(ask(proxy.url, turn(f"s{n}", stream=True)) for n in range(10))
        )
        # All ten streams ended with the writer still stuck in its first transaction.
        assert all(a.status == 200 for a in answers)
        assert not release.is_set() and proxy.service.recording.status()["rows_written"] == 0
    finally:
        armed.clear()
        release.set()
    rows = await recorded(proxy)
    assert len(rows) == 11 and all(r["status"] == 200 for r in rows)
