"""Transport for Anthropic upstreams: the request passes through (model rewritten), bytes relayed."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from proxy.core import catalogue
from proxy.core.errors import ProxyError, from_upstream
from proxy.state.exchange import Exchange
from proxy.translate.sse import LineSplitter
from proxy.translate.stream_translator import is_proxy_signature
from proxy.upstreams.client_stream import ClientStream
from proxy.upstreams.http import LOOP_HEADER, http_errors, timeout_for

log = logging.getLogger(__name__)

ANTHROPIC_BASE = "https://api.anthropic.com"
PASSED_HEADERS = ("anthropic-version", "anthropic-beta")


def strip_foreign_thinking(messages: list[Any]) -> list[Any]:
    """Drop thinking blocks whose signature this proxy made: Anthropic would reject them."""
    out = []
    for msg in messages:
        content = msg.get("content") if isinstance(msg, dict) else None
        if (
            isinstance(content, list)
            and msg.get("role") == "assistant"
            and any(
                isinstance(b, dict)
                and b.get("type") == "thinking"
                and is_proxy_signature(b.get("signature"))
                for b in content
            )
        ):
            kept = [
                b
                for b in content
                if not (
                    isinstance(b, dict)
                    and b.get("type") == "thinking"
                    and is_proxy_signature(b.get("signature"))
                )
            ]
            msg = {**msg, "content": kept or [{"type": "text", "text": ""}]}
        out.append(msg)
    return out


def clamp_max_tokens(body: dict[str, Any], model: str, notes: list[str]) -> None:
    """Cap max_tokens at the model's output limit, keeping a thinking budget below it."""
    limit = catalogue.max_output_tokens(model)
    asked = body.get("max_tokens")
    if limit is None or not isinstance(asked, int) or asked <= limit:
        return
    notes.append(f"max_tokens {asked} clamped to {limit} for {model}")
    body["max_tokens"] = limit
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and isinstance(thinking.get("budget_tokens"), int):
        # Anthropic refuses budget_tokens >= max_tokens (Claude Code itself sends max - 1).
        body["thinking"] = {**thinking, "budget_tokens": min(thinking["budget_tokens"], limit - 1)}


