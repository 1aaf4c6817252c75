"""Transport for OpenAI-compatible upstreams: the proxy posts /chat/completions itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from proxy.core.errors import ProxyError, error_status, from_upstream
from proxy.state.exchange import Exchange
from proxy.translate.sse import LineSplitter, LineTooLong
from proxy.translate.to_openai import KeptJson, to_openai, with_system_json
from proxy.upstreams import http as upstream_http
from proxy.upstreams.http import LOOP_HEADER, MAX_BODY_BYTES, http_errors
from proxy.upstreams.translated import TranslatedStream, complete_message
from proxy.upstreams.wire import UpstreamPool, UpstreamResponse

OPENAI_BASE = "https://api.openai.com/v1"
SYSTEM_JSON = ("openai", "system-json")
"""The key of a kept conversation's last system message JSON (`with_system_json`)."""


def _request(exchange: Exchange) -> tuple[str, dict[str, str], dict[str, Any]]:
    target = exchange.target
    texts: list[str] = []
    kept: list[KeptJson] = []
    payload = to_openai(
        exchange.body,
        target,
        exchange.notes,
        recall=exchange.service.tool_memory.recall,
        memory_version=exchange.service.tool_memory.version,
        system_texts=texts,
        conversation=exchange.conversation,
        kept_json=kept,
    )
    exchange.set_upstream_request(payload)
    conversation = exchange.conversation
    memo = conversation.derived_list(SYSTEM_JSON) if conversation is not None else None
    # What is sent: the same bytes, less encoding.
    payload = with_system_json(payload, texts, kept, memo)
    url = (target.api_base or OPENAI_BASE) + "/chat/completions"
    headers = {
        "Content-Type": "application/json",
        LOOP_HEADER: exchange.service.instance_id,
    }
    if target.api_key:
        headers["Authorization"] = f"Bearer {target.api_key}"
    return url, headers, payload


class SseChunks:
    """The ChunkSource of an OpenAI-compatible SSE response: `data:` lines parsed as JSON.

    Its end marker is `[DONE]`; a server that skips it (several local ones) still says
    finish_reason, which the translator sees (`TranslatedStream`)."""

    def __init__(self, exchange: Exchange, response: UpstreamResponse) -> None:
        self.exchange = exchange
        self.response = response
        self.ended_cleanly = False

    async def batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        """Parsed chunks per network read; an error event ends them with its ProxyError."""
        exchange = self.exchange
        splitter = LineSplitter(MAX_BODY_BYTES)
        feed, loads = splitter.feed, orjson.loads
        done = False
        with http_errors(exchange.target):
            async for data in self.response.content.iter_any():
                whole = not splitter.tail  # no line of an earlier read ends in this one
                try:
                    payloads = feed(data)
                except LineTooLong:
                    raise upstream_http.too_large(exchange.target, MAX_BODY_BYTES) from None
                if not payloads:
                    continue  # a read that ended no line
                if whole and b'"error"' not in data:
                    # Most reads: chunks alone, or chunks and the `[DONE]` that ends them (a
                    # short answer's only read), parsed in one comprehension. JSON that does not
                    # parse, or a `[DONE]` before the last line, goes the careful way below.
                    ends = payloads[-1] == b"[DONE]"
                    chunks = payloads[:-1] if ends else payloads
                    if b"[DONE]" not in chunks:
                        try:
                            batch = [c for c in map(loads, chunks) if c.__class__ is dict]
                        except orjson.JSONDecodeError:
                            pass
                        else:
                            if ends:
                                done = self.ended_cleanly = True
                            if batch:
                                yield batch
                            if ends:
                                break
                            continue
                batch = []
                failure: ProxyError | None = None
                for payload in payloads:
                    if payload == b"[DONE]":
                        # Said before the batch goes: its frames are the answer's last.
                        done = self.ended_cleanly = True
                        break
                    try:
                        chunk = loads(payload)
                    except orjson.JSONDecodeError:
                        exchange.notes.append("skipped a malformed SSE line from upstream")
                        continue
                    if chunk.__class__ is not dict:
                        continue
                    if not chunk.get("choices") and "error" in chunk:
                        status = error_status(chunk["error"])
                        failure = from_upstream(status, payload, exchange.target.provider)
                        break
                    batch.append(chunk)
                if batch:
                    yield batch  # what came before an error event still reaches the client
                if failure is not None:
                    raise failure
                if done:
                    break
        if not done:
            tail = []
            for payload in splitter.flush():
                if payload != b"[DONE]":
                    try:
                        tail.append(orjson.loads(payload))
                    except orjson.JSONDecodeError:
                        pass
            tail = [chunk for chunk in tail if chunk.__class__ is dict]
            if tail:
                yield tail

    async def aclose(self) -> None:
        """Release the upstream connection (kept for the next request when the answer ended)."""
        if self.ended_cleanly:
            upstream_http.release_after_end(self.response)
        else:
            self.response.release()


class OpenAITransport:
    """POST /chat/completions on an OpenAI-compatible server."""

    async def stream(self, exchange: Exchange, http: UpstreamPool) -> TranslatedStream:
        """Open the upstream SSE stream (raises until it said 200)."""
        url, headers, payload = _request(exchange)
        response = await upstream_http.post(
            http, exchange.target, url, headers, payload, exchange.service.settings
        )
        try:
            upstream_http.require_sse(response, exchange.target, strict=False)
        except ProxyError:
            response.release()
            raise
        return TranslatedStream(exchange, SseChunks(exchange, response))

    async def complete(self, exchange: Exchange, http: UpstreamPool) -> dict[str, Any]:
        """Post a non-streaming request and translate its chat.completion."""
        url, headers, payload = _request(exchange)
        target = exchange.target
        async with await upstream_http.post(
            http, target, url, headers, payload, exchange.service.settings
        ) as response:
            data = await upstream_http.read_json(response, target)
        if "error" in data and not data.get("choices"):
            # Some gateways answer 200 with an error body.
            raise from_upstream(error_status(data["error"]), orjson.dumps(data), target.provider)
        return complete_message(exchange, data)
