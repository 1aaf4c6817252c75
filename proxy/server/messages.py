"""Thin handlers for the Anthropic endpoints: parse, validate, route, hand to a transport."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from proxy.core.conversation_cache import CONVERSATIONS
from proxy.core.errors import ProxyError
from proxy.core.json_response import json_response
from proxy.core.lazy_litellm import get_litellm
from proxy.core.tokens import count_openai_tokens
from proxy.server.body_parse import learn_system, parse_known
from proxy.server.dispatch import dispatch_with_retries
from proxy.server.keys import GATE, HTTP, LIMITER, SERVICE
from proxy.state.exchange import Exchange
from proxy.state.service import ProxyService
from proxy.translate.deferred import visible_tools
from proxy.translate.json_depth import (
    MIN_DEEP_BODY,
    check_rest_depth,
    check_tools_depth,
    deep_error,
)
from proxy.translate.model_swap import RawBody
from proxy.translate.to_openai import convert_messages, convert_tools
from proxy.translate.validate import validate_count_tokens, validate_messages
from proxy.upstreams.http import LOOP_HEADER
from proxy.upstreams.registry import ANTHROPIC

SESSION_HEADER = "X-Claude-Code-Session-Id"
MAX_SESSION_ID = 256
MAX_KEY_HEADER = 4096
ORIGIN_HEADER = "x-claude-proxy-origin"
"""Set by the TUI on its own requests: `probe` (config test) or `replay` (detail replay)."""
ORIGINS = frozenset({"probe", "replay"})


def request_origin(request: web.Request) -> str:
    """`probe` or `replay` for the TUI's own requests, `client` for everything else."""
    origin = request.headers.get(ORIGIN_HEADER, "")
    return origin if origin in ORIGINS else "client"


async def read_json(request: web.Request) -> Any:
    """The request body as JSON, or a 4xx that says what is wrong with it."""
    return (await read_json_sized(request))[0]


async def read_json_sized(request: web.Request) -> tuple[Any, int]:
    """`read_json`, and the size in bytes of what it parsed."""
    body, raw = await read_json_raw(request)
    return body, len(raw.data)


async def read_json_raw(
    request: web.Request, *, whole: bool = True, identity: str | None = None
) -> tuple[Any, RawBody]:
    """`read_json`, and the bytes it parsed (with where kept tools sat in them).

    `whole=False`: the depth check of everything but the tools is left to the caller (the
    Messages validation walk does it block by block, `validate_messages(depth_checked=False)`);
    `identity`: the sender's `client_identity`, when the caller has it.
    """
    try:
        if request.content.is_eof():
            raw = await request.read()  # all here already: nothing to wait for
        else:
            async with asyncio.timeout(request.app[SERVICE].settings.body_timeout):
                raw = await request.read()
    except TimeoutError:
        raise ProxyError(
            408,
            "timeout_error",
            "the request body did not arrive in time (BODY_TIMEOUT "
            f"{request.app[SERVICE].settings.body_timeout:g} s)",
        ) from None
    if not raw:
        raise ProxyError(400, "invalid_request_error", "request body is empty: expected JSON")
    body, kept = parse_known(raw, identity if identity is not None else client_identity(request))
    if body is None:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ProxyError(
                400, "invalid_request_error", f"request body is not valid JSON: {exc}"
            ) from None
    if len(raw) >= MIN_DEEP_BODY:
        try:
            check_tools_depth(raw, body, kept.tools is not None)
            if whole:
                check_rest_depth(body)
        except orjson.JSONEncodeError:
            raise deep_error() from None
        if kept.system is None:
            learn_system(raw, body)
    return body, kept.raw_body(raw)


def header_text(request: web.Request, name: str, limit: int) -> str | None:
    """A header that must be printable ASCII of at most `limit` characters, else a 400."""
    value = request.headers.get(name)
    if value is None:
        return None
    if len(value) > limit or not value.isascii() or not value.isprintable():
        raise ProxyError(
            400,
            "invalid_request_error",
            f"{name}: must be at most {limit} printable ASCII characters",
        )
    return value


def client_identity(request: web.Request, service: ProxyService | None = None) -> str:
    """Who a request is from, for per-client rate limits.

    Without PROXY_API_KEY anyone may send any x-api-key, so only the address counts (rotating
    keys must not buy new buckets); with it, only the one valid key gets this far.
    """
    if not (service or request.app[SERVICE]).settings.proxy_api_key:
        return request.remote or "-"
    key = request.headers.get("x-api-key") or request.headers.get("Authorization") or ""
    return f"{request.remote}:{hash(key)}"


FORWARDABLE_HEADERS = ("anthropic-version", "anthropic-beta", "x-api-key")


def client_headers(request: web.Request) -> dict[str, str]:
    """The client headers an upstream may need; the transport decides which it forwards."""
    headers = request.headers
    return {name: value for name in FORWARDABLE_HEADERS if (value := headers.get(name))}


