"""A scriptable fake LLM provider (OpenAI chat, Gemini, Anthropic) served by aiohttp.

Usage in tests::

    up = FakeUpstream()
    await up.start()
    up.script.append(Reply(text="hi", tool_calls=[ToolCall("Bash", {"command": "ls"})]))
    ...  # point the proxy at up.url, make a request
    assert up.requests[-1].dialect == "openai"
    await up.stop()

Manual use: ``uv run python -m tests.support.fake_upstream --port 9999 [--auto-tool Bash]``;
add ``--text-tools qwen`` (or ``qwen3-coder``, ``glm``) to write that call into the answer text,
as a model served without a tool parser does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import json
import re
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

__all__ = [
    "FakeUpstream",
    "RecordedRequest",
    "Reply",
    "ToolCall",
    "run_in_thread",
]

DEFAULT_TEXT = "Hello from fake upstream"
ECHO_KEY = "{api_key}"
"""In a Reply's error_message: replaced by the credential the request carried."""
FAULTS = frozenset({"html", "empty", "cut", "malformed_sse", "hang", "reset", "sse_error"})

_OPENAI_RE = re.compile(r"^(?:/v1)?/chat/completions/?$")
_ANTHROPIC_RE = re.compile(r"^(?:/v1)?/messages/?$")
_COUNT_RE = re.compile(r"^(?:/v1)?/messages/count_tokens/?$")
_GEMINI_RE = re.compile(
    r"^(?:/v1beta|/v1alpha|/v1)?/models/(?P<model>[^/:]+):(?P<action>generateContent|streamGenerateContent)$"
)
_MODELS_RE = re.compile(r"^(?:/v1beta|/v1)?/models/?$")
_GEMINI_MODEL_RE = re.compile(r"/models/([^/:]+):(?:generateContent|streamGenerateContent)$")

_FINISH_MAP: dict[str, dict[str, str]] = {
    "openai": {
        "stop": "stop",
        "length": "length",
        "tool_calls": "tool_calls",
        "content_filter": "content_filter",
    },
    "gemini": {
        "stop": "STOP",
        "length": "MAX_TOKENS",
        "tool_calls": "STOP",
        "content_filter": "SAFETY",
    },
    "anthropic": {
        "stop": "end_turn",
        "length": "max_tokens",
        "tool_calls": "tool_use",
        "content_filter": "refusal",
    },
}

_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_GEMINI_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_OPENAI_ERRORS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


@dataclass
class ToolCall:
    """A tool/function call the fake model should emit (dialect-neutral)."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    raw_arguments: str | None = None
    """OpenAI dialect: argument text sent exactly as given (broken JSON), instead of `arguments`."""


@dataclass
class Reply:
    """What the fake upstream answers; rendered in whichever dialect was called.

    Token semantics: ``prompt_tokens`` is the whole prompt (cached included); Anthropic gets
    ``input_tokens = prompt_tokens - cached_tokens`` and ``cache_read_input_tokens = cached_tokens``.
    """

    text: str = DEFAULT_TEXT
    reasoning: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish: str | None = None
    prompt_tokens: int = 11
    completion_tokens: int = 7
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    """Anthropic only: ``cache_creation_input_tokens`` (a prompt-cache write)."""
    reasoning_tokens: int = 0
    chunk_size: int = 5
    status: int = 200
    error_message: str = "fake upstream error"
    headers: dict[str, str] = field(default_factory=dict)
    delay_before: float = 0.0
    delay_between_chunks: float = 0.0
    fault: str | None = None
    think_tags: bool = False
    thought_signature: str | None = None
    text_pieces: list[str] | None = None
    """The exact pieces the text streams in (OpenAI and Gemini); `text` becomes their join."""

    def __post_init__(self) -> None:
        """Reject unknown fault names early so typos fail loudly."""
        if self.fault is not None and self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; expected one of {sorted(FAULTS)}")
        if self.text_pieces is not None:
            self.text = "".join(self.text_pieces)


@dataclass
class RecordedRequest:
    """One request as received: header names are lower-cased, query and body as sent."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any] | None
    dialect: str
    method: str = "POST"
    raw: bytes = b""
    peer: Any = None
    """The client's address and port: one per TCP connection the upstream was sent on."""

    @property
    def model(self) -> str | None:
        """The model the request asked for (body ``model``, or the Gemini URL path)."""
        if self.dialect == "gemini":
            m = _GEMINI_MODEL_RE.search(self.path)
            return m.group(1) if m else None
        if isinstance(self.body, dict):
            model = self.body.get("model")
            return model if isinstance(model, str) else None
        return None

    @property
    def stream(self) -> bool:
        """Whether the request asked for a streaming response."""
        if self.dialect == "gemini":
            return self.path.endswith(":streamGenerateContent")
        return isinstance(self.body, dict) and self.body.get("stream") is True

    @property
    def api_key(self) -> str | None:
        """The credential the request carried (bearer token, x-api-key, x-goog-api-key or ?key=)."""
        auth = self.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:]
        for name in ("x-api-key", "x-goog-api-key"):
            if name in self.headers:
                return self.headers[name]
        return self.query.get("key")


