"""Drive the stream translator from any source of OpenAI-style chunks and answer the client."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from proxy.core.errors import ProxyError
from proxy.core.tokens import estimate_input_tokens
from proxy.state.exchange import Exchange
from proxy.translate.sse import coalesce, collect_message, frames
from proxy.translate.stream_translator import StreamTranslator
from proxy.upstreams.client_stream import ClientStream

log = logging.getLogger(__name__)

WRITE_SLICE = 32


class StreamIncomplete(Exception):
    """The upstream stream ended before saying it had finished."""


def has_finish(chunk: dict[str, Any]) -> bool:
    """True when a chunk carries a finish_reason (the upstream says its answer is complete)."""
    return any(isinstance(c, dict) and c.get("finish_reason") for c in chunk.get("choices") or ())


def has_output(chunk: dict[str, Any]) -> bool:
    """True when a chunk carries answer content, reasoning, tool calls or usage."""
    if chunk.get("usage"):
        return True
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if isinstance(delta, dict) and any(
            delta.get(k) for k in ("content", "reasoning_content", "tool_calls", "thinking_blocks")
        ):
            return True
    return False


def new_translator(exchange: Exchange) -> StreamTranslator:
    """A translator for this request, with the input estimate message_start carries."""
    return StreamTranslator(exchange.target.model, estimate_input_tokens(exchange.body))


def summary_message(translator: StreamTranslator) -> dict[str, Any]:
    """A light final message (text and tool calls) for the finished event, built once per request."""
    content: list[dict[str, Any]] = []
    text = "".join(translator.text)
    if text:
        content.append({"type": "text", "text": text})
    for tool in translator.tools:
        content.append(
            {"type": "tool_use", "id": tool["id"], "name": tool["name"], "input": tool["arguments"]}
        )
    return {
        "id": translator.message_id,
        "model": translator.model,
        "content": content,
        "stop_reason": translator.stop_reason(),
        "usage": translator.final_usage(),
    }


async def open_and_relay(
    exchange: Exchange,
    client: ClientStream,
    batches: AsyncIterator[list[dict[str, Any]]],
) -> None:
    """Wait for the upstream's first chunks, open the client stream, then relay the rest.

    Failures before the first chunk raise ProxyError (a plain HTTP error the client can retry);
    after it they become an SSE error frame.
    """
    translator = new_translator(exchange)
    try:
        first = await anext(batches)
    except StopAsyncIteration:
        first = []
    except StreamIncomplete as exc:
        raise ProxyError(502, "api_error", str(exc)) from None
    await client.open()
    # message_start and ping go out in the same write as the first translated chunks.
    await relay_chunks(exchange, client, translator, first, batches, frames(translator.start()))


async def relay_chunks(
    exchange: Exchange,
    client: ClientStream,
    translator: StreamTranslator,
    first: list[dict[str, Any]],
    batches: AsyncIterator[list[dict[str, Any]]],
    prefix: bytes = b"",
) -> None:
    """Translate batches of chunks (one batch per network read) and write one buffer per slice.

    The client stream must already be open; `prefix` (message_start) rides on the first write.
    Ends with message_stop, or an error frame when the upstream fails or stops short.
    """
    bus = exchange.bus
    try:
        async for batch in _chain(first, batches):
            # A fast upstream can hand over hundreds of chunks in one read: translating and
            # writing them in slices gets the first text to the client without waiting for all.
            for low in range(0, len(batch), WRITE_SLICE):
                events: list[dict[str, Any]] = []
                mark = len(translator.text)
                for chunk in batch[low : low + WRITE_SLICE]:
                    events.extend(translator.feed(chunk))
                if not events and not prefix:
                    continue
                if events:
                    exchange.first_token()
                await client.write(prefix + frames(coalesce(events)))
                prefix = b""
                if len(translator.text) > mark and bus.wants_deltas:
                    exchange.delta("".join(translator.text[mark:]))
        await client.write(prefix + frames(translator.finish()))
        exchange.finish(summary_message(translator))
    except asyncio.CancelledError:
        exchange.fail(499, "client_closed", "client disconnected mid-stream")
        raise
    except ProxyError as exc:
        await _fail_stream(exchange, client, exc.error_type, exc.message, exc.status)
    except StreamIncomplete as exc:
        await _fail_stream(exchange, client, "api_error", str(exc), 502)
    except (ConnectionResetError, RuntimeError) as exc:
        # Writing to a client that went away.
        exchange.fail(499, "client_closed", f"client connection lost: {exc}")
    except TimeoutError:
        await _fail_stream(
            exchange, client, "timeout_error", "upstream stream went silent (idle timeout)", 504
        )
    except Exception as exc:
        log.exception("stream relay failed")
        await _fail_stream(exchange, client, "api_error", f"upstream stream failed: {exc}", 502)


async def _chain(
    first: list[dict[str, Any]], rest: AsyncIterator[list[dict[str, Any]]]
) -> AsyncIterator[list[dict[str, Any]]]:
    if first:
        yield first
    async for batch in rest:
        yield batch


async def _fail_stream(
    exchange: Exchange, client: ClientStream, error_type: str, message: str, status: int
) -> None:
    exchange.fail(status, error_type, message)
    log.warning("%s stream error after start: %s", exchange.request_id, message)
    try:
        await client.fail(error_type, message)
    except (ConnectionResetError, RuntimeError):
        pass


def _signed_thinking_chunks(message: dict[str, Any]) -> list[dict[str, Any]]:
    """One chunk per signed or redacted thinking block (taken out of `message`).

    A whole answer joins its reasoning into one string; Anthropic needs each block back with
    its own signature, so signed blocks are fed one by one instead.
    """
    blocks = message.get("thinking_blocks")
    if not isinstance(blocks, list) or not any(
        isinstance(b, dict) and (b.get("signature") or b.get("data")) for b in blocks
    ):
        return []
    message.pop("thinking_blocks")
    message.pop("reasoning_content", None)
    return [
        {"choices": [{"delta": {"reasoning_content": b.get("thinking"), "thinking_blocks": [b]}}]}
        for b in blocks
        if isinstance(b, dict)
    ]


def complete_message(exchange: Exchange, response: dict[str, Any]) -> dict[str, Any]:
    """Translate a non-streaming OpenAI chat.completion into an Anthropic message."""
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ProxyError(502, "api_error", "upstream answered without any choices")
    choice = choices[0]
    message = dict(choice.get("message") or {})
    calls = message.get("tool_calls") or []
    message["tool_calls"] = [
        {**call, "index": i} for i, call in enumerate(calls) if isinstance(call, dict)
    ]
    translator = new_translator(exchange)
    events = translator.start()
    for chunk in _signed_thinking_chunks(message):
        events += translator.feed(chunk)
    chunk = {
        "choices": [{"delta": message, "finish_reason": choice.get("finish_reason") or "stop"}],
        "usage": response.get("usage"),
    }
    events += translator.feed(chunk) + translator.finish()
    result = collect_message(events)
    exchange.first_token()
    exchange.finish(result)
    return result
