"""Errors: the Anthropic envelope with the right status, for bad requests and every upstream failure.

Upstream failures run for each dialect and both engines, streamed and not; retries are off
(MAX_RETRIES=0) so each failure is seen as it is.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import pytest

from proxy.core.settings import ConfigError, load_settings
from proxy.routing.model_map import ModelPair, resolve
from proxy.server.runner import ProxyServer
from proxy.upstreams.http import LOOP_HEADER
from proxy.upstreams.litellm import api_base_for
from tests.conftest import DIALECT_MODELS, FAKE_KEYS, ProxyFactory
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.messages_support import SDK, error_of, raw_post
from tests.support.stream_validator import validate_anthropic_stream

REQUEST: dict[str, Any] = {
    "model": "claude-opus-4-8",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "hello"}],
}
# The wording each provider uses when the prompt does not fit.
CONTEXT_MESSAGES = {
    "openai": "This model's maximum context length is 128000 tokens. However, your messages "
    "resulted in 210000 tokens. Please reduce the length of the messages.",
    "gemini": "The input token count (1048577) exceeds the maximum number of tokens allowed "
    "(1048576).",
    "anthropic": "prompt is too long: 210000 tokens > 200000 maximum",
}


@pytest.fixture(params=[False, True], ids=["whole", "stream"])
def stream(request: pytest.FixtureRequest) -> bool:
    """Non-streaming and streaming in turn."""
    return bool(request.param)


@pytest.fixture
async def strict_proxy(make_proxy: ProxyFactory, dialect: str, engine: str) -> ProxyServer:
    """The proxy for `dialect` / `engine` with retries off."""
    big, small = DIALECT_MODELS[dialect]
    return await make_proxy(BIG_MODEL=big, SMALL_MODEL=small, UPSTREAM_ENGINE=engine, MAX_RETRIES=0)


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def post(proxy: ProxyServer, stream: bool, **extra: Any) -> Any:
    """POST the standard request raw (to see status, headers and bytes as sent)."""
    return await raw_post(proxy, {**REQUEST, "stream": stream, **extra})


# ----------------------------------------------------------------------------- bad requests


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "empty"),
        (b"[1, 2]", "JSON object"),
    ],
    ids=["invalid-json", "empty", "not-an-object"],
)
@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
async def test_unparsable_body(
    make_proxy: ProxyFactory, raw: bytes, needle: str, path: str
) -> None:
    proxy = await make_proxy()
    response = await raw_post(proxy, raw, path=path)
    assert response.status_code == 400
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert needle in error["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"model": None}, "model"),
        ({"messages": None}, "messages"),
        ({"max_tokens": None}, "max_tokens"),
        ({"max_tokens": "lots"}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"messages": "hello"}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "messages.0.role"),
        ({"messages": [{"role": "user"}]}, "messages.0.content"),
        ({"messages": [{"role": "user", "content": [{"text": "no type"}]}]}, "messages.0.content"),
        ({"temperature": "hot"}, "temperature"),
        ({"stream": "yes"}, "stream"),
        ({"tools": [{"input_schema": {}}]}, "tools.0.name"),
        ({"tool_choice": {"type": "sometimes"}}, "tool_choice.type"),
        ({"system": 42}, "system"),
        ({"stop_sequences": "STOP"}, "stop_sequences"),
    ],
)
async def test_missing_or_ill_typed_field_is_named(
    make_proxy: ProxyFactory, upstream: FakeUpstream, change: dict[str, Any], field: str
) -> None:
    proxy = await make_proxy()
    body = {**REQUEST, **change}
    body = {k: v for k, v in body.items() if v is not None}
    response = await raw_post(proxy, body)
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert field in error["message"]
    assert not upstream.requests, "a bad request must not reach the upstream"


async def test_count_tokens_names_the_missing_field(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy()
    response = await raw_post(proxy, {"model": "claude-opus-4-8"}, path="/v1/messages/count_tokens")
    assert response.status_code == 400
    assert "messages" in error_of(response)["message"]


async def test_sdk_raises_its_own_error_classes(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy()
    async with SDK(proxy) as sdk:
        with pytest.raises(anthropic.BadRequestError) as caught:
            await sdk.client.messages.create(
                model="claude-opus-4-8", max_tokens=10, messages=[{"role": "robot", "content": "x"}]
            )  # type: ignore[list-item]
    assert caught.value.status_code == 400
    assert "messages.0.role" in str(caught.value)


async def test_unknown_route_is_an_anthropic_404(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy()
    response = await raw_post(proxy, REQUEST, path="/v1/complete")
    assert response.status_code == 404
    assert error_of(response)["type"] == "not_found_error"


# ----------------------------------------------------------------------------- upstream errors


@pytest.mark.parametrize(
    ("status", "message", "expected", "error_type"),
    [
        (401, "invalid x-api-key", 401, "authentication_error"),
        (403, "your key cannot use this model", 403, "permission_error"),
        (404, "model nope not found", 404, "not_found_error"),
        (429, "rate limited", 429, "rate_limit_error"),
        (500, "internal failure", 502, "api_error"),
        (502, "bad gateway", 502, "api_error"),
        (503, "The model is overloaded. Please try again later.", 529, "overloaded_error"),
        (529, "Overloaded", 529, "overloaded_error"),
    ],
)
async def test_upstream_status_mapping(
    strict_proxy: ProxyServer,
    upstream: FakeUpstream,
    stream: bool,
    status: int,
    message: str,
    expected: int,
    error_type: str,
) -> None:
    headers = {"retry-after": "17"} if status == 429 else {}
    upstream.script.append(Reply(status=status, error_message=message, headers=headers))
    response = await post(strict_proxy, stream)
    assert response.status_code == expected, response.text
    error = error_of(response)
    assert error["type"] == error_type
    assert message in error["message"], "the provider's own words must reach the user"
    assert "litellm." not in error["message"]
    if status == 429:
        assert response.headers.get("retry-after") == "17"
    assert len(upstream.requests) == 1


async def test_context_length_exceeded_says_prompt_is_too_long(
    strict_proxy: ProxyServer, upstream: FakeUpstream, dialect: str, stream: bool
) -> None:
    """Claude Code compacts the conversation when the message starts 'prompt is too long:'."""
    upstream.script.append(Reply(status=400, error_message=CONTEXT_MESSAGES[dialect]))
    response = await post(strict_proxy, stream)
    assert response.status_code == 400
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("prompt is too long:")
    assert error["message"].count("prompt is too long") == 1


async def test_plain_bad_request_stays_a_400(
    strict_proxy: ProxyServer, upstream: FakeUpstream, stream: bool
) -> None:
    upstream.script.append(Reply(status=400, error_message="tools.0.name: bad pattern"))
    response = await post(strict_proxy, stream)
    assert response.status_code == 400
    error = error_of(response)
    assert not error["message"].startswith("prompt is too long")
    assert "bad pattern" in error["message"]


@pytest.mark.parametrize("fault", ["html", "empty"])
async def test_garbage_answer_is_a_502(
    strict_proxy: ProxyServer, upstream: FakeUpstream, stream: bool, fault: str
) -> None:
    upstream.script.append(Reply(fault=fault))
    response = await post(strict_proxy, stream)
    assert response.status_code == 502, response.text
    assert error_of(response)["type"] == "api_error"


@pytest.mark.parametrize("fault", ["cut", "sse_error"])
async def test_error_after_stream_start_is_an_error_event(
    strict_proxy: ProxyServer, upstream: FakeUpstream, dialect: str, fault: str
) -> None:
    # Paced, so the failure arrives in a later network read than the first frames.
    upstream.script.append(
        Reply(
            text="This answer will break off half way",
            fault=fault,
            error_message="it broke",
            delay_between_chunks=0.02,
        )
    )
    response = await post(strict_proxy, True)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    result = validate_anthropic_stream(response.content)
    assert result["type"] == "error", "a broken stream must not look like a complete answer"
    assert result["error"]["type"] in ("api_error", "overloaded_error")
    if fault == "sse_error":
        assert "it broke" in result["error"]["message"]


async def test_broken_whole_answer_is_a_502(
    strict_proxy: ProxyServer, upstream: FakeUpstream
) -> None:
    upstream.script.append(Reply(fault="cut"))
    response = await post(strict_proxy, False)
    assert response.status_code == 502
    assert error_of(response)["type"] == "api_error"


async def test_malformed_sse_line_is_skipped_by_the_native_openai_transport(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy(MAX_RETRIES=0)
    upstream.script.append(Reply(text="still whole", fault="malformed_sse"))
    async with SDK(proxy) as sdk:
        message = await sdk.stream(REQUEST)
    assert message["content"][0]["text"] == "still whole"


async def test_connection_refused_is_a_502(
    make_proxy: ProxyFactory, dialect: str, engine: str, stream: bool
) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    big, small = DIALECT_MODELS[dialect]
    proxy = await make_proxy(
        BIG_MODEL=big,
        SMALL_MODEL=small,
        UPSTREAM_ENGINE=engine,
        MAX_RETRIES=0,
        OPENAI_API_BASE=dead + "/v1",
        GEMINI_API_BASE=dead + "/v1beta",
        ANTHROPIC_API_BASE=dead,
    )
    response = await post(proxy, stream)
    assert response.status_code == 502, response.text
    assert error_of(response)["type"] == "api_error"


async def test_upstream_timeout_is_a_504(
    make_proxy: ProxyFactory, upstream: FakeUpstream, dialect: str, engine: str, stream: bool
) -> None:
    big, small = DIALECT_MODELS[dialect]
    proxy = await make_proxy(
        BIG_MODEL=big,
        SMALL_MODEL=small,
        UPSTREAM_ENGINE=engine,
        MAX_RETRIES=0,
        REQUEST_TIMEOUT=0.5,
        STREAM_IDLE_TIMEOUT=0.5,
    )
    upstream.script.append(Reply(delay_before=3))
    response = await post(proxy, stream)
    assert response.status_code == 504, response.text
    assert error_of(response)["type"] == "timeout_error"


async def test_stream_going_silent_after_start_is_an_error_event(
    make_proxy: ProxyFactory, upstream: FakeUpstream, dialect: str, engine: str
) -> None:
    big, small = DIALECT_MODELS[dialect]
    proxy = await make_proxy(
        BIG_MODEL=big, SMALL_MODEL=small, UPSTREAM_ENGINE=engine, STREAM_IDLE_TIMEOUT=0.5
    )
    upstream.script.append(Reply(text="slow words here", chunk_size=5, delay_between_chunks=3))
    response = await post(proxy, True)
    if response.status_code == 504:
        # Through LiteLLM the client stream opens with the first output, which came too late.
        assert engine == "litellm"
        assert error_of(response)["type"] == "timeout_error"
        return
    assert response.status_code == 200
    result = validate_anthropic_stream(response.content)
    assert result["type"] == "error"
    assert result["error"]["type"] in ("timeout_error", "api_error")


@pytest.mark.parametrize(
    ("dialect_", "unset", "variable"),
    [
        ("openai", ("OPENAI_API_KEY", "OPENAI_API_BASE"), "OPENAI_API_KEY"),
        ("gemini", ("GEMINI_API_KEY",), "GEMINI_API_KEY"),
        ("anthropic", ("ANTHROPIC_API_KEY",), "ANTHROPIC_API_KEY"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
async def test_missing_provider_key_names_the_variable(
    make_proxy: ProxyFactory,
    upstream: FakeUpstream,
    engine: str,
    dialect_: str,
    unset: tuple[str, ...],
    variable: str,
    path: str,
) -> None:
    big, small = DIALECT_MODELS[dialect_]
    proxy = await make_proxy(
        BIG_MODEL=big, SMALL_MODEL=small, UPSTREAM_ENGINE=engine, **dict.fromkeys(unset, "")
    )
    response = await raw_post(proxy, {**REQUEST, "stream": True}, path=path)
    assert response.status_code == 401
    error = error_of(response)
    assert error["type"] == "authentication_error"
    assert variable in error["message"]
    assert not upstream.requests


async def test_local_openai_compatible_server_needs_no_key(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    """vLLM / Ollama / LM Studio behind OPENAI_API_BASE usually take no key at all."""
    proxy = await make_proxy(OPENAI_API_KEY="")
    async with SDK(proxy) as sdk:
        await sdk.stream(REQUEST)
    assert "authorization" not in upstream.requests[-1].headers


# ----------------------------------------------------------------------------- loops


@pytest.mark.parametrize(
    "base",
    ["http://127.0.0.1:8082/v1", "http://localhost:8082", "http://0.0.0.0:8082/"],
)
@pytest.mark.parametrize("variable", ["OPENAI_API_BASE", "GEMINI_API_BASE", "ANTHROPIC_API_BASE"])
def test_upstream_base_pointing_at_the_proxy_is_refused_at_start(base: str, variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={variable: base, "PORT": "8082", "HOST": "127.0.0.1"})
    message = str(caught.value)
    assert "loop" in message and "8082" in message


def test_other_port_on_loopback_is_fine() -> None:
    settings = load_settings(
        environ={"OPENAI_API_BASE": "http://127.0.0.1:11434/v1", "PORT": "8082"}
    )
    assert settings.openai_api_base == "http://127.0.0.1:11434/v1"


async def test_request_carrying_our_own_loop_header_is_a_508(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy()
    own = {LOOP_HEADER: proxy.service.instance_id}
    for path in ("/v1/messages", "/v1/messages/count_tokens"):
        response = await raw_post(proxy, REQUEST, path=path, headers=own)
        assert response.status_code == 508
        error = error_of(response)
        assert error["type"] == "loop_detected"
        assert "_API_BASE" in error["message"]
    assert not upstream.requests
    # Another proxy's id is a chain of proxies, not a loop.
    response = await raw_post(proxy, REQUEST, headers={LOOP_HEADER: "someone-else"})
    assert response.status_code == 200


async def test_every_upstream_request_carries_the_loop_header(
    proxy: ProxyServer, upstream: FakeUpstream
) -> None:
    async with SDK(proxy) as sdk:
        await sdk.stream(REQUEST)
    assert upstream.requests[-1].headers[LOOP_HEADER.lower()] == proxy.service.instance_id


# ----------------------------------------------------------------------------- ANTHROPIC_BASE_URL


def test_anthropic_base_url_is_not_an_upstream_setting() -> None:
    settings = load_settings(
        environ={"ANTHROPIC_BASE_URL": "http://127.0.0.1:8082", "ANTHROPIC_API_KEY": "sk-ant-x"}
    )
    assert settings.anthropic_api_base is None
    target = resolve("claude-x", ModelPair("anthropic/claude-sonnet-4-5", None), settings)
    # LiteLLM would fall back to ANTHROPIC_BASE_URL without an explicit base: always give one.
    assert api_base_for(target, settings) == "https://api.anthropic.com/v1/messages"


@pytest.fixture
async def trap() -> AsyncIterator[FakeUpstream]:
    """A second fake upstream that ANTHROPIC_BASE_URL points at; nothing may reach it."""
    up = FakeUpstream()
    await up.start()
    previous = os.environ.get("ANTHROPIC_BASE_URL")
    os.environ["ANTHROPIC_BASE_URL"] = up.url
    try:
        yield up
    finally:
        if previous is None:
            os.environ.pop("ANTHROPIC_BASE_URL", None)
        else:
            os.environ["ANTHROPIC_BASE_URL"] = previous
        await up.stop()


async def test_anthropic_base_url_in_the_environment_is_never_used(
    make_proxy: ProxyFactory, upstream: FakeUpstream, trap: FakeUpstream, engine: str
) -> None:
    big, small = DIALECT_MODELS["anthropic"]
    proxy = await make_proxy(BIG_MODEL=big, SMALL_MODEL=small, UPSTREAM_ENGINE=engine)
    async with SDK(proxy) as sdk:
        await sdk.stream(REQUEST)
        await sdk.create(REQUEST)
        await sdk.count(REQUEST)
    assert not trap.requests
    assert len(upstream.requests) >= 2
    assert all(r.api_key == FAKE_KEYS["ANTHROPIC_API_KEY"] for r in upstream.requests)