def _pieces(s: str, size: int) -> list[str]:
    """Split ``s`` into pieces of ``size`` characters (no pieces for an empty string)."""
    if not s:
        return []
    if size <= 0:
        return [s]
    return [s[i : i + size] for i in range(0, len(s), size)]


def _text_pieces(reply: Reply, text: str, size: int) -> list[str]:
    """The reply's text in streamed pieces: its own `text_pieces` when given."""
    if reply.text_pieces is not None and text == reply.text and size > 0:
        return [p for p in reply.text_pieces if p]
    return _pieces(text, size)


def _call_args(tc: ToolCall) -> str:
    """A call's argument text: raw when scripted so, else the JSON of its arguments."""
    return tc.raw_arguments if tc.raw_arguments is not None else _args_json(tc.arguments)


def _xml_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _qwen_text_call(name: str, args: dict[str, Any]) -> str:
    body = json.dumps({"name": name, "arguments": args}, ensure_ascii=False)
    return f"<tool_call>\n{body}\n</tool_call>"


def _qwen3_coder_text_call(name: str, args: dict[str, Any]) -> str:
    params = "".join(
        f"<parameter={key}>\n{_xml_value(value)}\n</parameter>\n" for key, value in args.items()
    )
    return f"<tool_call>\n<function={name}>\n{params}</function>\n</tool_call>"


def _glm_text_call(name: str, args: dict[str, Any]) -> str:
    pairs = "".join(
        f"<arg_key>{key}</arg_key>\n<arg_value>{_xml_value(value)}</arg_value>\n"
        for key, value in args.items()
    )
    return f"<tool_call>{name}\n{pairs}</tool_call>"


# Markup of models served without a tool parser (the shapes vLLM's parsers read).
TEXT_TOOL_STYLES: dict[str, Callable[[str, dict[str, Any]], str]] = {
    "qwen": _qwen_text_call,
    "qwen3-coder": _qwen3_coder_text_call,
    "glm": _glm_text_call,
}


def text_tool_call(style: str, name: str, args: dict[str, Any]) -> str:
    """A tool call written as text in a model family's markup (`TEXT_TOOL_STYLES`)."""
    return TEXT_TOOL_STYLES[style](name, args)


def _args_json(args: dict[str, Any]) -> str:
    """Serialize tool arguments the way providers do (compact, UTF-8)."""
    return json.dumps(args, ensure_ascii=False, separators=(",", ":"))


def _dumps(obj: Any) -> bytes:
    """Compact JSON bytes."""
    return orjson.dumps(obj)


def _natural_finish(reply: Reply) -> str:
    """The neutral finish reason: explicit, else tool_calls/stop."""
    if reply.finish is not None:
        return reply.finish
    return "tool_calls" if reply.tool_calls else "stop"


def _finish_for(dialect: str, reply: Reply) -> str:
    """Finish reason in the dialect's vocabulary; unknown values pass through verbatim."""
    neutral = _natural_finish(reply)
    return _FINISH_MAP[dialect].get(neutral, neutral)


def _last_is_tool_result(rec: RecordedRequest) -> bool:
    """True when the conversation's last turn is a tool result (any dialect)."""
    body = rec.body or {}
    if rec.dialect == "openai":
        msgs = body.get("messages") or []
        return bool(msgs) and isinstance(msgs[-1], dict) and msgs[-1].get("role") == "tool"
    if rec.dialect == "gemini":
        contents = body.get("contents") or []
        if not contents or not isinstance(contents[-1], dict):
            return False
        parts = contents[-1].get("parts") or []
        return any(
            isinstance(p, dict) and ("functionResponse" in p or "function_response" in p)
            for p in parts
        )
    if rec.dialect == "anthropic":
        msgs = body.get("messages") or []
        if not msgs or not isinstance(msgs[-1], dict) or msgs[-1].get("role") != "user":
            return False
        content = msgs[-1].get("content")
        return isinstance(content, list) and any(
            isinstance(b, dict) and b.get("type") == "tool_result" for b in content
        )
    return False


