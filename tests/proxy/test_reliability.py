"""Issue 5 against the real proxy: auth, bind, retries, fallback, rate limits, body cap, disconnects."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import anthropic
import pytest

from proxy.core.settings import ConfigError, load_settings
from tests.conftest import ProxyFactory
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.stream_validator import validate_anthropic_stream

BODY = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "hi"}],
}


async def post(
    url: str, body: object, headers: dict[str, str] | None = None
) -> tuple[int, dict, bytes]:
    """POST JSON and return status, headers and raw body."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + "/v1/messages", json=body, headers=headers or {}) as response,
    ):
        return response.status, response.headers.copy(), await response.read()  # type: ignore[return-value]


def test_non_loopback_bind_needs_proxy_key() -> None:
    with pytest.raises(ConfigError, match="PROXY_API_KEY"):
        load_settings(environ={"HOST": "0.0.0.0"})
    assert load_settings(environ={"HOST": "0.0.0.0", "PROXY_API_KEY": "k" * 20}).host == "0.0.0.0"


async def test_proxy_key_required_on_every_route_but_health(make_proxy: ProxyFactory) -> None:
    key = "proxy-key-abcdefghijkl"
    proxy = await make_proxy(PROXY_API_KEY=key)
    async with aiohttp.ClientSession() as session:
        async with session.get(proxy.url + "/health") as r:
            assert r.status == 200
        for headers in ({}, {"x-api-key": "wrong"}, {"Authorization": "Bearer wrong"}):
            async with session.post(proxy.url + "/v1/messages", json=BODY, headers=headers) as r:
                assert r.status == 401
                data = await r.json()
                assert data["error"]["type"] == "authentication_error"
    ok_x = anthropic.AsyncAnthropic(base_url=proxy.url, api_key=key, max_retries=0)
    ok_bearer = anthropic.AsyncAnthropic(base_url=proxy.url, auth_token=key, max_retries=0)
    try:
        for client in (ok_x, ok_bearer):
            message = await client.messages.create(**BODY)  # type: ignore[arg-type]
            assert message.content[0].type == "text"
    finally:
        await ok_x.close()
        await ok_bearer.close()