def check_headers(request: web.Request) -> str | None:
    """Validate the headers the proxy stores or forwards; returns the session id."""
    header_text(request, "x-api-key", MAX_KEY_HEADER)
    return header_text(request, SESSION_HEADER, MAX_SESSION_ID)


def check_loop(request: web.Request, service: ProxyService) -> None:
    """Refuse a request this very proxy sent upstream: the upstream base points back at us."""
    if request.headers.get(LOOP_HEADER) == service.instance_id:
        raise ProxyError(
            508,
            "loop_detected",
            "request loop: an upstream base URL points back at this proxy. "
            "Set OPENAI_API_BASE / GEMINI_API_BASE / ANTHROPIC_API_BASE to the real upstream.",
        )


async def messages(request: web.Request) -> web.StreamResponse:
    """POST /v1/messages, streaming or not, to whichever upstream the model maps to."""
    identity = client_identity(request, request.app[SERVICE])
    body, raw = await read_json_raw(request, whole=False, identity=identity)
    return await serve_messages(request, body, raw, identity)


async def serve_messages(
    request: web.Request, body: Any, raw: RawBody | None = None, identity: str | None = None
) -> web.StreamResponse:
    """Validate and serve one Messages request body (also used by /conversation/continue).

    `raw`: the bytes `body` was parsed from, when it was; its depth (but its tools') is then
    for the validation to check. `identity`: the sender's `client_identity`, when known.
    """
    session_id = check_headers(request)
    body_bytes = len(raw.data) if raw is not None else None
    depth_checked = body_bytes is None or body_bytes < MIN_DEEP_BODY
    conversation = None
    app = request.app
    service = app[SERVICE]
    if identity is None:
        identity = client_identity(request, service)
    if raw is None:
        text_chars = validate_messages(body, depth_checked=depth_checked)
    else:
        each: list[int] = []
        text_chars = validate_messages(
            body, depth_checked=depth_checked, prefix=raw.prefix, each=each
        )
        if text_chars is not None:  # each message checked and counted: keep them for the next
            conversation = CONVERSATIONS.learn(
                raw.data, body["messages"], raw.prefix, each, identity
            )
    check_loop(request, service)
    app[LIMITER].check(identity)
    client, origin = request.headers.get("User-Agent"), request_origin(request)
    try:
        routed = service.route(body, session_id, body_bytes, text_chars)
    except ProxyError as exc:
        # No key, unknown prefix, prompt too long: still a row in the log, stats and history.
        Exchange.rejected(service, body, session_id, exc, client, origin)
        raise
    exchange = Exchange(
        service,
        routed.body,
        routed.target,
        session_id,
        client_headers=client_headers(request),
        query=request.query_string,
        input_estimate=routed.input_estimate,
        client=client,
        origin=origin,
    )
    exchange.reason = routed.reason
    if routed.body is body:  # a stripped <proxy-model> marker: not the bytes the client sent
        exchange.raw_body = raw
        exchange.conversation = conversation
    exchange.begin()
    try:
        async with app[GATE].slot():
            return await dispatch_with_retries(exchange, request)
    except ProxyError as exc:
        exchange.fail(exc.status, exc.error_type, exc.message)
        raise
    except asyncio.CancelledError:
        exchange.fail(499, "client_closed", "client disconnected")
        raise
    except Exception as exc:
        exchange.fail(500, "api_error", f"internal error: {exc}")
        raise


async def count_tokens(request: web.Request) -> web.Response:
    """POST /v1/messages/count_tokens: forwarded for Anthropic targets, counted locally otherwise."""
    session_id = check_headers(request)
    body = await read_json(request)
    validate_count_tokens(body)
    service = request.app[SERVICE]
    check_loop(request, service)
    target = service.resolve(body["model"])
    # Anthropic counts exactly (with either engine); everyone else gets LiteLLM's local count.
    if target.provider == "anthropic":
        exchange = Exchange(
            service,
            body,
            target,
            session_id,
            "count_tokens",
            client_headers=client_headers(request),
            query=request.query_string,
        )
        return json_response(await ANTHROPIC.count_tokens(exchange, request.app[HTTP]))
    litellm = await get_litellm()
    notes: list[str] = []
    # Private copies: the tools and messages' parts may be shared with other requests (TOOLS,
    # CONVERSATIONS), LiteLLM's counter runs in a thread and is not ours.
    converted = orjson.loads(orjson.dumps(convert_messages(body, False, notes)))
    tools = orjson.loads(orjson.dumps(convert_tools(visible_tools(body, notes), notes)))
    count = await asyncio.get_running_loop().run_in_executor(
        None, count_openai_tokens, litellm, target.upstream_model, converted, tools
    )
    return json_response({"input_tokens": count})


async def health(request: web.Request) -> web.Response:
    """GET /health: 200 while the server runs; `recording` says whether the store records."""
    service = request.app[SERVICE]
    # Open without the proxy key: the state and a short reason, never the file's path.
    recording = service.recording.status()
    return json_response(
        {
            "status": "ok",
            "in_flight": service.counters.in_flight,
            "recording": {"state": recording["state"], "reason": recording["reason"]},
        }
    )