def _last_is_plain_user(rec: RecordedRequest) -> bool:
    """True when the last turn is a user message that is not a tool result."""
    body = rec.body or {}
    if _last_is_tool_result(rec):
        return False
    if rec.dialect in ("openai", "anthropic"):
        msgs = body.get("messages") or []
        return bool(msgs) and isinstance(msgs[-1], dict) and msgs[-1].get("role") == "user"
    if rec.dialect == "gemini":
        contents = body.get("contents") or []
        return (
            bool(contents)
            and isinstance(contents[-1], dict)
            and contents[-1].get("role", "user") == "user"
        )
    return False


def _offered_tools(rec: RecordedRequest) -> set[str]:
    """Names of the tools/functions the request offers."""
    body = rec.body or {}
    names: set[str] = set()
    for tool in body.get("tools") or []:
        if not isinstance(tool, dict):
            continue
        if rec.dialect == "openai":
            fn = tool.get("function")
            if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                names.add(fn["name"])
        elif rec.dialect == "gemini":
            decls = tool.get("functionDeclarations") or tool.get("function_declarations") or []
            names.update(d["name"] for d in decls if isinstance(d, dict) and "name" in d)
        elif rec.dialect == "anthropic" and isinstance(tool.get("name"), str):
            names.add(tool["name"])
    return names


class _Ctx:
    """Per-response rendering context: ids, model, timestamps."""

    def __init__(self, up: FakeUpstream, rec: RecordedRequest, reply: Reply) -> None:
        """Allocate ids for this response from the server's counters."""
        n = next(up._counter)
        self.n = n
        self.model = rec.model or "fake-model"
        self.created = int(time.time())
        self.tool_ids: list[str] = []
        for tc in reply.tool_calls:
            k = next(up._tool_counter)
            if tc.id is not None:
                self.tool_ids.append(tc.id)
            elif rec.dialect == "anthropic":
                self.tool_ids.append(f"toolu_fake{k}")
            else:
                self.tool_ids.append(f"call_{k}")
        body = rec.body or {}
        opts = body.get("stream_options")
        self.include_usage = isinstance(opts, dict) and bool(opts.get("include_usage"))
        self.sse = rec.query.get("alt") == "sse"


# --------------------------------------------------------------------------- OpenAI


def _openai_usage(reply: Reply) -> dict[str, Any]:
    """OpenAI ``usage`` object."""
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
    }


def _openai_text(reply: Reply) -> str:
    """The assistant content, with reasoning inlined as <think> tags when requested."""
    if reply.think_tags and reply.reasoning:
        return f"<think>{reply.reasoning}</think>{reply.text}"
    return reply.text


def _openai_message(reply: Reply, ctx: _Ctx) -> dict[str, Any]:
    """Non-streaming ``chat.completion`` body."""
    text = _openai_text(reply)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if (reply.tool_calls and not text) else text,
        "refusal": None,
    }
    if reply.reasoning and not reply.think_tags:
        message["reasoning_content"] = reply.reasoning
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": tid,
                "type": "function",
                "function": {"name": tc.name, "arguments": _call_args(tc)},
            }
            for tc, tid in zip(reply.tool_calls, ctx.tool_ids, strict=True)
        ]
    return {
        "id": f"chatcmpl-fake{ctx.n}",
        "object": "chat.completion",
        "created": ctx.created,
        "model": ctx.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": _finish_for("openai", reply),
            }
        ],
        "usage": _openai_usage(reply),
    }


