"""Replay every real recorded provider response (tests/corpus) through the proxy, with both
engines, and compare what the Anthropic client sees with what a faithful translation shows."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import anthropic
import pytest

from proxy.core.settings import load_settings
from proxy.server.runner import ProxyServer
from tests.conftest import DIALECT_MODELS, FAKE_KEYS
from tests.support.corpus import Case, ReplayUpstream, load_cases
from tests.support.messages_support import SDK

CASES = load_cases()
ENGINES = ("native", "litellm")
TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
CLIENT_MODEL = "claude-sonnet-4-5"  # mapped to BIG_MODEL, i.e. to the case's dialect

# (case id, engine) -> what this engine cannot carry, and why. A fix flips the test to XPASS,
# which fails (strict): then remove the line. "*" stands for both engines. Every line here is
# also in the README ("What each engine cannot carry"). The corpus replays OpenAI-compatible
# recordings through LiteLLM's `openai/` provider (OPENAI_API_BASE), as a user of such a server
# would configure it; Mistral's under their own model id (which the proxy knows as Mistral).
KNOWN_DEFECTS: dict[tuple[str, str], str] = {
    ("openrouter-minimax-error-chunk-after-length-stream", "litellm"): (
        "LiteLLM engine: the OpenAI SDK under LiteLLM raises on the error chunk that follows "
        "finish_reason length and keeps only its `error` (the proxy keeps the finished answer, "
        "stop_reason max_tokens), so the usage beside it is lost: input_tokens is the proxy's "
        "estimate"
    ),
}


def _defect(case: Case, engine: str) -> str | None:
    return KNOWN_DEFECTS.get((case.id, engine)) or KNOWN_DEFECTS.get((case.id, "*"))


def _params() -> list[Any]:
    params = []
    for case in CASES:
        for engine in ENGINES:
            reason = _defect(case, engine)
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            params.append(pytest.param(case, engine, id=f"{case.id}-{engine}", marks=marks))
    return params


ProxyFactory = Callable[[Case, str], Awaitable[ProxyServer]]


@pytest.fixture
async def replay_upstream() -> AsyncIterator[ReplayUpstream]:
    """The replay server, stopped after the test."""
    async with ReplayUpstream() as up:
        yield up


@pytest.fixture
async def replay_proxy(replay_upstream: ReplayUpstream) -> AsyncIterator[ProxyFactory]:
    """Start the real proxy pointed at the replay server for one case and engine."""
    servers: list[ProxyServer] = []

    async def factory(case: Case, engine: str) -> ProxyServer:
        big, small = DIALECT_MODELS[case.dialect]
        if case.provider == "mistral":
            # As a Mistral user configures it (the model's own id): the LiteLLM engine then
            # knows the target is Mistral.
            big = f"openai/{case.model}"
        url = replay_upstream.url
        env = {
            **FAKE_KEYS,
            "OPENAI_API_BASE": url + "/v1",
            "GEMINI_API_BASE": url + "/v1beta",
            "ANTHROPIC_API_BASE": url,
            "BIG_MODEL": big,
            "SMALL_MODEL": small,
            "UPSTREAM_ENGINE": engine,
            "MAX_RETRIES": "0",  # the replay answers the same each time: one attempt is the test
            "HOST": "127.0.0.1",
            "PORT": "0",
        }
        server = ProxyServer(load_settings(environ=env))
        await server.start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        await server.stop()


def anthropic_request(case: Case) -> dict[str, Any]:
    """The Anthropic request a client would send for this answer: same tools, thinking if any."""
    body: dict[str, Any] = {
        "model": CLIENT_MODEL,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Replay the recorded answer."}],
    }
    if case.request_tools:
        body["tools"] = case.request_tools
    if case.expect.get("thinking"):
        body["max_tokens"] = 4096
        body["thinking"] = {"type": "enabled", "budget_tokens": 1024}
    return body


def _observed(message: dict[str, Any]) -> dict[str, Any]:
    """Text, thinking presence, tool calls, tool ids, stop reason and usage of an answer."""
    blocks = message.get("content") or []
    return {
        "text": "".join(b.get("text", "") for b in blocks if b.get("type") == "text"),
        "thinking": any(
            (b.get("type") == "thinking" and b.get("thinking", "").strip())
            or b.get("type") == "redacted_thinking"
            for b in blocks
        ),
        "tool_calls": [
            {"name": b["name"], "input": b["input"]} for b in blocks if b.get("type") == "tool_use"
        ],
        "tool_ids": [b["id"] for b in blocks if b.get("type") == "tool_use"],
        "stop_reason": message.get("stop_reason"),
        "usage": message.get("usage") or {},
    }


def differences(case: Case, message: dict[str, Any]) -> list[str]:
    """Every way the proxy's answer differs from the case's expectation (empty when faithful)."""
    expect = case.expect
    got = _observed(message)
    found = []
    if got["text"].strip() != expect["text"].strip():
        found.append(f"text: got {got['text'][:200]!r}, expected {expect['text'][:200]!r}")
    if got["thinking"] != expect["thinking"]:
        found.append(f"thinking: got {got['thinking']}, expected {expect['thinking']}")
    if got["tool_calls"] != expect["tool_calls"]:
        found.append(f"tool calls: got {got['tool_calls']}, expected {expect['tool_calls']}")
    bad_ids = [i for i in got["tool_ids"] if not TOOL_ID.match(i)]
    if bad_ids:
        found.append(
            "tool ids break ^[a-zA-Z0-9_-]+$: "
            + ", ".join(f"{i[:40]}... ({len(i)} chars)" for i in bad_ids)
        )
    if got["stop_reason"] != expect["stop_reason"]:
        found.append(f"stop_reason: got {got['stop_reason']!r}, expected {expect['stop_reason']!r}")
    usage = dict(expect.get("usage") or {})
    if usage:
        usage.setdefault("cache_read_input_tokens", 0)
        for key, value in usage.items():
            if (got["usage"].get(key) or 0) != value:
                found.append(f"usage.{key}: got {got['usage'].get(key)}, expected {value}")
    return found


def _error_of(exc: anthropic.APIStatusError) -> tuple[int, str | None]:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else body
    return exc.status_code, error.get("type") if isinstance(error, dict) else None


def check_upstream_request(case: Case, upstream: ReplayUpstream) -> None:
    """The proxy asked the upstream in the case's mode (stream or not), with a key."""
    assert upstream.requests, "the proxy never called the upstream"
    sent = upstream.requests[-1]
    if case.dialect == "gemini":
        assert sent.path.endswith(":streamGenerateContent") == case.stream, sent.path
        if case.stream:
            assert sent.query.get("alt") == "sse", sent.query
        assert sent.query.get("key") or sent.headers.get("x-goog-api-key"), "no Gemini key sent"
    else:
        body = sent.body if isinstance(sent.body, dict) else {}
        assert bool(body.get("stream")) == case.stream, f"upstream stream={body.get('stream')}"


