"""OpenAI-style chunks -> Anthropic SSE bytes: the stream both chunk transports hand the relay.

The OpenAI-compatible transport and the LiteLLM transport differ only in where their chunks come
from (a ChunkSource); both are translated here by the one StreamTranslator.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

from proxy.core.errors import ProxyError
from proxy.core.tools_cache import TOOLS
from proxy.state.exchange import Exchange
from proxy.translate.carrier import origin_of
from proxy.translate.deferred import visible_tools
from proxy.translate.sse import collect_message, frames
from proxy.translate.stream_translator import StreamTranslator, plain_message
from proxy.translate.tool_input import parsed_input
from proxy.translate.tool_recovery import RecoveringTranslator, offered_tools
from proxy.translate.tool_text import passes_at_start

WRITE_SLICE = 32
"""Chunks translated per write: a fast upstream hands over hundreds in one read, and writing them
in slices gets the first text to the client without waiting for all."""
PING_EVERY = 15.0
"""Seconds of upstream chunks that produce no event (a tool call held for repair) before a
`ping` goes out: Claude Code gives up on a stream that sends no byte for a few minutes."""
PING = frames([{"type": "ping"}])


class ChunkSource(Protocol):
    """Batches of OpenAI chat.completion.chunk dicts, one batch per upstream read."""

    ended_cleanly: bool
    """Set when the upstream's own end marker was seen ([DONE], a normal end); set before the
    batch that carried it is handed over, that batch is the last. A stream without one is
    complete still when a chunk said its finish_reason (the translator's)."""

    def batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        """The chunks; raises ProxyError (or TimeoutError) when the upstream fails."""
        ...

    async def aclose(self) -> None:
        """Release the upstream connection."""
        ...


def new_translator(exchange: Exchange) -> StreamTranslator:
    """A translator for this request, with the input estimate message_start carries.

    The answer names the model the client asked for: Claude Code 2.1.197 drops a turn's thinking
    from the history it sends back when the answer's model differs. The routed model is in the
    `x-claude-proxy-model` header, the events and the upstream request.

    When the request offered tools and recovery is on, it recovers and repairs tool calls; its
    records reach the finished event through `exchange.tool_repairs`.
    """
    model, estimate = exchange.target.requested, exchange.input_estimate()
    offered = recovered_tools(exchange)
    translator: StreamTranslator
    if offered:
        recovering = RecoveringTranslator(model, estimate, offered)
        exchange.tool_repairs = recovering.repairs
        translator = recovering
    else:
        translator = StreamTranslator(model, estimate)
    translator.origin = origin_of(exchange.target)
    return translator


def recovered_tools(exchange: Exchange) -> dict[str, dict[str, Any]] | None:
    """The offered tools (name -> input schema) whose calls in text form the answer's text is
    scanned for; None when it is not (no tools, tool_choice none, recovery off)."""
    # Only the tools the upstream was offered (no deferred placeholder) count as offered.
    tools, choice = visible_tools(exchange.body, []), exchange.body.get("tool_choice")
    # tool_choice none: the client asked for no calls, so text stays text.
    refused = isinstance(choice, dict) and choice.get("type") == "none"
    if not tools or refused or not exchange.service.tool_call_recovery():
        return None
    # Read-only map, built once per kept tools list (TOOLS) instead of once per request.
    return TOOLS.memo(tools, "offered", lambda: offered_tools(tools)) or None


def remember_tools(exchange: Exchange, translator: StreamTranslator) -> None:
    """Keep the answer's tool ids and thought signatures in the service's memory."""
    if translator.tool_signatures or translator.renamed:
        exchange.service.tool_memory.remember(
            translator.origin, translator.tool_signatures, translator.renamed
        )


class TranslatedStream:
    """An UpstreamStream over a ChunkSource; message_start rides on the first write."""

    def __init__(self, exchange: Exchange, source: ChunkSource) -> None:
        self.exchange = exchange
        self.source = source
        self.translator = new_translator(exchange)
        self.complete = False
        self.failure: ProxyError | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        exchange, translator, source = self.exchange, self.translator, self.source
        bus = exchange.bus
        prefix = frames(translator.start())
        quiet_since: float | None = None
        async for batch in source.batches():
            for low in range(0, len(batch), WRITE_SLICE):
                mark = len(translator.text)
                events = translator.feed_batch(batch[low : low + WRITE_SLICE])
                # The batch that carried the upstream's end marker: the answer's last frames
                # ride on its write (one write, and the relay ends the client stream with it).
                last = source.ended_cleanly and low + WRITE_SLICE >= len(batch)
                if not events and not prefix and not last:
                    now = time.monotonic()
                    if quiet_since is None:
                        quiet_since = now
                    elif now - quiet_since >= PING_EVERY:
                        quiet_since = now
                        yield PING
                    continue
                quiet_since = None
                if events and exchange.first_token_at is None:
                    exchange.first_token()
                data = prefix + frames(events)  # feed_batch coalesced them
                prefix = b""
                if last:
                    data += frames(translator.finish())
                    self.complete = True
                yield data
                if len(translator.text) > mark and bus.wants_deltas:
                    exchange.delta("".join(translator.text[mark:]))
        if not self.complete and (source.ended_cleanly or translator.finish_reason is not None):
            self.complete = True
            yield prefix + frames(translator.finish())
        remember_tools(exchange, translator)

    def summary(self) -> dict[str, Any]:
        """A light final message (text and tool calls) for the finished event."""
        translator = self.translator
        content: list[dict[str, Any]] = []
        text = "".join(translator.text)
        if text:
            content.append({"type": "text", "text": text})
        for tool in translator.tools:
            content.append(
                {
                    "type": "tool_use",
                    "id": tool["id"],
                    "name": tool["name"],
                    "input": parsed_input(tool["arguments"]),
                }
            )
        return {
            "id": translator.message_id,
            "model": translator.model,
            "content": content,
            "stop_reason": translator.stop_reason(),
            "usage": translator.sent_usage or translator.final_usage(),
        }

    async def aclose(self) -> None:
        """Release the upstream connection."""
        await self.source.aclose()


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
    choice, usage = choices[0], response.get("usage")
    message = choice.get("message")
    if message.__class__ is dict:
        # A plain-text answer needs no translator (the common case); anything else is fed.
        text = message.get("content")
        scanned = (
            text.__class__ is str
            and not passes_at_start(text)
            and recovered_tools(exchange) is not None
        )
        plain = plain_message(
            exchange.target.requested, exchange.input_estimate, message, choice, usage, scanned
        )
        if plain is not None:
            return plain
    translator = new_translator(exchange)
    message = fed_whole(translator, choice, usage)
    remember_tools(exchange, translator)
    return message


def fed_whole(translator: StreamTranslator, choice: dict[str, Any], usage: Any) -> dict[str, Any]:
    """A whole answer through the state machine: fed as one chunk, its events folded back into
    a message (what `plain_message` must equal where it answers)."""
    message = dict(choice.get("message") or {})
    calls = message.get("tool_calls") or []
    message["tool_calls"] = [
        {**call, "index": i} for i, call in enumerate(calls) if isinstance(call, dict)
    ]
    events = translator.start()
    for chunk in _signed_thinking_chunks(message):
        events += translator.feed(chunk)
    # The choice's other fields (a native finish reason such as Gemini's MODEL_ARMOR) go along.
    finish = dict(choice)  # a copy in C, the message out: the same keys in the same order
    finish.pop("message", None)
    finish.update(delta=message, finish_reason=choice.get("finish_reason") or "stop")
    chunk = {"choices": [finish], "usage": usage}
    events += translator.feed(chunk) + translator.finish()
    return collect_message(events)