def _openai_frames(reply: Reply, ctx: _Ctx, *, finish: bool = True) -> list[bytes]:
    """Streaming ``chat.completion.chunk`` SSE frames (without the finish part if not ``finish``)."""

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        obj: dict[str, Any] = {
            "id": f"chatcmpl-fake{ctx.n}",
            "object": "chat.completion.chunk",
            "created": ctx.created,
            "model": ctx.model,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if ctx.include_usage:
            obj["usage"] = None
        return b"data: " + _dumps(obj) + b"\n\n"

    frames = [chunk({"role": "assistant", "content": ""})]
    if reply.reasoning and not reply.think_tags:
        frames += [
            chunk({"reasoning_content": p}) for p in _pieces(reply.reasoning, reply.chunk_size)
        ]
    text = _openai_text(reply)
    frames += [chunk({"content": p}) for p in _text_pieces(reply, text, reply.chunk_size)]
    for i, (tc, tid) in enumerate(zip(reply.tool_calls, ctx.tool_ids, strict=True)):
        head = {
            "index": i,
            "id": tid,
            "type": "function",
            "function": {"name": tc.name, "arguments": ""},
        }
        frames.append(chunk({"tool_calls": [head]}))
        for p in _pieces(_call_args(tc), reply.chunk_size):
            frames.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": p}}]}))
    if not finish:
        return frames
    frames.append(chunk({}, _finish_for("openai", reply)))
    if ctx.include_usage:
        usage = {
            "id": f"chatcmpl-fake{ctx.n}",
            "object": "chat.completion.chunk",
            "created": ctx.created,
            "model": ctx.model,
            "choices": [],
            "usage": _openai_usage(reply),
        }
        frames.append(b"data: " + _dumps(usage) + b"\n\n")
    frames.append(b"data: [DONE]\n\n")
    return frames


def _openai_error(status: int, message: str) -> dict[str, Any]:
    """OpenAI error envelope."""
    etype, code = _OPENAI_ERRORS.get(
        status, ("server_error", None) if status >= 500 else ("invalid_request_error", None)
    )
    return {"error": {"message": message, "type": etype, "param": None, "code": code}}


# --------------------------------------------------------------------------- Gemini


def _gemini_usage(reply: Reply) -> dict[str, Any]:
    """Gemini ``usageMetadata`` (candidates exclude thoughts; total includes them)."""
    return {
        "promptTokenCount": reply.prompt_tokens,
        "candidatesTokenCount": reply.completion_tokens,
        "totalTokenCount": reply.prompt_tokens + reply.completion_tokens + reply.reasoning_tokens,
        "cachedContentTokenCount": reply.cached_tokens,
        "thoughtsTokenCount": reply.reasoning_tokens,
    }


def _gemini_parts(reply: Reply, *, chunked: bool) -> list[dict[str, Any]]:
    """Gemini content parts: thoughts, text, then function calls (text split if ``chunked``)."""
    size = reply.chunk_size if chunked else 0
    parts: list[dict[str, Any]] = []
    if reply.reasoning:
        parts += [{"text": p, "thought": True} for p in _pieces(reply.reasoning, size)]
    parts += [{"text": p} for p in _text_pieces(reply, reply.text, size)]
    first_call: dict[str, Any] | None = None
    for tc in reply.tool_calls:
        call: dict[str, Any] = {"name": tc.name, "args": tc.arguments}
        if tc.id is not None:
            call["id"] = tc.id
        part = {"functionCall": call}
        parts.append(part)
        first_call = first_call or part
    if reply.thought_signature and parts:
        (first_call or parts[-1])["thoughtSignature"] = reply.thought_signature
    return parts


def _gemini_response(
    reply: Reply, ctx: _Ctx, parts: list[dict[str, Any]], *, final: bool
) -> dict[str, Any]:
    """One ``GenerateContentResponse`` (the final one carries finishReason and usage)."""
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    obj: dict[str, Any] = {"candidates": [candidate]}
    if final:
        candidate["finishReason"] = _finish_for("gemini", reply)
        obj["usageMetadata"] = _gemini_usage(reply)
    obj["modelVersion"] = ctx.model
    obj["responseId"] = f"fake-resp-{ctx.n}"
    return obj


def _gemini_chunks(reply: Reply, ctx: _Ctx, *, finish: bool = True) -> list[dict[str, Any]]:
    """Streaming responses, one part each; the last gets finishReason/usage when ``finish``."""
    parts = _gemini_parts(reply, chunked=True)
    if finish and not parts:
        parts = [{"text": ""}]
    return [
        _gemini_response(reply, ctx, [p], final=finish and i == len(parts) - 1)
        for i, p in enumerate(parts)
    ]


def _gemini_frames(reply: Reply, ctx: _Ctx, *, finish: bool = True) -> list[bytes]:
    """Gemini ``alt=sse`` frames (CRLF-separated like the real API)."""
    return [b"data: " + _dumps(c) + b"\r\n\r\n" for c in _gemini_chunks(reply, ctx, finish=finish)]


def _gemini_error(status: int, message: str) -> dict[str, Any]:
    """Gemini (Google RPC) error envelope."""
    name = _GEMINI_STATUSES.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT")
    return {"error": {"code": status, "message": message, "status": name}}


# --------------------------------------------------------------------------- Anthropic


def _anthropic_usage(reply: Reply) -> dict[str, Any]:
    """Anthropic ``usage`` (input_tokens excludes cache reads)."""
    return {
        "input_tokens": max(0, reply.prompt_tokens - reply.cached_tokens),
        "cache_creation_input_tokens": reply.cache_write_tokens,
        "cache_read_input_tokens": reply.cached_tokens,
        "output_tokens": reply.completion_tokens,
    }


def _anthropic_blocks(reply: Reply, ctx: _Ctx) -> list[dict[str, Any]]:
    """Final content blocks: thinking, text, tool_use."""
    blocks: list[dict[str, Any]] = []
    if reply.reasoning:
        blocks.append({"type": "thinking", "thinking": reply.reasoning, "signature": "sig-fake"})
    if reply.text:
        blocks.append({"type": "text", "text": reply.text})
    for tc, tid in zip(reply.tool_calls, ctx.tool_ids, strict=True):
        blocks.append({"type": "tool_use", "id": tid, "name": tc.name, "input": tc.arguments})
    return blocks


def _anthropic_message(reply: Reply, ctx: _Ctx) -> dict[str, Any]:
    """Non-streaming Messages API response."""
    return {
        "id": f"msg_fake{ctx.n}",
        "type": "message",
        "role": "assistant",
        "model": ctx.model,
        "content": _anthropic_blocks(reply, ctx),
        "stop_reason": _finish_for("anthropic", reply),
        "stop_sequence": None,
        "usage": _anthropic_usage(reply),
    }


def _sse_event(name: str, data: dict[str, Any]) -> bytes:
    """One Anthropic-style SSE frame with an ``event:`` line."""
    return b"event: " + name.encode() + b"\ndata: " + _dumps(data) + b"\n\n"


def _anthropic_frames(reply: Reply, ctx: _Ctx, *, finish: bool = True) -> list[bytes]:
    """Anthropic Messages SSE frames in the real event grammar."""
    usage = _anthropic_usage(reply)
    start_msg: dict[str, Any] = {
        "id": f"msg_fake{ctx.n}",
        "type": "message",
        "role": "assistant",
        "model": ctx.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": 1},
    }
    frames = [
        _sse_event("message_start", {"type": "message_start", "message": start_msg}),
        _sse_event("ping", {"type": "ping"}),
    ]
    for index, block in enumerate(_anthropic_blocks(reply, ctx)):
        deltas: list[dict[str, Any]]
        start: dict[str, Any]
        if block["type"] == "thinking":
            start = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [
                {"type": "thinking_delta", "thinking": p}
                for p in _pieces(block["thinking"], reply.chunk_size)
            ]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        elif block["type"] == "text":
            start = {"type": "text", "text": ""}
            deltas = [
                {"type": "text_delta", "text": p} for p in _pieces(block["text"], reply.chunk_size)
            ]
        else:
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            deltas = [
                {"type": "input_json_delta", "partial_json": p}
                for p in _pieces(_args_json(block["input"]), reply.chunk_size)
            ]
        frames.append(
            _sse_event(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start},
            )
        )
        frames += [
            _sse_event(
                "content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}
            )
            for d in deltas
        ]
        frames.append(
            _sse_event("content_block_stop", {"type": "content_block_stop", "index": index})
        )
    if not finish:
        return frames
    frames.append(
        _sse_event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": _finish_for("anthropic", reply), "stop_sequence": None},
                "usage": {"output_tokens": reply.completion_tokens},
            },
        )
    )
    frames.append(_sse_event("message_stop", {"type": "message_stop"}))
    return frames


