"""The shared LiteLLM import survives its callers: a client that leaves during the import cancels
nothing, and a failed import is reported and retried on the next request."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import aiohttp
import pytest

from proxy.core import lazy_litellm
from tests.conftest import ProxyFactory
from tests.proxy.security.client import send
from tests.support.fake_upstream import FakeUpstream
from tests.support.mgmt import turn

GEMINI = ("gemini/gemini-2.5-pro", "gemini/gemini-2.5-flash")


async def wait_until(condition: Any, bound: float = 10.0) -> None:
    """Poll until `condition()` holds (bounded, so a regression fails instead of hanging)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    while not condition():
        assert loop.time() < deadline, "condition never held"
        await asyncio.sleep(0.01)


@pytest.fixture
def litellm_module() -> Any:
    """The real module (conftest imported it once for the session)."""
    return lazy_litellm.start_import().result()


async def test_a_request_abandoned_during_the_import_breaks_nothing(
    make_proxy: ProxyFactory,
    upstream: FakeUpstream,
    monkeypatch: pytest.MonkeyPatch,
    litellm_module: Any,
) -> None:
    gate = threading.Event()

    def slow_import() -> Any:
        gate.wait(20)
        return litellm_module

    monkeypatch.setattr(lazy_litellm, "_import", slow_import)
    monkeypatch.setattr(lazy_litellm, "_future", None)
    proxy = await make_proxy(BIG_MODEL=GEMINI[0], SMALL_MODEL=GEMINI[1], MAX_RETRIES=0)
    counters = proxy.service.counters
    async with aiohttp.ClientSession() as session:
        leaving = asyncio.create_task(session.post(proxy.url + "/v1/messages", json=turn("bye")))
        await wait_until(lambda: counters.in_flight == 1)  # waiting for the import
        leaving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leaving
    await wait_until(lambda: counters.in_flight == 0)  # the proxy saw the client leave
    assert not lazy_litellm.is_ready()
    gate.set()
    answer = await send(proxy.url, "POST", "/v1/messages", json_body=turn("still there?"))
    assert answer.status == 200, answer.text
    assert answer.json["content"][0]["text"]
    counted = await send(
        proxy.url,
        "POST",
        "/v1/messages/count_tokens",
        json_body={"model": "claude-sonnet-4-5", "messages": turn("x")["messages"]},
    )
    assert counted.status == 200 and counted.json["input_tokens"] > 0


async def test_a_failed_import_is_reported_and_retried(
    make_proxy: ProxyFactory,
    upstream: FakeUpstream,
    monkeypatch: pytest.MonkeyPatch,
    litellm_module: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempts: list[int] = []

    def flaky_import() -> Any:
        attempts.append(1)
        if len(attempts) == 1:
            raise ImportError("simulated: no module named 'tokenizers'")
        return litellm_module

    monkeypatch.setattr(lazy_litellm, "_import", flaky_import)
    monkeypatch.setattr(lazy_litellm, "_future", None)
    proxy = await make_proxy(BIG_MODEL=GEMINI[0], SMALL_MODEL=GEMINI[1], MAX_RETRIES=0)
    with caplog.at_level(logging.ERROR):
        failed = await send(proxy.url, "POST", "/v1/messages", json_body=turn("first"))
    assert failed.status == 503
    assert "LiteLLM could not be imported" in failed.error
    assert any("LiteLLM import failed" in r.getMessage() for r in caplog.records)
    debug = (await send(proxy.url, "GET", "/debug_logs?log_type=error")).json["entries"]
    assert any("LiteLLM import failed" in e["summary"] for e in debug)
    # The next request imports again, and is answered.
    answer = await send(proxy.url, "POST", "/v1/messages", json_body=turn("second"))
    assert answer.status == 200, answer.text
    assert len(attempts) == 2


async def test_cancel_cannot_take_the_shared_import_down(
    monkeypatch: pytest.MonkeyPatch, litellm_module: Any
) -> None:
    gate = threading.Event()
    monkeypatch.setattr(lazy_litellm, "_import", lambda: gate.wait(20) and litellm_module)
    monkeypatch.setattr(lazy_litellm, "_future", None)
    future = lazy_litellm.start_import()
    assert future.cancel() is False
    waiter = asyncio.create_task(lazy_litellm.get_litellm())
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.set()
    assert await lazy_litellm.get_litellm() is litellm_module
