"""Real recorded provider responses (tests/corpus/providers) and a server that replays them.

Each case is one recorded upstream answer (OpenAI-compatible, Gemini or Anthropic) with its source
and what a faithful Anthropic translation of it shows (`expect`). `ReplayUpstream` answers every
POST on the dialect's path with the current case, streaming SSE bodies in small pieces as real
servers do, and records what it was sent.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

__all__ = ["CORPUS", "Case", "ReplayUpstream", "ReplayedRequest", "load_cases"]

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "providers"
DIALECTS = ("openai", "gemini", "anthropic")
# The paths each dialect's clients post to (the proxy's own transports and LiteLLM's).
DIALECT_PATHS = {
    "openai": re.compile(r"^(?:/v1)?/chat/completions/?$"),
    "gemini": re.compile(r"^/v1beta/models/[^/:]+:(?:generateContent|streamGenerateContent)$"),
    "anthropic": re.compile(r"^(?:/v1)?/messages/?$"),
}
# Odd on purpose: pieces end inside SSE lines, JSON strings and multi-byte characters.
PIECE_SIZE = 61


@dataclass(frozen=True)
class Case:
    """One recorded provider response and what a faithful translation of it shows."""

    id: str
    provider: str
    model: str | None
    dialect: str
    stream: bool
    source: dict[str, str]
    status: int
    content_type: str
    body: str
    request_tools: list[dict[str, Any]]
    expect: dict[str, Any]
    notes: str
    path: Path

    @property
    def is_error(self) -> bool:
        """True when the recording is an HTTP error answer."""
        return "error_status" in self.expect

    @property
    def is_sse(self) -> bool:
        """True when the body is a Server-Sent Events stream."""
        return self.content_type.startswith("text/event-stream")


def _case(path: Path) -> Case:
    data = orjson.loads(path.read_bytes())
    return Case(
        id=data["id"],
        provider=data["provider"],
        model=data.get("model"),
        dialect=data["dialect"],
        stream=bool(data["stream"]),
        source=data["source"],
        status=int(data["status"]),
        content_type=data["content_type"],
        body=data["body"],
        request_tools=list(data.get("request_tools") or []),
        expect=dict(data["expect"]),
        notes=data.get("notes", ""),
        path=path,
    )


def load_cases(dialect: str | None = None) -> list[Case]:
    """Every case in the corpus (or of one dialect), sorted by dialect then id."""
    dialects = DIALECTS if dialect is None else (dialect,)
    cases = [_case(p) for d in dialects for p in sorted((CORPUS / d).glob("*.json"))]
    for case in cases:
        if case.path.parent.name != case.dialect or case.path.stem != case.id:
            raise ValueError(f"{case.path}: id/dialect do not match the file's place")
    return cases


@dataclass
class ReplayedRequest:
    """One request the replay server received (header names lower-cased)."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class ReplayUpstream:
    """An aiohttp server on 127.0.0.1 (port 0) answering every POST with the current case."""

    case: Case | None = None
    piece_size: int = PIECE_SIZE
    requests: list[ReplayedRequest] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def url(self) -> str:
        """Base URL, without any API prefix."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Bind to a free loopback port and serve."""
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        for address in self._runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                self.port = int(address[1])
                break

    async def stop(self) -> None:
        """Stop serving and release the port."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> ReplayUpstream:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        self.requests.append(
            ReplayedRequest(
                path=request.path,
                query=dict(request.query),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
            )
        )
        case = self.case
        if case is None:
            return _misroute("no case is loaded")
        if not DIALECT_PATHS[case.dialect].match(request.path):
            return _misroute(f"path {request.path} is not a {case.dialect} path")
        payload = case.body.encode("utf-8")
        headers = {"Content-Type": case.content_type}
        if not case.is_sse:
            return web.Response(status=case.status, body=payload, headers=headers)
        response = web.StreamResponse(status=case.status, headers=headers)
        await response.prepare(request)
        for start in range(0, len(payload), self.piece_size):
            await response.write(payload[start : start + self.piece_size])
            await asyncio.sleep(0)  # let each piece leave on its own, as a network would
        await response.write_eof()
        return response


def _misroute(message: str) -> web.Response:
    """A 404 that names the mistake, so a misrouted replay fails loudly."""
    body = {"error": {"message": f"ReplayUpstream: {message}", "type": "replay_misroute"}}
    return web.Response(status=404, body=orjson.dumps(body), content_type="application/json")