@pytest.mark.parametrize(("case", "engine"), _params())
async def test_replay_case(
    replay_proxy: ProxyFactory, replay_upstream: ReplayUpstream, case: Case, engine: str
) -> None:
    replay_upstream.case = case
    proxy = await replay_proxy(case, engine)
    async with SDK(proxy) as sdk:
        try:
            message = await sdk.ask(anthropic_request(case), stream=case.stream)
        except anthropic.APIStatusError as exc:
            check_upstream_request(case, replay_upstream)
            status, error_type = _error_of(exc)
            if not case.is_error:
                pytest.fail(f"the proxy answered {status} {error_type}: {exc.message[:300]}")
            assert (status, error_type) == (
                case.expect["error_status"],
                case.expect["error_type"],
            ), f"error: got {status} {error_type}, expected {case.expect}"
            return
    check_upstream_request(case, replay_upstream)
    if case.is_error:
        pytest.fail(f"expected {case.expect}, the proxy answered {message.get('stop_reason')}")
    if message.get("type") == "error":
        pytest.fail(f"the stream ended with an error event: {message['error']}")
    found = differences(case, message)
    assert not found, "\n".join(found)


def test_corpus_covers_every_dialect_and_shape() -> None:
    """The corpus keeps its breadth: enough cases, all dialects, streams, errors, tools, thinking."""
    assert len(CASES) >= 40
    assert {c.dialect for c in CASES} == {"openai", "gemini", "anthropic"}
    assert any(c.stream for c in CASES) and any(not c.stream for c in CASES)
    assert sum(c.is_error for c in CASES) >= 5
    assert any(len(c.expect.get("tool_calls", [])) > 1 for c in CASES)
    assert any(c.expect.get("thinking") for c in CASES)
    assert any(c.expect.get("stop_reason") == "refusal" for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case_is_well_formed(case: Case) -> None:
    """Every case names a permissive source at a commit and says what it expects."""
    assert re.fullmatch(r"[0-9a-f]{40}", case.source["commit"]), case.source
    assert case.source["license"] in {"MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause"}
    assert case.source["repo"] and case.source["path"]
    if case.is_error:
        assert set(case.expect) == {"error_status", "error_type"}
        # error_status 200: the error arrives as an event inside a stream that had started.
        assert case.status >= 400 or (case.is_sse and case.expect["error_status"] == 200)
    else:
        assert case.status == 200
        assert set(case.expect) >= {"text", "thinking", "tool_calls", "stop_reason"}
        offered = {t["name"] for t in case.request_tools}
        assert {c["name"] for c in case.expect["tool_calls"]} <= offered
    assert case.notes


async def test_replay_upstream_serves_the_recording_and_refuses_foreign_paths() -> None:
    """The replay server streams the recorded bytes unchanged, records requests, 404s a wrong path."""
    case = next(c for c in CASES if c.dialect == "gemini" and c.stream)
    async with ReplayUpstream(case=case) as up, aiohttp.ClientSession() as http:
        url = f"{up.url}/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
        async with http.post(url, json={"contents": []}, headers={"x-goog-api-key": "k"}) as resp:
            assert resp.status == 200
            pieces = [piece async for piece in resp.content.iter_chunked(1 << 16)]
        assert b"".join(pieces).decode() == case.body
        async with http.post(up.url + "/v1/chat/completions", json={}) as wrong:
            assert wrong.status == 404
            assert "not a gemini path" in (await wrong.json())["error"]["message"]
    first = up.requests[0]
    assert first.query == {"alt": "sse"} and first.headers["x-goog-api-key"] == "k"
    assert first.body == {"contents": []} and len(up.requests) == 2