def build_request(
    exchange: Exchange, request: web.Request, path: str = "/v1/messages"
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """URL, headers and body for the upstream: the client's body with the model rewritten."""
    target = exchange.target
    settings = exchange.service.settings
    body = dict(exchange.body)
    body["model"] = target.upstream_model
    clamp_max_tokens(body, target.model, exchange.notes)
    if isinstance(body.get("messages"), list):
        body["messages"] = strip_foreign_thinking(body["messages"])
    headers = {"Content-Type": "application/json", LOOP_HEADER: exchange.service.instance_id}
    for name in PASSED_HEADERS:
        value = request.headers.get(name)
        if value:
            headers[name] = value
    headers.setdefault("anthropic-version", "2023-06-01")
    key = target.api_key
    if settings.forward_client_key:
        key = request.headers.get("x-api-key") or key
    if key:
        headers["x-api-key"] = key
    query = f"?{request.query_string}" if request.query_string else ""
    url = (target.api_base or ANTHROPIC_BASE) + path + query
    exchange.set_upstream_request(body)
    return url, headers, body


class StreamObserver:
    """Reads the relayed Anthropic frames just enough for events: text, tools, usage, stop."""

    def __init__(self) -> None:
        self.splitter = LineSplitter()
        self.text: list[str] = []
        self.tools: list[dict[str, Any]] = []
        self.usage: dict[str, Any] = {}
        self.stop_reason: str | None = None
        self.message: dict[str, Any] = {}
        self.complete = False
        self.errored = False

    def feed(self, data: bytes) -> str:
        """Observe one network read; returns the answer text it carried."""
        added = []
        for payload in self.splitter.feed(data):
            if b'"text_delta"' in payload:
                try:
                    added.append(orjson.loads(payload)["delta"]["text"])
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    pass
            elif b'"content_block_delta"' in payload:
                continue
            else:
                self._other(payload)
        text = "".join(added)
        if text:
            self.text.append(text)
        return text

    def _other(self, payload: bytes) -> None:
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "message_start":
            self.message = event.get("message") or {}
            self.usage.update(self.message.get("usage") or {})
        elif kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                self.tools.append({"id": block.get("id"), "name": block.get("name"), "input": ""})
        elif kind == "message_delta":
            self.stop_reason = (event.get("delta") or {}).get("stop_reason")
            self.usage.update(event.get("usage") or {})
        elif kind == "message_stop":
            self.complete = True
        elif kind == "error":
            self.errored = True

    def summary(self) -> dict[str, Any]:
        """The final message as far as events need it."""
        content: list[dict[str, Any]] = []
        if self.text:
            content.append({"type": "text", "text": "".join(self.text)})
        content.extend({"type": "tool_use", **tool} for tool in self.tools)
        return {
            "id": self.message.get("id"),
            "model": self.message.get("model"),
            "content": content,
            "stop_reason": self.stop_reason,
            "usage": self.usage,
        }


async def _raise_for_status(response: aiohttp.ClientResponse, provider: str) -> None:
    if response.status != 200:
        body = await response.read()
        raise from_upstream(response.status, body, provider, response.headers.get("retry-after"))


async def stream(
    exchange: Exchange, request: web.Request, http: aiohttp.ClientSession
) -> web.StreamResponse:
    """Relay the upstream's SSE bytes unchanged, observing them for events."""
    url, headers, body = build_request(exchange, request)
    settings = exchange.service.settings
    client = ClientStream(request)
    observer = StreamObserver()
    with http_errors(exchange.target):
        response = await http.post(
            url, data=orjson.dumps(body), headers=headers, timeout=timeout_for(settings)
        )
    async with response:
        await _raise_for_status(response, "anthropic")
        ctype = response.headers.get("Content-Type", "")
        if not ctype.startswith("text/event-stream"):
            # Relaying a proxy's HTML error page as SSE would leave the client with garbage.
            raise ProxyError(
                502,
                "api_error",
                f"anthropic upstream answered {ctype or 'no content type'}, not SSE",
            )
        with http_errors(exchange.target):
            first = await response.content.readany()
        if not first:
            raise ProxyError(502, "api_error", "anthropic upstream returned an empty stream")
        await client.open()
        try:
            data = first
            while data:
                text = observer.feed(data)
                await client.write(data)
                exchange.first_token()
                if text and exchange.bus.wants_deltas:
                    exchange.delta(text)
                with http_errors(exchange.target):
                    data = await response.content.readany()
        except ProxyError as exc:
            exchange.fail(exc.status, exc.error_type, exc.message)
            await client.fail(exc.error_type, exc.message)
            return await client.close()
        except (ConnectionResetError, RuntimeError) as exc:
            exchange.fail(499, "client_closed", f"client connection lost: {exc}")
            raise
    if observer.errored:
        exchange.fail(502, "api_error", "anthropic upstream sent an error event")
    elif not observer.complete:
        message = "anthropic upstream stream ended before message_stop"
        exchange.fail(502, "api_error", message)
        await client.fail("api_error", message)
    else:
        exchange.finish(observer.summary())
    return await client.close()


async def complete(
    exchange: Exchange, request: web.Request, http: aiohttp.ClientSession
) -> web.Response:
    """Relay a non-streaming answer's bytes unchanged."""
    url, headers, body = build_request(exchange, request)
    settings = exchange.service.settings
    with http_errors(exchange.target):
        async with http.post(
            url, data=orjson.dumps(body), headers=headers, timeout=timeout_for(settings)
        ) as response:
            await _raise_for_status(response, "anthropic")
            raw = await response.read()
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ProxyError(
            502, "api_error", "anthropic upstream returned a body that is not JSON"
        ) from None
    exchange.first_token()
    exchange.finish(message if isinstance(message, dict) else {})
    return web.Response(body=raw, content_type="application/json")


async def count_tokens(
    exchange: Exchange, request: web.Request, http: aiohttp.ClientSession
) -> dict[str, Any]:
    """Forward count_tokens to the Anthropic upstream."""
    url, headers, body = build_request(exchange, request, "/v1/messages/count_tokens")
    settings = exchange.service.settings
    with http_errors(exchange.target):
        async with http.post(
            url, data=orjson.dumps(body), headers=headers, timeout=timeout_for(settings)
        ) as response:
            await _raise_for_status(response, "anthropic")
            data = await response.json(loads=orjson.loads, content_type=None)
    if not isinstance(data, dict) or not isinstance(data.get("input_tokens"), int):
        raise ProxyError(
            502, "api_error", "anthropic upstream count_tokens answer has no input_tokens"
        )
    return {"input_tokens": data["input_tokens"]}
