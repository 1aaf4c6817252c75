"""Self-tests for the test-support modules: tests/support/fake_upstream.py and tests/support/stream_validator.py."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.support.fake_upstream import FakeUpstream, Reply, ToolCall, run_in_thread
from tests.support.stream_validator import (
    parse_sse,
    validate_anthropic_message,
    validate_anthropic_stream,
)

OPENAI_BODY: dict[str, Any] = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]}
ANTHROPIC_BODY: dict[str, Any] = {
    "model": "claude-fake",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "hi"}],
}
GEMINI_BODY: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


@pytest.fixture
async def up() -> AsyncIterator[FakeUpstream]:
    """A started FakeUpstream on the test's loop."""
    server = FakeUpstream()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session closed after the test (before the server stops)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session


def sse_data(raw: bytes) -> list[str]:
    """The ``data:`` payloads of an SSE body, in order."""
    text = raw.decode().replace("\r\n", "\n")
    return [
        line[len("data: ") :]
        for frame in text.split("\n\n")
        for line in frame.split("\n")
        if line.startswith("data: ")
    ]


# --------------------------------------------------------------------------- OpenAI


async def test_openai_non_stream_text(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{up.url}/v1/chat/completions", json=OPENAI_BODY) as r:
        assert r.status == 200
        body = await r.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "gpt-fake"
    choice = body["choices"][0]
    assert choice["message"] == {
        "role": "assistant",
        "content": "Hello from fake upstream",
        "refusal": None,
    }
    assert choice["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] == 18
    assert body["usage"]["prompt_tokens_details"] == {"cached_tokens": 0}
    rec = up.requests[-1]
    assert (rec.dialect, rec.model, rec.stream, rec.path) == (
        "openai",
        "gpt-fake",
        False,
        "/v1/chat/completions",
    )


async def test_openai_stream_reasoning_tools_usage(
    up: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    up.script.append(
        Reply(
            text="Let me check.",
            reasoning="thinking hard",
            tool_calls=[ToolCall("Bash", {"command": "ls -la"}), ToolCall("Read", {"path": "/x"})],
            cached_tokens=3,
        )
    )
    req = {**OPENAI_BODY, "stream": True, "stream_options": {"include_usage": True}}
    async with http.post(f"{up.url}/chat/completions", json=req) as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")
        raw = await r.read()
    data = sse_data(raw)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    reasoning = "".join(d.get("reasoning_content", "") for d in deltas)
    text = "".join(d.get("content") or "" for d in deltas)
    assert (reasoning, text) == ("thinking hard", "Let me check.")
    first_text = next(i for i, d in enumerate(deltas) if d.get("content"))
    last_reasoning = max(i for i, d in enumerate(deltas) if "reasoning_content" in d)
    assert last_reasoning < first_text
    calls: dict[int, dict[str, str]] = {}
    for d in deltas:
        for tc in d.get("tool_calls", []):
            slot = calls.setdefault(tc["index"], {"id": "", "name": "", "args": ""})
            if "id" in tc:
                slot["id"] = tc["id"]
                slot["name"] = tc["function"]["name"]
            slot["args"] += tc["function"]["arguments"]
    assert calls[0]["name"] == "Bash" and json.loads(calls[0]["args"]) == {"command": "ls -la"}
    assert calls[1]["name"] == "Read" and json.loads(calls[1]["args"]) == {"path": "/x"}
    assert calls[0]["id"].startswith("call_") and calls[0]["id"] != calls[1]["id"]
    assert chunks[-2]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "tool_calls",
    }
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens_details"]["cached_tokens"] == 3


async def test_openai_think_tags_and_tool_only_message(
    up: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    up.script += [
        Reply(text="answer", reasoning="hmm", think_tags=True),
        Reply(text="", tool_calls=[ToolCall("Bash", {"command": "ls"}, id="my-id")]),
    ]
    async with http.post(f"{up.url}/chat/completions", json=OPENAI_BODY) as r:
        msg = (await r.json())["choices"][0]["message"]
    assert msg["content"] == "<think>hmm</think>answer" and "reasoning_content" not in msg
    async with http.post(f"{up.url}/chat/completions", json=OPENAI_BODY) as r:
        body = await r.json()
    msg = body["choices"][0]["message"]
    assert msg["content"] is None
    assert msg["tool_calls"] == [
        {
            "id": "my-id",
            "type": "function",
            "function": {"name": "Bash", "arguments": '{"command":"ls"}'},
        }
    ]
    assert body["choices"][0]["finish_reason"] == "tool_calls"


async def test_openai_error_status(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    up.script.append(Reply(status=429, error_message="slow down", headers={"retry-after": "2"}))
    async with http.post(f"{up.url}/v1/chat/completions", json=OPENAI_BODY) as r:
        assert r.status == 429
        assert r.headers["retry-after"] == "2"
        body = await r.json()
    assert body["error"]["message"] == "slow down"
    assert body["error"]["code"] == "rate_limit_exceeded"


# --------------------------------------------------------------------------- Gemini


async def test_gemini_non_stream(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    up.script.append(
        Reply(
            text="ok",
            reasoning="pondering",
            tool_calls=[ToolCall("get", {"a": 1})],
            reasoning_tokens=4,
        )
    )
    url = f"{up.url}/v1beta/models/gemini-fake:generateContent?key=secret"
    async with http.post(url, json=GEMINI_BODY) as r:
        body = await r.json()
    cand = body["candidates"][0]
    assert cand["content"]["role"] == "model"
    assert cand["content"]["parts"] == [
        {"text": "pondering", "thought": True},
        {"text": "ok"},
        {"functionCall": {"name": "get", "args": {"a": 1}}},
    ]
    assert cand["finishReason"] == "STOP"
    assert body["usageMetadata"] == {
        "promptTokenCount": 11,
        "candidatesTokenCount": 7,
        "totalTokenCount": 22,
        "cachedContentTokenCount": 0,
        "thoughtsTokenCount": 4,
    }
    assert body["modelVersion"] == "gemini-fake"
    rec = up.requests[-1]
    assert (rec.dialect, rec.model, rec.query["key"], rec.api_key) == (
        "gemini",
        "gemini-fake",
        "secret",
        "secret",
    )


async def test_gemini_stream_sse(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    up.script.append(Reply(text="Hello world!", finish="length"))
    url = f"{up.url}/models/gemini-fake:streamGenerateContent?alt=sse"
    async with http.post(url, json=GEMINI_BODY, headers={"x-goog-api-key": "k1"}) as r:
        raw = await r.read()
    assert raw.endswith(b"\r\n\r\n")
    chunks = [json.loads(d) for d in sse_data(raw)]
    parts = [c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks]
    assert parts == ["Hello", " worl", "d!"]
    assert "finishReason" not in chunks[0]["candidates"][0]
    assert chunks[-1]["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] == 7
    rec = up.requests[-1]
    assert rec.headers["x-goog-api-key"] == "k1" and rec.stream and rec.model == "gemini-fake"


async def test_gemini_stream_json_array_and_error(
    up: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    url = f"{up.url}/v1/models/g:streamGenerateContent"
    async with http.post(url, json=GEMINI_BODY) as r:
        chunks = await r.json()
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == (
        "Hello from fake upstream"
    )
    up.script.append(Reply(status=400, error_message="bad"))
    async with http.post(f"{up.url}/v1beta/models/g:generateContent", json=GEMINI_BODY) as r:
        assert r.status == 400
        assert await r.json() == {
            "error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}
        }


# --------------------------------------------------------------------------- Anthropic


async def test_anthropic_non_stream(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    up.script.append(
        Reply(
            text="Sure",
            reasoning="hmm",
            tool_calls=[ToolCall("Bash", {"command": "ls"})],
            cached_tokens=5,
        )
    )
    async with http.post(f"{up.url}/v1/messages", json=ANTHROPIC_BODY) as r:
        msg = await r.json()
    validate_anthropic_message(msg)
    assert [b["type"] for b in msg["content"]] == ["thinking", "text", "tool_use"]
    assert msg["content"][0]["signature"] == "sig-fake"
    assert msg["content"][2]["id"].startswith("toolu_fake")
    assert msg["stop_reason"] == "tool_use"
    assert msg["usage"]["input_tokens"] == 6 and msg["usage"]["cache_read_input_tokens"] == 5


async def test_anthropic_stream_passes_validator(
    up: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    up.script.append(
        Reply(
            text="Running it now",
            reasoning="I should list files",
            tool_calls=[ToolCall("Bash", {"command": "ls -la /tmp"})],
            chunk_size=3,
        )
    )
    async with http.post(f"{up.url}/messages", json={**ANTHROPIC_BODY, "stream": True}) as r:
        raw = await r.read()
    msg = validate_anthropic_stream(raw)
    assert msg["content"] == [
        {"type": "thinking", "thinking": "I should list files", "signature": "sig-fake"},
        {"type": "text", "text": "Running it now"},
        {
            "type": "tool_use",
            "id": msg["content"][2]["id"],
            "name": "Bash",
            "input": {"command": "ls -la /tmp"},
        },
    ]
    assert msg["stop_reason"] == "tool_use" and msg["usage"]["output_tokens"] == 7
    assert [e for e, _ in parse_sse(raw)][:2] == ["message_start", "ping"]


async def test_anthropic_error_and_count_tokens(
    up: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    up.script.append(Reply(status=529))
    async with http.post(f"{up.url}/v1/messages", json=ANTHROPIC_BODY) as r:
        assert r.status == 529
        body = await r.json()
    assert body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "fake upstream error"},
    }
    async with http.post(f"{up.url}/v1/messages/count_tokens", json=ANTHROPIC_BODY) as r:
        assert await r.json() == {"input_tokens": 42}
    assert [r.path for r in up.requests] == ["/v1/messages", "/v1/messages/count_tokens"]


async def test_anthropic_sse_error_fault(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    up.script.append(Reply(fault="sse_error", text="some longer text here"))
    async with http.post(f"{up.url}/v1/messages", json={**ANTHROPIC_BODY, "stream": True}) as r:
        raw = await r.read()
    result = validate_anthropic_stream(raw)
    assert result == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "fake upstream error"},
    }


# --------------------------------------------------------------------------- faults and plumbing


async def test_faults_html_empty_malformed(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    up.script += [Reply(fault="html"), Reply(fault="empty"), Reply(fault="malformed_sse")]
    async with http.post(f"{up.url}/chat/completions", json=OPENAI_BODY) as r:
        assert r.status == 200 and r.content_type == "text/html"
        assert "<html>" in await r.text()
    async with http.post(f"{up.url}/v1/messages", json=ANTHROPIC_BODY) as r:
        assert r.status == 200 and await r.read() == b""
    async with http.post(f"{up.url}/chat/completions", json={**OPENAI_BODY, "stream": True}) as r:
        data = sse_data(await r.read())
    assert "{not json" in data and data[-1] == "[DONE]"


async def test_fault_cut_stream_and_body(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    up.script += [Reply(fault="cut", text="x" * 40), Reply(fault="cut")]
    async with http.post(f"{up.url}/chat/completions", json={**OPENAI_BODY, "stream": True}) as r:
        received = b""
        with pytest.raises(aiohttp.ClientPayloadError):
            async for piece in r.content.iter_any():
                received += piece
    data = sse_data(received)
    assert data and "[DONE]" not in data
    assert all(json.loads(d)["choices"][0]["finish_reason"] is None for d in data)
    async with http.post(f"{up.url}/v1/messages", json=ANTHROPIC_BODY) as r:
        with pytest.raises(aiohttp.ClientPayloadError):
            await r.read()


async def test_fault_reset(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    up.script.append(Reply(fault="reset"))
    with pytest.raises(aiohttp.ClientConnectionError):
        async with http.post(f"{up.url}/chat/completions", json=OPENAI_BODY) as r:
            await r.read()


async def test_fault_hang_counts_disconnect(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    up.script.append(Reply(fault="hang"))
    with pytest.raises(asyncio.TimeoutError):
        async with http.post(
            f"{up.url}/chat/completions",
            json=OPENAI_BODY,
            timeout=aiohttp.ClientTimeout(total=0.3),
        ) as r:
            await r.read()
    assert await up.wait_for_disconnects(1, timeout=2)


async def test_mid_stream_disconnect_is_counted(
    up: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    up.script.append(Reply(text="y" * 100, chunk_size=1, delay_between_chunks=0.02))
    async with http.post(f"{up.url}/v1/messages", json={**ANTHROPIC_BODY, "stream": True}) as r:
        first = await r.content.readany()
        assert b"message_start" in first
        r.close()
    assert await up.wait_for_disconnects(1, timeout=2)


async def test_delay_before_and_unknown_path(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    up.script.append(Reply(delay_before=0.1))
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    async with http.post(f"{up.url}/chat/completions", json=OPENAI_BODY) as r:
        await r.read()
    assert loop.time() - t0 >= 0.1
    async with http.post(f"{up.url}/v2/whatever", json={}) as r:
        assert r.status == 404
        assert "error" in await r.json()
    assert up.requests[-1].dialect == "unknown"


async def test_script_fifo_and_reset(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    up.script += [Reply(text="one"), Reply(text="two")]
    texts = []
    for _ in range(3):
        async with http.post(f"{up.url}/chat/completions", json=OPENAI_BODY) as r:
            texts.append((await r.json())["choices"][0]["message"]["content"])
    assert texts == ["one", "two", "Hello from fake upstream"]
    up.default = Reply(text="changed")
    up.script.append(Reply())
    up.reset()
    assert up.requests == [] and up.script == [] and up.default.text == "Hello from fake upstream"


async def test_auto_tool_all_dialects(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    up.auto_tool = "Bash"
    up.auto_tool_args = {"command": "echo hi"}
    oa_tools = [{"type": "function", "function": {"name": "Bash", "parameters": {}}}]
    async with http.post(
        f"{up.url}/chat/completions", json={**OPENAI_BODY, "tools": oa_tools}
    ) as r:
        call = (await r.json())["choices"][0]["message"]["tool_calls"][0]["function"]
    assert call == {"name": "Bash", "arguments": '{"command":"echo hi"}'}
    tool_msgs = [*OPENAI_BODY["messages"], {"role": "tool", "tool_call_id": "c", "content": "hi"}]
    async with http.post(
        f"{up.url}/chat/completions", json={**OPENAI_BODY, "tools": oa_tools, "messages": tool_msgs}
    ) as r:
        assert (await r.json())["choices"][0]["message"]["content"] == "Done: the tool ran."

    an_tools = [{"name": "Bash", "input_schema": {"type": "object"}}]
    async with http.post(f"{up.url}/v1/messages", json={**ANTHROPIC_BODY, "tools": an_tools}) as r:
        msg = await r.json()
    assert msg["stop_reason"] == "tool_use" and msg["content"][-1]["input"] == {
        "command": "echo hi"
    }
    result_msg = {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "t", "content": "hi"}],
    }
    async with http.post(
        f"{up.url}/v1/messages", json={**ANTHROPIC_BODY, "messages": [result_msg], "stream": True}
    ) as r:
        assert (
            validate_anthropic_stream(await r.read())["content"][0]["text"] == "Done: the tool ran."
        )

    g_tools = [{"functionDeclarations": [{"name": "Bash"}]}]
    url = f"{up.url}/v1beta/models/g:generateContent"
    async with http.post(url, json={**GEMINI_BODY, "tools": g_tools}) as r:
        parts = (await r.json())["candidates"][0]["content"]["parts"]
    assert parts == [{"functionCall": {"name": "Bash", "args": {"command": "echo hi"}}}]
    # No tool offered: default text.
    async with http.post(url, json=GEMINI_BODY) as r:
        parts = (await r.json())["candidates"][0]["content"]["parts"]
    assert parts == [{"text": "Hello from fake upstream"}]


async def test_run_in_thread() -> None:
    server, stop = run_in_thread()
    try:
        server.default = Reply(text="from thread")

        def fetch() -> dict[str, Any]:
            req = urllib.request.Request(
                f"{server.url}/v1/chat/completions",
                data=json.dumps(OPENAI_BODY).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(req, timeout=5) as resp:
                return json.loads(resp.read())

        body = await asyncio.to_thread(fetch)
        assert body["choices"][0]["message"]["content"] == "from thread"
        assert len(server.requests) == 1
    finally:
        stop()


# --------------------------------------------------------------------------- stream validator

VALID_STREAM = b"""event: message_start
data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":1}}}

event: ping
data: {"type":"ping"}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"Bash","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"command\\": "}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\\"ls\\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":9}}

event: message_stop
data: {"type":"message_stop"}

"""


def test_validator_accepts_hand_written_stream() -> None:
    msg = validate_anthropic_stream(VALID_STREAM)
    assert msg["content"] == [
        {"type": "text", "text": "Hi"},
        {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
    ]
    assert msg["usage"] == {"input_tokens": 5, "output_tokens": 9}
    assert msg["stop_reason"] == "tool_use"
    # CRLF framing is accepted too.
    assert validate_anthropic_stream(VALID_STREAM.replace(b"\n", b"\r\n")) == msg


def _frames() -> list[bytes]:
    """VALID_STREAM split into frames (each without its trailing blank line)."""
    return [f for f in VALID_STREAM.split(b"\n\n") if f.strip()]


def _join(frames: list[bytes]) -> bytes:
    """Re-assemble frames into an SSE body."""
    return b"".join(f + b"\n\n" for f in frames)


@pytest.mark.parametrize(
    ("mutate", "expect"),
    [
        (lambda f: [f[0].split(b"\n", 1)[1], *f[1:]], "missing 'event:' line"),
        (lambda f: [*f[:5], f[5].replace(b'"index":1', b'"index":2'), *f[6:]], "expected 1"),
        (lambda f: [*f[:4], *f[5:6], *f[4:5], *f[6:]], "is open"),
        (lambda f: f[:-1], "without message_stop"),
        (lambda f: f[:-2], "without message_delta"),
        (lambda f: [*f[:3], f[3].replace(b'"index":0', b'"index":1'), *f[4:]], "!= open block"),
        (lambda f: [*f, f[1]], "after message_stop"),
        (lambda f: [f[1], *f[:1], *f[2:]], "first event must be message_start"),
        (lambda f: [*f[:6], *f[7:]], "partial_json does not parse"),
        (
            lambda f: [*f[:3], f[3].replace(b"text_delta", b"input_json_delta"), *f[4:]],
            "not allowed",
        ),
        (lambda f: [*f[:2], *f[5:]], "expected 0"),
        (lambda f: [*f[:2], *f[9:]], "no tool_use block"),
        (
            lambda f: [*f[:9], f[9].replace(b"tool_use", b"finished"), *f[10:]],
            "invalid stop_reason",
        ),
        (lambda f: [f[0].replace(b"event: message_start", b"event: message_stat"), *f[1:]], "!="),
        (lambda f: [*f[:3], b'event: error\ndata: {"type":"error"}', *f[3:]], "final frame"),
        (lambda f: [*f[:3], b"event: content_block_delta\ndata: {not json"], "not JSON"),
    ],
)
def test_validator_rejects_broken_streams(mutate: Any, expect: str) -> None:
    with pytest.raises(AssertionError, match=expect):
        validate_anthropic_stream(_join(mutate(_frames())))


def test_validator_thinking_needs_signature_and_error_frame() -> None:
    start = _frames()[0]
    thinking = [
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}',
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hm"}}',
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}',
    ]
    end = _frames()[-2:]
    end[0] = end[0].replace(b"tool_use", b"end_turn")
    with pytest.raises(AssertionError, match="without a signature"):
        validate_anthropic_stream(_join([start, *thinking, *end]))
    sig = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"s"}}'
    msg = validate_anthropic_stream(_join([start, *thinking[:2], sig, thinking[2], *end]))
    assert msg["content"] == [{"type": "thinking", "thinking": "hm", "signature": "s"}]

    err = (
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"busy"}}'
    )
    assert (
        validate_anthropic_stream(_join([start, thinking[0], err]))["error"]["type"]
        == "overloaded_error"
    )
    with pytest.raises(AssertionError, match="error"):
        validate_anthropic_stream(
            _join([start, b'event: error\ndata: {"type":"error","error":{}}'])
        )


def test_validate_anthropic_message_rejects_bad_shapes() -> None:
    good = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 2},
    }
    validate_anthropic_message(good)
    for bad in (
        {**good, "role": "user"},
        {**good, "stop_reason": None},
        {**good, "usage": {"input_tokens": 1}},
        {**good, "content": [{"type": "tool_use", "id": "t", "name": "x", "input": "{}"}]},
        {**good, "stop_reason": "tool_use"},
        {**good, "content": [{"type": "bogus"}]},
    ):
        with pytest.raises(AssertionError):
            validate_anthropic_message(bad)
