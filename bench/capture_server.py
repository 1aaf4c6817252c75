"""The scripted Anthropic-compatible server that `bench.capture_claude_code` points Claude Code at.

It records every request whole (method, path, query, headers, raw body) and answers
`/v1/messages` from a scenario's script, as SSE with the full event grammar (`message_start`,
`ping`, `content_block_*`, `message_delta`, `message_stop`) or as JSON when the body has no
`"stream": true`. `count_tokens` gets a rough count; any other path a 404 error envelope.
Beside it runs a refusing HTTP(S) proxy that logs which hosts the CLI tried to reach.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}


@dataclass
class Answer:
    """One scripted model answer: Anthropic content blocks and how to deliver them."""

    blocks: list[dict[str, Any]]
    stop_reason: str = "end_turn"
    drop_stream: str | None = None
    """Break the stream: "close" the socket after the first content block, "close-early" after
    message_start, "eof" (end the body after the first block without message_stop), "error" (an
    `event: error` frame after the first block) or "404" (a 404 error instead of a stream)."""
    model: str | None = None
    """The model id the answer names; None echoes the requested one."""


@dataclass
class Recorded:
    """One request exactly as it arrived."""

    seq: int
    method: str
    path: str
    query: dict[str, str]
    headers: list[tuple[str, str]]
    raw: bytes

    def body(self) -> Any:
        """The JSON body, or the raw text when it is not JSON."""
        try:
            return json.loads(self.raw) if self.raw else None
        except ValueError:
            return self.raw.decode("utf-8", "replace")


Responder = Callable[[dict[str, Any]], Answer]


@dataclass
class CaptureServer:
    """Records requests and answers them with `responder(body)`; serves until `stop`."""

    responder: Responder
    requests: list[Recorded] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def start(self, host: str = "127.0.0.1") -> int:
        """Listen on `host` (port 0 picks a free one) and return the bound port."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self.port

    async def stop(self) -> None:
        """Close the listener and every open connection."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        rec = Recorded(
            seq=len(self.requests) + 1,
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=list(request.headers.items()),
            raw=raw,
        )
        self.requests.append(rec)
        body = rec.body()
        if request.method == "POST" and request.path.endswith("/messages/count_tokens"):
            return web.json_response({"input_tokens": max(1, len(raw) // 4)})
        if request.method == "POST" and request.path.endswith("/messages"):
            if not isinstance(body, dict):
                return _error(400, "invalid_request_error", "body is not a JSON object")
            answer = self.responder(body)
            message = _message(body, answer, next(self._ids))
            if body.get("stream") is True:
                if answer.drop_stream == "404":
                    return _error(404, "not_found_error", "streaming is not available here")
                return await _stream(request, message, answer.drop_stream)
            return web.json_response(message)
        return _error(404, "not_found_error", f"no route for {request.method} {request.path}")


def _error(status: int, kind: str, text: str) -> web.Response:
    return web.json_response(
        {"type": "error", "error": {"type": kind, "message": text}}, status=status
    )


def _message(body: dict[str, Any], answer: Answer, n: int) -> dict[str, Any]:
    """The whole answer as a Messages API object; `model` echoes the request's unless set."""
    return {
        "id": f"msg_capture_{n:04d}",
        "type": "message",
        "role": "assistant",
        "model": answer.model or body.get("model", "unknown"),
        "content": answer.blocks,
        "stop_reason": answer.stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 100, "output_tokens": 20},
    }


def _frame(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _block_frames(index: int, block: dict[str, Any]) -> list[bytes]:
    """content_block_start / delta(s) / stop for one block, deltas as the API sends them."""
    kind = block["type"]
    if kind == "text":
        start: dict[str, Any] = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": block["text"]}]
    elif kind == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [
            {"type": "thinking_delta", "thinking": block["thinking"]},
            {"type": "signature_delta", "signature": block["signature"]},
        ]
    elif kind == "tool_use":
        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        text = json.dumps(block["input"])
        half = len(text) // 2  # two partial chunks, as a real stream splits arguments
        deltas = [
            {"type": "input_json_delta", "partial_json": text[:half]},
            {"type": "input_json_delta", "partial_json": text[half:]},
        ]
    else:
        raise ValueError(f"cannot stream a {kind} block")
    frames = [
        _frame(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": start},
        )
    ]
    for delta in deltas:
        frames.append(
            _frame(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
        )
    frames.append(_frame("content_block_stop", {"type": "content_block_stop", "index": index}))
    return frames


async def _stream(
    request: web.Request, message: dict[str, Any], drop: str | None
) -> web.StreamResponse:
    resp = web.StreamResponse(status=200, headers=SSE_HEADERS)
    await resp.prepare(request)
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": 100, "output_tokens": 1},
    }
    await resp.write(_frame("message_start", {"type": "message_start", "message": start}))
    await resp.write(_frame("ping", {"type": "ping"}))
    if drop == "close-early":
        _close(request)
        return resp
    for index, block in enumerate(message["content"]):
        for frame in _block_frames(index, block):
            await resp.write(frame)
        if drop == "eof":
            await resp.write_eof()
            return resp
        if drop == "close":
            _close(request)
            return resp
        if drop == "error":
            error = {"type": "error", "error": {"type": "api_error", "message": "upstream failed"}}
            await resp.write(_frame("error", error))
            await resp.write_eof()
            return resp
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
        "usage": {"output_tokens": 20},
    }
    await resp.write(_frame("message_delta", delta))
    await resp.write(_frame("message_stop", {"type": "message_stop"}))
    with contextlib.suppress(ConnectionError):
        await resp.write_eof()
    return resp


def _close(request: web.Request) -> None:
    """Close the socket mid-message: no message_stop, so the client sees a broken stream."""
    if request.transport is not None:
        request.transport.close()


@dataclass
class RefusingProxy:
    """An HTTP(S) proxy that logs each request line (`CONNECT host:443`) and refuses it."""

    attempts: list[str] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    async def start(self, host: str = "127.0.0.1") -> int:
        """Listen and return the bound port."""
        self._server = await asyncio.start_server(self._handle, host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            line = await asyncio.wait_for(reader.readline(), 5)
            self.attempts.append(line.decode("latin-1").strip())
            writer.write(
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            await writer.drain()
        writer.close()
