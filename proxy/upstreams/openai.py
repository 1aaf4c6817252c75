"""Transport for OpenAI-compatible upstreams: the proxy posts /chat/completions itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from proxy.core.errors import ProxyError, from_upstream
from proxy.state.exchange import Exchange
from proxy.translate.sse import LineSplitter
from proxy.translate.to_openai import to_openai
from proxy.upstreams.chunk_relay import (
    StreamIncomplete,
    complete_message,
    has_finish,
    open_and_relay,
)
from proxy.upstreams.client_stream import ClientStream
from proxy.upstreams.http import LOOP_HEADER, http_errors, timeout_for

OPENAI_BASE = "https://api.openai.com/v1"


def _request(exchange: Exchange) -> tuple[str, dict[str, str], dict[str, Any]]:
    target = exchange.target
    payload = to_openai(exchange.body, target, exchange.notes)
    exchange.set_upstream_request(payload)
    url = (target.api_base or OPENAI_BASE) + "/chat/completions"
    headers = {
        "Content-Type": "application/json",
        LOOP_HEADER: exchange.service.instance_id,
    }
    if target.api_key:
        headers["Authorization"] = f"Bearer {target.api_key}"
    return url, headers, payload


async def _raise_for_status(response: aiohttp.ClientResponse, provider: str) -> None:
    if response.status != 200:
        body = await response.read()
        raise from_upstream(response.status, body, provider, response.headers.get("retry-after"))


async def _chunk_batches(
    response: aiohttp.ClientResponse, exchange: Exchange, finished: list[bool]
) -> AsyncIterator[list[dict[str, Any]]]:
    splitter = LineSplitter()
    done = False
    async for data in response.content.iter_any():
        batch = []
        failure: ProxyError | None = None
        for payload in splitter.feed(data):
            if payload == b"[DONE]":
                done = True
                break
            try:
                chunk = orjson.loads(payload)
            except orjson.JSONDecodeError:
                exchange.notes.append("skipped a malformed SSE line from upstream")
                continue
            if isinstance(chunk, dict):
                if "error" in chunk and not chunk.get("choices"):
                    failure = from_upstream(502, payload, exchange.target.provider)
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
        if tail:
            yield tail
    finished.append(done)


async def stream(
    exchange: Exchange, request: web.Request, http: aiohttp.ClientSession
) -> web.StreamResponse:
    """Serve a streaming request: open the upstream stream, then relay translated events."""
    url, headers, payload = _request(exchange)
    settings = exchange.service.settings
    client = ClientStream(request)
    with http_errors(exchange.target):
        response = await http.post(
            url, data=orjson.dumps(payload), headers=headers, timeout=timeout_for(settings)
        )
    async with response:
        await _raise_for_status(response, exchange.target.provider)
        _refuse_html(response, exchange)
        finished: list[bool] = []
        saw_finish: list[bool] = []

        async def batches() -> AsyncIterator[list[dict[str, Any]]]:
            with http_errors(exchange.target):
                async for batch in _chunk_batches(response, exchange, finished):
                    if not saw_finish and any(has_finish(c) for c in batch):
                        saw_finish.append(True)
                    yield batch
            if not finished[-1] and not saw_finish:
                raise StreamIncomplete(
                    f"{exchange.target.provider} upstream stream ended before it finished"
                )

        await open_and_relay(exchange, client, batches())
    return await client.close()


def _refuse_html(response: aiohttp.ClientResponse, exchange: Exchange) -> None:
    if "text/html" in response.headers.get("Content-Type", ""):
        raise ProxyError(
            502,
            "api_error",
            f"{exchange.target.provider} upstream returned HTML, not an SSE stream",
        )


async def complete(exchange: Exchange, http: aiohttp.ClientSession) -> dict[str, Any]:
    """Serve a non-streaming request."""
    url, headers, payload = _request(exchange)
    settings = exchange.service.settings
    with http_errors(exchange.target):
        async with http.post(
            url, data=orjson.dumps(payload), headers=headers, timeout=timeout_for(settings)
        ) as response:
            await _raise_for_status(response, exchange.target.provider)
            raw = await response.read()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        kind = (
            "HTML"
            if raw.lstrip().startswith(b"<")
            else "an invalid body"
            if raw
            else "an empty body"
        )
        raise ProxyError(
            502, "api_error", f"{exchange.target.provider} upstream returned {kind}, not JSON"
        ) from None
    if not isinstance(data, dict):
        raise ProxyError(502, "api_error", "upstream returned JSON that is not an object")
    if "error" in data and not data.get("choices"):
        # Some gateways answer 200 with an error body.
        raise from_upstream(502, raw, exchange.target.provider)
    return complete_message(exchange, data)
