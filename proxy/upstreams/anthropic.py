"""Transport for Anthropic upstreams: the request passes through (model rewritten), bytes relayed."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson

from proxy.core.errors import ProxyError
from proxy.state.exchange import Exchange
from proxy.translate.carrier import anthropic_original, is_proxy_signature
from proxy.translate.max_tokens import clamp_anthropic_body
from proxy.translate.model_echo import rewrite_message_start
from proxy.translate.model_swap import swapped_model
from proxy.translate.sse import LineSplitter, LineTooLong
from proxy.translate.tool_input import parsed_input
from proxy.upstreams import http as upstream_http
from proxy.upstreams.http import LOOP_HEADER, MAX_BODY_BYTES, http_errors
from proxy.upstreams.wire import UpstreamPool, UpstreamResponse

log = logging.getLogger(__name__)

ANTHROPIC_BASE = "https://api.anthropic.com"
PASSED_HEADERS = ("anthropic-version", "anthropic-beta")


def _foreign(block: object) -> bool:
    """A thinking or redacted_thinking block this proxy made (its signature or data)."""
    if not isinstance(block, dict):
        return False
    kind = block.get("type")
    if kind == "thinking":
        return is_proxy_signature(block.get("signature"))
    return kind == "redacted_thinking" and is_proxy_signature(block.get("data"))


def strip_foreign_thinking(messages: list[Any], clean: int = 0) -> list[Any]:
    """Thinking this proxy made would be rejected by Anthropic: drop it, or put back the block
    Anthropic itself signed where a carrier holds one (Claude through OpenRouter).

    The same list object when there was none (the client's bytes may then go as they are).
    `clean`: how many leading messages are known to hold none (kept ones: `Prefix.unmarked`)."""
    out = messages[:clean]
    changed = False
    for msg in messages[clean:] if clean else messages:
        content = msg.get("content") if isinstance(msg, dict) else None
        if (
            isinstance(content, list)
            and msg.get("role") == "assistant"
            and any(_foreign(b) for b in content)
        ):
            kept = []
            for block in content:
                if not _foreign(block):
                    kept.append(block)
                elif (original := anthropic_original(block)) is not None:
                    kept.append(original)
            msg = {**msg, "content": kept or [{"type": "text", "text": ""}]}
            changed = True
        out.append(msg)
    return out if changed else messages


def build_request(
    exchange: Exchange, path: str = "/v1/messages"
) -> tuple[str, dict[str, str], dict[str, Any], bytes | None]:
    """URL, headers and body for the upstream: the client's body with the model rewritten;
    and the client's own bytes so rewritten, when that is the only change (else None)."""
    target = exchange.target
    settings = exchange.service.settings
    body = dict(exchange.body)
    body["model"] = target.upstream_model
    changed = clamp_anthropic_body(body, target.model, exchange.notes)
    messages = body.get("messages")
    raw = exchange.raw_body
    if isinstance(messages, list):
        clean = raw.prefix.unmarked if raw is not None and raw.prefix is not None else 0
        body["messages"] = strip_foreign_thinking(messages, clean)
        changed = changed or body["messages"] is not messages
    data = None
    if raw is not None and not changed:
        data = swapped_model(raw, exchange.body["model"], target.upstream_model)
    headers = {"Content-Type": "application/json", LOOP_HEADER: exchange.service.instance_id}
    client = exchange.client_headers
    for name in PASSED_HEADERS:
        value = client.get(name)
        if value:
            headers[name] = value
    headers.setdefault("anthropic-version", "2023-06-01")
    key = target.api_key
    if settings.forward_client_key:
        key = client.get("x-api-key") or key
    if key:
        headers["x-api-key"] = key
    query = f"?{exchange.query}" if exchange.query else ""
    url = (target.api_base or ANTHROPIC_BASE) + path + query
    exchange.set_upstream_request(body)
    return url, headers, body, data


def _joined_input(parts: list[bytes]) -> str:
    """A streamed tool input as JSON text: the `partial_json` of its frames, in order."""
    pieces = []
    for payload in parts:
        try:
            piece = orjson.loads(payload)["delta"]["partial_json"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            continue
        if isinstance(piece, str):
            pieces.append(piece)
    return "".join(pieces)


class StreamObserver:
    """Reads the relayed Anthropic frames just enough for events: text, tools, usage, stop."""

    def __init__(self) -> None:
        self.splitter = LineSplitter(MAX_BODY_BYTES)
        self.text: list[str] = []
        self.tools: list[dict[str, Any]] = []
        # Each tool's raw input_json_delta frames, parsed once at the end (not per chunk).
        self.tool_parts: list[list[bytes]] = []
        self.tool_open = False
        """The block being streamed is a client tool_use (a server tool's input is not ours)."""
        self.usage: dict[str, Any] = {}
        self.stop_reason: str | None = None
        self.message: dict[str, Any] = {}
        self.complete = False
        self.error: dict[str, Any] | None = None

    def feed(self, data: bytes) -> str:
        """Observe one network read; returns the answer text it carried."""
        added = []
        for payload in self.splitter.feed(data):
            if b'"text_delta"' in payload:
                try:
                    added.append(orjson.loads(payload)["delta"]["text"])
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    pass
            elif b'"input_json_delta"' in payload:
                if self.tool_open:
                    self.tool_parts[-1].append(payload)
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
            self.tool_open = block.get("type") == "tool_use"
            if self.tool_open:
                self.tools.append({"id": block.get("id"), "name": block.get("name"), "input": ""})
                self.tool_parts.append([])
        elif kind == "message_delta":
            self.stop_reason = (event.get("delta") or {}).get("stop_reason")
            self.usage.update(event.get("usage") or {})
        elif kind == "message_stop":
            self.complete = True
        elif kind == "error":
            error = event.get("error")
            self.error = error if isinstance(error, dict) else {}

    def summary(self) -> dict[str, Any]:
        """The final message as far as events need it."""
        content: list[dict[str, Any]] = []
        if self.text:
            content.append({"type": "text", "text": "".join(self.text)})
        for tool, parts in zip(self.tools, self.tool_parts, strict=True):
            content.append(
                {"type": "tool_use", **tool, "input": parsed_input(_joined_input(parts))}
            )
        return {
            "id": self.message.get("id"),
            "model": self.message.get("model"),
            "content": content,
            "stop_reason": self.stop_reason,
            "usage": self.usage,
        }


class RelayedStream:
    """An UpstreamStream that passes the upstream's Anthropic SSE bytes through unchanged."""

    def __init__(self, exchange: Exchange, response: UpstreamResponse) -> None:
        self.exchange = exchange
        self.response = response
        self.observer = StreamObserver()
        self.complete = False
        self.failure: ProxyError | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        exchange, observer = self.exchange, self.observer
        target = exchange.target
        first = True
        head: bytes | None = b""  # held until message_start names the requested model
        with http_errors(target):
            async for data in self.response.content.iter_any():
                try:
                    text = observer.feed(data)
                except LineTooLong:
                    raise upstream_http.too_large(target, MAX_BODY_BYTES) from None
                if head is not None:
                    rewritten = rewrite_message_start(head + data, target.requested)
                    if rewritten is None:
                        head += data
                        continue
                    data, head = rewritten, None
                if observer.error is not None and self.failure is None:
                    # The upstream's own error frame reaches the client; its text may echo a key.
                    data = exchange.service.redact(data.decode("utf-8", "replace")).encode()
                    error = observer.error
                    self.failure = ProxyError(
                        502,
                        str(error.get("type") or "api_error"),
                        f"anthropic upstream: {error.get('message') or 'error event'}",
                    )
                if first:
                    first = False
                    exchange.first_token()
                yield data
                if text and exchange.bus.wants_deltas:
                    exchange.delta(text)
        if head:
            first = False
            yield head
        if first:
            raise ProxyError(502, "api_error", "anthropic upstream returned an empty stream")
        self.complete = observer.complete and self.failure is None

    def summary(self) -> dict[str, Any]:
        """The observed final message."""
        return self.observer.summary()

    async def aclose(self) -> None:
        """Release the upstream connection."""
        self.response.release()


class AnthropicTransport:
    """POST /v1/messages on an Anthropic-compatible server: bytes in, bytes out."""

    async def stream(self, exchange: Exchange, http: UpstreamPool) -> RelayedStream:
        """Open the upstream stream (raises until it said 200 with an event stream)."""
        url, headers, body, data = build_request(exchange)
        response = await upstream_http.post(
            http, exchange.target, url, headers, body, exchange.service.settings, data
        )
        try:
            # Relaying a proxy's HTML error page as SSE would leave the client with garbage.
            upstream_http.require_sse(response, exchange.target, strict=True)
        except ProxyError:
            response.release()
            raise
        return RelayedStream(exchange, response)

    async def complete(self, exchange: Exchange, http: UpstreamPool) -> dict[str, Any]:
        """The upstream's JSON answer as it came."""
        url, headers, body, data = build_request(exchange)
        async with await upstream_http.post(
            http, exchange.target, url, headers, body, exchange.service.settings, data
        ) as response:
            return await upstream_http.read_json(response, exchange.target)

    async def count_tokens(self, exchange: Exchange, http: UpstreamPool) -> dict[str, Any]:
        """Forward count_tokens to the Anthropic upstream."""
        url, headers, body, raw = build_request(exchange, "/v1/messages/count_tokens")
        async with await upstream_http.post(
            http, exchange.target, url, headers, body, exchange.service.settings, raw
        ) as response:
            data = await upstream_http.read_json(response, exchange.target)
        if not isinstance(data.get("input_tokens"), int):
            raise ProxyError(
                502, "api_error", "anthropic upstream count_tokens answer has no input_tokens"
            )
        return {"input_tokens": data["input_tokens"]}
