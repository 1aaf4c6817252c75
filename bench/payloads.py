"""Request bodies and precomputed upstream answers shared by the fake upstream and the load generator.

Every answer is a text reply of N chunks: the first chunk's text is FIRST_TEXT (the client's
time-to-first-token marker) and every later chunk is TOKEN_TEXT, so a client can check that a
stream arrived whole by counting TOKEN_TEXT in the bytes it received, whatever the framing
(OpenAI chunks, Anthropic events, or several deltas coalesced into one).
TOKEN_TEXT must not occur elsewhere in an answer (ids, model names, event names).

The number of chunks travels in the user message as ``chunks=N``: the proxy passes message text
through unchanged, so the fake upstream finds it with one regex on the raw body, no JSON parse.
"""

from __future__ import annotations

import os
import re
from functools import cache

import orjson

FIRST_TEXT = "Hi!"
TOKEN_TEXT = " tok"
FIRST_MARK = FIRST_TEXT.encode()
TOKEN_MARK = TOKEN_TEXT.encode()
OPENAI_END = b"[DONE]"
ANTHROPIC_END = b"message_stop"

CLAUDE_MODEL = "claude-sonnet-4-5"
"""What the client asks the proxy for: maps to BIG_MODEL."""
OPENAI_MODEL = "gpt-4.1"
ANTHROPIC_MODEL = "claude-sonnet-4-5"

CHUNKS_RE = re.compile(rb"chunks=(\d+)")
PACE_RE = re.compile(rb"pace_ms=(\d+(?:\.\d+)?)")
STREAM_RE = re.compile(rb'"stream"\s*:\s*true')
CREATED = 1_700_000_000


def prompt(chunks: int, pace_ms: float = 0) -> str:
    """The user message that asks the fake upstream for `chunks` chunks, `pace_ms` apart."""
    pace = f" pace_ms={pace_ms:g}" if pace_ms else ""
    return f"chunks={chunks}{pace} Say hello in a few words."


def _tool(name: str, **properties: str) -> dict[str, object]:
    schema = {key: {"type": kind} for key, kind in properties.items()}
    return {
        "name": name,
        "description": f"{name} tool",
        "input_schema": {"type": "object", "properties": schema, "required": [*properties][:1]},
    }


TOOLS = [
    _tool("Bash", command="string", timeout="integer"),
    _tool("Read", file_path="string", offset="integer", limit="integer"),
    _tool("Edit", file_path="string", old_string="string", new_string="string"),
    _tool("Write", file_path="string", content="string"),
    _tool("Glob", pattern="string", path="string"),
    _tool("Grep", pattern="string", path="string", output_mode="string"),
]
"""Offered with `--tools` (BENCH_TOOLS=1): Claude Code always offers tools, and tool-call
recovery only runs when some are offered. Small hand-written schemas, not Claude Code's own."""


def anthropic_body(chunks: int, stream: bool, pace_ms: float = 0) -> bytes:
    """A small Anthropic Messages request (what Claude Code would send, minus its large context)."""
    body: dict[str, object] = {
        "model": CLAUDE_MODEL,
        "max_tokens": 1024,
        "stream": stream,
        "messages": [{"role": "user", "content": prompt(chunks, pace_ms)}],
    }
    if os.environ.get("BENCH_TOOLS") == "1":
        body["tools"] = TOOLS
    return orjson.dumps(body)


def openai_body(chunks: int, stream: bool, pace_ms: float = 0) -> bytes:
    """The same request in OpenAI chat-completions form (the 'direct' baseline)."""
    body: dict[str, object] = {
        "model": OPENAI_MODEL,
        "max_tokens": 1024,
        "stream": stream,
        "messages": [{"role": "user", "content": prompt(chunks, pace_ms)}],
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    return orjson.dumps(body)


def texts(chunks: int) -> list[str]:
    """The text of each chunk: FIRST_TEXT, then TOKEN_TEXT plus a number.

    The numbers keep chunks distinct: LiteLLM aborts a stream that repeats one chunk 100 times.
    """
    return [FIRST_TEXT] + [f"{TOKEN_TEXT}{i % 1000}" for i in range(1, chunks)]


def _openai_chunk(delta: dict[str, object], finish: str | None) -> bytes:
    obj = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": OPENAI_MODEL,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(obj) + b"\n\n"


@cache
def openai_frames(chunks: int, usage: bool) -> tuple[bytes, ...]:
    """OpenAI SSE: role chunk, `chunks` content chunks, finish chunk, usage chunk, [DONE]."""
    out = [_openai_chunk({"role": "assistant", "content": ""}, None)]
    out += [_openai_chunk({"content": t}, None) for t in texts(chunks)]
    out.append(_openai_chunk({}, "stop"))
    if usage:
        tail = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": OPENAI_MODEL,
            "choices": [],
            "usage": {
                "prompt_tokens": 12,
                "completion_tokens": chunks,
                "total_tokens": 12 + chunks,
            },
        }
        out.append(b"data: " + orjson.dumps(tail) + b"\n\n")
    out.append(b"data: [DONE]\n\n")
    return tuple(out)


def _event(name: str, data: dict[str, object]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


@cache
def anthropic_frames(chunks: int) -> tuple[bytes, ...]:
    """Anthropic SSE: message_start, one text block of `chunks` deltas, message_delta/stop."""
    message: dict[str, object] = {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": ANTHROPIC_MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1},
    }
    out = [
        _event("message_start", {"type": "message_start", "message": message}),
        _event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        _event("ping", {"type": "ping"}),
    ]
    out += [
        _event(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}},
        )
        for t in texts(chunks)
    ]
    out.append(_event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    out.append(
        _event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": chunks},
            },
        )
    )
    out.append(_event("message_stop", {"type": "message_stop"}))
    return tuple(out)


@cache
def openai_message(chunks: int) -> bytes:
    """A non-streaming chat.completion."""
    return orjson.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": CREATED,
            "model": OPENAI_MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(texts(chunks))},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": 12,
                "completion_tokens": chunks,
                "total_tokens": 12 + chunks,
            },
        }
    )


@cache
def anthropic_message(chunks: int) -> bytes:
    """A non-streaming Anthropic message."""
    return orjson.dumps(
        {
            "id": "msg_bench",
            "type": "message",
            "role": "assistant",
            "model": ANTHROPIC_MODEL,
            "content": [{"type": "text", "text": "".join(texts(chunks))}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": chunks},
        }
    )


def _last(body: bytes, needle: bytes, pattern: re.Pattern[bytes]) -> re.Match[bytes] | None:
    """The last match of `pattern` (which starts with `needle`), looked for from the end.

    The prompt and `stream` sit near a body's end, and where a forward regex scan stops
    depends on the dialect's layout (the OpenAI body puts the whole system prompt first):
    `bench.instructions` would count that difference against a transport.
    """
    at = body.rfind(needle)
    while at >= 0:
        found = pattern.match(body, at)
        if found is not None:
            return found
        at = body.rfind(needle, 0, at)
    return None


def chunks_in(body: bytes, default: int = 5) -> int:
    """The chunk count a request body asks for (its newest prompt's)."""
    m = _last(body, b"chunks=", CHUNKS_RE)
    return int(m.group(1)) if m else default


def wants_stream(body: bytes) -> bool:
    """True when a request body says `"stream": true`."""
    return _last(body, b'"stream"', STREAM_RE) is not None


def pace_in(body: bytes) -> float:
    """Seconds between chunks a request body asks for (0: as fast as possible)."""
    m = _last(body, b"pace_ms=", PACE_RE)
    return float(m.group(1)) / 1000 if m else 0.0