def _anthropic_error(status: int, message: str) -> dict[str, Any]:
    """Anthropic error envelope."""
    etype = _ANTHROPIC_ERRORS.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": etype, "message": message}}


_ERROR_BUILDERS: dict[str, Callable[[int, str], dict[str, Any]]] = {
    "openai": _openai_error,
    "gemini": _gemini_error,
    "anthropic": _anthropic_error,
}
# Status used for the mid-stream error event of fault="sse_error".
_SSE_ERROR_STATUS = {"openai": 500, "gemini": 503, "anthropic": 529}


def _error_frame(dialect: str, message: str) -> bytes:
    """A mid-stream error event in the dialect's streaming format."""
    body = _ERROR_BUILDERS[dialect](_SSE_ERROR_STATUS[dialect], message)
    if dialect == "anthropic":
        return _sse_event("error", body)
    sep = b"\r\n\r\n" if dialect == "gemini" else b"\n\n"
    return b"data: " + _dumps(body) + sep


# --------------------------------------------------------------------------- server


class FakeUpstream:
    """Fake provider server speaking OpenAI chat, Gemini and Anthropic Messages on one port."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, prefix: str = "") -> None:
        """Configure (not start) the server; ``prefix`` is an extra path prefix to accept, e.g. "/api"."""
        self.host = host
        self.port = port
        self.prefix = prefix.rstrip("/")
        self.requests: list[RecordedRequest] = []
        self.script: list[Reply] = []
        self.default: Reply = Reply()
        self.disconnects: int = 0
        self.auto_tool: str | None = None
        self.auto_tool_args: dict[str, Any] = {}
        self.text_tools: str | None = None
        """Auto-tool calls written as text in this style (TEXT_TOOL_STYLES), not as tool_calls."""
        self.count_tokens_value: int = 42
        self.models: list[str] = ["fake-model"]
        self.verbose: bool = False
        self._runner: web.AppRunner | None = None
        self._stopping = False
        self._counter = itertools.count(1)
        self._tool_counter = itertools.count(1)

    # ----- lifecycle

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT`` (available after start())."""
        if self._runner is None:
            raise RuntimeError("FakeUpstream is not started")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Bind and start serving; ``port`` is updated to the bound port."""
        if self._runner is not None:
            return
        self._stopping = False
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.25
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop serving and close all connections (in-flight handlers are cancelled)."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._stopping = True
        await runner.cleanup()

    async def __aenter__(self) -> FakeUpstream:
        """Start on entry of ``async with``."""
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop on exit of ``async with``."""
        await self.stop()

    def reset(self) -> None:
        """Forget recorded requests, scripted replies, disconnects and auto-tool; restore the default."""
        self.requests.clear()
        self.script.clear()
        self.default = Reply()
        self.disconnects = 0
        self.auto_tool = None
        self.auto_tool_args = {}
        self.text_tools = None

    async def wait_for_requests(self, n: int = 1, timeout: float = 5.0) -> bool:
        """Poll until at least ``n`` requests were recorded; False on timeout."""
        deadline = time.monotonic() + timeout
        while len(self.requests) < n:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def wait_for_disconnects(self, n: int = 1, timeout: float = 5.0) -> bool:
        """Poll until at least ``n`` client disconnects were seen; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.disconnects < n:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    # ----- routing

    def _classify(self, method: str, path: str, headers: dict[str, str]) -> tuple[str, str]:
        """Return (dialect, kind) for a request; kind is chat/count/models/none."""
        if self.prefix:
            if not path.startswith(self.prefix):
                return "unknown", "none"
            path = path[len(self.prefix) :]
        if method == "POST":
            if _OPENAI_RE.match(path):
                return "openai", "chat"
            if _COUNT_RE.match(path):
                return "anthropic", "count"
            if _ANTHROPIC_RE.match(path):
                return "anthropic", "chat"
            if _GEMINI_RE.match(path):
                return "gemini", "chat"
        elif method == "GET" and _MODELS_RE.match(path):
            if path.startswith("/v1beta") or "x-goog-api-key" in headers:
                return "gemini", "models"
            if "anthropic-version" in headers:
                return "anthropic", "models"
            return "openai", "models"
        return "unknown", "none"

    def _next_reply(self, rec: RecordedRequest) -> Reply:
        """Scripted reply first, then the auto-tool helper, then the default."""
        if self.script:
            return self.script.pop(0)
        if self.auto_tool:
            if _last_is_tool_result(rec):
                return Reply(text="Done: the tool ran.")
            if _last_is_plain_user(rec) and self.auto_tool in _offered_tools(rec):
                if self.text_tools:
                    call = text_tool_call(self.text_tools, self.auto_tool, self.auto_tool_args)
                    return Reply(text="I will run it now.\n" + call)
                return Reply(
                    text="", tool_calls=[ToolCall(self.auto_tool, dict(self.auto_tool_args))]
                )
        return self.default

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        """Entry point for every request: record, route, then answer."""
        raw = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        dialect, kind = self._classify(request.method, request.path, headers)
        body: dict[str, Any] | None = None
        if raw:
            with contextlib.suppress(ValueError):
                parsed = orjson.loads(raw)
                body = parsed if isinstance(parsed, dict) else None
        rec = RecordedRequest(
            path=request.path,
            query=dict(request.query),
            headers=headers,
            body=body,
            dialect=dialect,
            method=request.method,
            raw=raw,
            peer=request.transport.get_extra_info("peername") if request.transport else None,
        )
        self.requests.append(rec)
        if self.verbose:
            print(
                f"[fake-upstream] {rec.method} {rec.path} dialect={dialect} model={rec.model} "
                f"stream={rec.stream}",
                file=sys.stderr,
                flush=True,
            )
        if dialect == "unknown":
            return web.json_response(
                {
                    "error": {
                        "message": f"no route for {request.method} {request.path}",
                        "code": 404,
                    }
                },
                status=404,
            )
        if kind == "models":
            # A scripted error reply applies to model listings too (doctor tests use that).
            if self.script and self.script[0].status != 200:
                failing = self.script.pop(0)
                err = _ERROR_BUILDERS[dialect](failing.status, failing.error_message)
                return web.json_response(err, status=failing.status)
            return web.json_response(self._models_body(dialect))
        if kind == "count":
            return web.json_response({"input_tokens": self.count_tokens_value})
        if body is None:
            err = _ERROR_BUILDERS[dialect](400, "request body is not a JSON object")
            return web.json_response(err, status=400)
        reply = self._next_reply(rec)
        if ECHO_KEY in reply.error_message:
            # An upstream that echoes the credential it was sent (some gateways do, in 401s).
            echoed = reply.error_message.replace(ECHO_KEY, rec.api_key or "")
            reply = dataclasses.replace(reply, error_message=echoed)
        try:
            return await self._respond(request, rec, reply)
        except asyncio.CancelledError:
            if not self._stopping:
                self.disconnects += 1
            raise

    def _models_body(self, dialect: str) -> dict[str, Any]:
        """Model list in the dialect's shape."""
        if dialect == "gemini":
            return {
                "models": [
                    {
                        "name": f"models/{m}",
                        "displayName": m,
                        "supportedGenerationMethods": ["generateContent", "streamGenerateContent"],
                    }
                    for m in self.models
                ]
            }
        if dialect == "anthropic":
            data = [
                {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
                for m in self.models
            ]
            return {
                "data": data,
                "has_more": False,
                "first_id": self.models[0] if self.models else None,
                "last_id": self.models[-1] if self.models else None,
            }
        return {
            "object": "list",
            "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.models
            ],
        }

    # ----- responding

    async def _respond(
        self, request: web.Request, rec: RecordedRequest, reply: Reply
    ) -> web.StreamResponse:
        """Render ``reply`` for ``rec`` including delays and faults."""
        if reply.delay_before > 0:
            await asyncio.sleep(reply.delay_before)
        headers = dict(reply.headers)
        dialect = rec.dialect
        stream = rec.stream
        fault = reply.fault
        if fault == "hang":
            await asyncio.sleep(3600)
        if fault == "reset":
            self._reset_connection(request)
            return web.Response(status=500)
        if fault == "html":
            html = "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
            return web.Response(status=200, text=html, content_type="text/html", headers=headers)
        if fault == "empty":
            ctype = "text/event-stream" if stream else "application/json"
            return web.Response(status=200, body=b"", content_type=ctype, headers=headers)
        if reply.status != 200:
            err = _ERROR_BUILDERS[dialect](reply.status, reply.error_message)
            return web.json_response(err, status=reply.status, headers=headers)

        ctx = _Ctx(self, rec, reply)
        if dialect == "anthropic":
            headers.setdefault("request-id", f"req_fake{ctx.n}")
        else:
            headers.setdefault("x-request-id", f"req_fake{ctx.n}")

        if not stream:
            if fault == "malformed_sse":
                return web.Response(
                    status=200, body=b"{not json", content_type="application/json", headers=headers
                )
            if fault == "sse_error":
                err = _ERROR_BUILDERS[dialect](_SSE_ERROR_STATUS[dialect], reply.error_message)
                return web.json_response(err, status=200, headers=headers)
            if dialect == "openai":
                payload: Any = _openai_message(reply, ctx)
            elif dialect == "anthropic":
                payload = _anthropic_message(reply, ctx)
            else:
                payload = _gemini_response(
                    reply, ctx, _gemini_parts(reply, chunked=False), final=True
                )
            data = _dumps(payload)
            if fault == "cut":
                return await self._write_cut_body(request, data, headers)
            return web.Response(
                status=200, body=data, content_type="application/json", headers=headers
            )

        # streaming
        if dialect == "gemini" and not ctx.sse:
            return await self._stream_json_array(request, reply, ctx, headers)
        render = {
            "openai": _openai_frames,
            "gemini": _gemini_frames,
            "anthropic": _anthropic_frames,
        }[dialect]
        if fault in ("cut", "sse_error"):
            partial = render(reply, ctx, finish=False)
            frames = partial[: max(1, (len(partial) + 1) // 2)]
            if fault == "sse_error":
                frames.append(_error_frame(dialect, reply.error_message))
        else:
            frames = render(reply, ctx, finish=True)
            if fault == "malformed_sse":
                frames.insert(max(1, len(frames) // 2), b"data: {not json\n\n")
        ctype = "text/event-stream" if dialect == "gemini" else "text/event-stream; charset=utf-8"
        headers["Content-Type"] = ctype
        headers["Cache-Control"] = "no-cache"
        return await self._write_stream(request, frames, reply, headers, cut=fault == "cut")

    def _reset_connection(self, request: web.Request) -> None:
        """Abort the TCP connection with an RST (SO_LINGER 0)."""
        transport = request.transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()

    async def _write(self, resp: web.StreamResponse, data: bytes) -> bool:
        """Write one piece; on a broken connection count a disconnect and return False."""
        try:
            await resp.write(data)
        except ConnectionError:
            self.disconnects += 1
            return False
        return True

    async def _write_stream(
        self,
        request: web.Request,
        frames: list[bytes],
        reply: Reply,
        headers: dict[str, str],
        *,
        cut: bool,
    ) -> web.StreamResponse:
        """Send frames with the configured pacing; close the transport early if ``cut``."""
        resp = web.StreamResponse(status=200, headers=headers)
        try:
            await resp.prepare(request)
        except ConnectionError:
            self.disconnects += 1
            return resp
        for i, frame in enumerate(frames):
            if i and reply.delay_between_chunks > 0:
                await asyncio.sleep(reply.delay_between_chunks)
            if not await self._write(resp, frame):
                return resp
        if cut and request.transport is not None:
            request.transport.close()
        return resp

    async def _write_cut_body(
        self, request: web.Request, data: bytes, headers: dict[str, str]
    ) -> web.StreamResponse:
        """Announce the full Content-Length, send half of the body, then close."""
        resp = web.StreamResponse(
            status=200, headers={**headers, "Content-Type": "application/json"}
        )
        resp.content_length = len(data)
        try:
            await resp.prepare(request)
        except ConnectionError:
            self.disconnects += 1
            return resp
        if await self._write(resp, data[: len(data) // 2]) and request.transport is not None:
            request.transport.close()
        return resp

    async def _stream_json_array(
        self, request: web.Request, reply: Reply, ctx: _Ctx, headers: dict[str, str]
    ) -> web.StreamResponse:
        """Gemini streamGenerateContent without ``alt=sse``: a JSON array written incrementally."""
        cut = reply.fault == "cut"
        chunks = _gemini_chunks(reply, ctx, finish=not cut)
        if cut:
            chunks = chunks[: max(1, (len(chunks) + 1) // 2)]
        frames = [
            b"[" + _dumps(c) if i == 0 else b",\r\n" + _dumps(c) for i, c in enumerate(chunks)
        ]
        if not cut:
            frames.append(b"]")
        headers["Content-Type"] = "application/json; charset=UTF-8"
        return await self._write_stream(request, frames, reply, headers, cut=cut)


# --------------------------------------------------------------------------- threads / CLI


def run_in_thread(
    *, host: str = "127.0.0.1", port: int = 0
) -> tuple[FakeUpstream, Callable[[], None]]:
    """Start a FakeUpstream on its own event loop in a daemon thread; return it and a stop function."""
    up = FakeUpstream(host=host, port=port)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    errors: list[BaseException] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(up.start())
        except BaseException as exc:
            errors.append(exc)
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(up.stop())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=serve, name="fake-upstream", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("fake upstream did not start within 10 s")
    if errors:
        thread.join(5)
        raise errors[0]

    stopped = False

    def stop() -> None:
        nonlocal stopped
        if stopped:
            return
        stopped = True
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)

    return up, stop


async def _serve_forever(args: argparse.Namespace) -> None:
    """CLI body: start, print the URL, wait until interrupted."""
    up = FakeUpstream(host=args.host, port=args.port, prefix=args.prefix)
    up.verbose = not args.quiet
    up.default = Reply(text=args.text, reasoning=args.reasoning)
    if args.auto_tool:
        up.auto_tool = args.auto_tool
        up.auto_tool_args = json.loads(args.auto_tool_args)
        up.text_tools = args.text_tools
    await up.start()
    print(f"fake upstream listening on {up.url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await up.stop()


def main(argv: list[str] | None = None) -> None:
    """``python -m tests.support.fake_upstream``: serve the default reply until Ctrl-C."""
    parser = argparse.ArgumentParser(description="Fake OpenAI/Gemini/Anthropic upstream")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9999)
    parser.add_argument("--prefix", default="", help="extra path prefix to accept, e.g. /api")
    parser.add_argument("--text", default=DEFAULT_TEXT, help="default reply text")
    parser.add_argument("--reasoning", default=None, help="default reasoning text")
    parser.add_argument(
        "--auto-tool", default=None, help="tool name to call when offered, e.g. Bash"
    )
    parser.add_argument(
        "--auto-tool-args",
        default='{"command": "echo hello from fake upstream", "description": "Print a greeting"}',
        help="JSON object of arguments for --auto-tool",
    )
    parser.add_argument(
        "--text-tools",
        choices=sorted(TEXT_TOOL_STYLES),
        default=None,
        help="write the --auto-tool call into the text in this model's markup (no tool_calls)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(args))


if __name__ == "__main__":
    main()