async def test_client_key_is_not_forwarded(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy(BIG_MODEL="anthropic/claude-sonnet-4-5")
    status, _, _ = await post(proxy.url, BODY, {"x-api-key": "sk-ant-client-own-key-999"})
    assert status == 200
    sent = upstream.requests[-1].headers
    assert sent["x-api-key"] != "sk-ant-client-own-key-999"


async def test_retry_before_first_byte_then_success(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy(MAX_RETRIES=2)
    upstream.script = [
        Reply(status=503),
        Reply(status=429, headers={"retry-after": "0"}),
        Reply(text="third time"),
    ]
    status, _headers, raw = await post(proxy.url, {**BODY, "stream": True})
    assert status == 200
    message = validate_anthropic_stream(raw)
    assert message["content"][0]["text"] == "third time"
    assert len(upstream.requests) == 3


async def test_retries_are_bounded_and_keep_retry_after(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy(MAX_RETRIES=1)
    upstream.script = [Reply(status=429, headers={"retry-after": "0"})] * 3
    status, headers, _raw = await post(proxy.url, BODY)
    assert status == 429
    assert headers.get("retry-after") == "0"
    assert len(upstream.requests) == 2


async def test_non_retryable_error_is_not_retried(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy(MAX_RETRIES=3)
    upstream.script = [Reply(status=400, error_message="bad thing")]
    status, _, _raw = await post(proxy.url, BODY)
    assert status == 400
    assert len(upstream.requests) == 1


async def test_no_retry_after_first_byte(make_proxy: ProxyFactory, upstream: FakeUpstream) -> None:
    proxy = await make_proxy(MAX_RETRIES=3)
    upstream.script = [Reply(text="partial answer that is cut", fault="cut")]
    status, _, raw = await post(proxy.url, {**BODY, "stream": True})
    assert status == 200
    result = validate_anthropic_stream(raw)
    assert result["type"] == "error"
    assert len(upstream.requests) == 1


async def test_fallback_model_answers(make_proxy: ProxyFactory, upstream: FakeUpstream) -> None:
    proxy = await make_proxy(MAX_RETRIES=0, FALLBACK_MODELS="gemini/gemini-2.5-flash")
    upstream.script = [Reply(status=500), Reply(text="from the fallback")]
    status, headers, raw = await post(proxy.url, {**BODY, "stream": True})
    assert status == 200
    assert headers["x-claude-proxy-model"] == "gemini/gemini-2.5-flash"
    assert validate_anthropic_stream(raw)["content"][0]["text"] == "from the fallback"
    assert [r.dialect for r in upstream.requests] == ["openai", "gemini"]


async def test_rate_limit_per_client(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(REQUESTS_PER_MINUTE=2)
    results = [await post(proxy.url, BODY) for _ in range(3)]
    assert [r[0] for r in results] == [200, 200, 429]
    assert int(results[2][1]["retry-after"]) >= 1


async def test_concurrency_cap_queues_then_429(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy(MAX_CONCURRENCY=1, QUEUE_TIMEOUT=0.3, MAX_RETRIES=0)
    upstream.default = Reply(text="slow", delay_before=1.0)
    started = time.perf_counter()
    results = await asyncio.gather(post(proxy.url, BODY), post(proxy.url, BODY))
    statuses = sorted(r[0] for r in results)
    assert statuses == [200, 429]
    assert time.perf_counter() - started < 3


async def test_body_cap_is_413_envelope(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(MAX_BODY_BYTES=4096)
    big = {**BODY, "messages": [{"role": "user", "content": "x" * 10_000}]}
    status, _, raw = await post(proxy.url, big)
    assert status == 413
    assert b'"request_too_large"' in raw


async def test_client_disconnect_cancels_upstream(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy()
    upstream.default = Reply(text="y" * 400, chunk_size=1, delay_between_chunks=0.01)
    async with aiohttp.ClientSession() as session:
        response = await session.post(proxy.url + "/v1/messages", json={**BODY, "stream": True})
        await response.content.readany()
        response.close()
    assert await upstream.wait_for_disconnects(1, timeout=5)
    status, _, _ = await post(proxy.url, BODY)
    upstream.default = Reply()
    assert status == 200


async def test_upstream_error_echoing_a_configured_key_is_masked(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    secret = "plain-local-server-secret-42"
    proxy = await make_proxy(OPENAI_API_KEY=secret, MAX_RETRIES=0)
    upstream.script = [Reply(status=401, error_message=f"key {secret} is not valid")]
    status, _, raw = await post(proxy.url, BODY)
    assert status == 401
    assert secret.encode() not in raw
    assert b"pla...t-42" in raw


@pytest.mark.parametrize(
    "big", ["openai/gpt-4.1", "anthropic/claude-sonnet-4-5", "gemini/gemini-2.5-pro"]
)
async def test_connection_reset_and_hang_are_clean_errors(
    make_proxy: ProxyFactory, upstream: FakeUpstream, big: str
) -> None:
    proxy = await make_proxy(BIG_MODEL=big, MAX_RETRIES=0, REQUEST_TIMEOUT=1, STREAM_IDLE_TIMEOUT=1)
    upstream.script = [Reply(fault="reset"), Reply(fault="hang")]
    status, _, raw = await post(proxy.url, {**BODY, "stream": True})
    assert status == 502 and b'"api_error"' in raw
    started = time.perf_counter()
    status, _, raw = await post(proxy.url, {**BODY, "stream": True})
    assert status == 504 and b'"timeout_error"' in raw
    assert time.perf_counter() - started < 5
    status, _, _ = await post(proxy.url, BODY)
    assert status == 200
