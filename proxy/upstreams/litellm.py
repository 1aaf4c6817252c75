"""Transport for every other provider (Gemini and the rest of LiteLLM's): `litellm.acompletion`."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import orjson

from proxy.core.errors import (
    ProxyError,
    clean_message,
    context_too_long,
    error_status,
    extract_message,
    from_upstream,
    scrub,
)
from proxy.core.lazy_litellm import get_litellm
from proxy.core.settings import Settings
from proxy.routing.model_map import Target
from proxy.state.exchange import Exchange
from proxy.translate.to_openai import to_openai
from proxy.upstreams.anthropic import ANTHROPIC_BASE
from proxy.upstreams.http import LOOP_HEADER
from proxy.upstreams.translated import TranslatedStream, complete_message
from proxy.upstreams.wire import UpstreamPool


def has_finish(chunk: dict[str, Any]) -> bool:
    """True when a chunk carries a finish_reason (the upstream says its answer is complete)."""
    # Per chunk: a plain loop (no generator) over the one choice chunks carry.
    for choice in chunk.get("choices") or ():
        if isinstance(choice, dict) and choice.get("finish_reason"):
            return True
    return False


def api_base_for(target: Target, settings: Settings) -> str | None:
    """The base URL to hand LiteLLM: always explicit for Anthropic, so it never reads
    ANTHROPIC_BASE_URL (which users point at this proxy)."""
    if target.provider == "anthropic":
        base = target.api_base or ANTHROPIC_BASE
        return base if base.endswith("/v1/messages") else base + "/v1/messages"
    return target.api_base


MISTRAL_HOSTS = ("://api.mistral.ai", "://codestral.mistral.ai")
MISTRAL_REASONING = re.compile(r"^magistral", re.IGNORECASE)


def is_mistral(target: Target, base: str | None) -> bool:
    """An `openai/` target that is Mistral (its API's host, or a magistral model): LiteLLM's
    `openai/` provider refuses or drops Mistral's content-part lists (thinking parts), its
    `mistral/` provider parses them. Other OpenAI-compatible servers stay on `openai/`."""
    if target.provider != "openai":
        return False
    if base is not None and any(host in base for host in MISTRAL_HOSTS):
        return True
    return MISTRAL_REASONING.match(target.upstream_model) is not None


# "litellm.RateLimitError: GeminiException - " and friends, in front of the provider's words.
LITELLM_PREFIX = re.compile(
    r"^(?:litellm\.\w+:\s*|\w+(?:Error|Exception)(?:\s+\w+Error)?\s*[-:]\s*)+"
)
# LiteLLM's words for a 200 answer it could not parse (it calls that a 400).
INVALID_ANSWER = (
    "Error converting to valid response",
    "Unable to get json response",
    "Invalid response object",
)


def litellm_message(exc: Exception) -> str:
    """The provider's own error message out of a LiteLLM exception (keys masked, no traceback
    or server path: LiteLLM appends its own traceback to some messages)."""
    text = clean_message(str(getattr(exc, "message", None) or exc))
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidate = text[start : end + 1]
        found = extract_message(candidate, "")
        if found and found != candidate[:500]:
            return scrub(found)
    return scrub(LITELLM_PREFIX.sub("", text).strip() or text)


def _retry_after(exc: Exception) -> str | None:
    for holder in (exc, getattr(exc, "response", None)):
        headers: Any = getattr(holder, "litellm_response_headers", None) or getattr(
            holder, "headers", None
        )
        value = headers.get("retry-after") if hasattr(headers, "get") else None
        if value:
            return str(value)
    return None


NO_FINISH = "Stream ended before a finish_reason was received"
"""LiteLLM's error for a stream that ended cleanly (the wire's [DONE]) without a finish_reason."""


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, what LiteLLM wrapped (`original_exception`) and what it was handling."""
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in out and len(out) < 8:
        out.append(current)
        original = getattr(current, "original_exception", None)
        current = original if isinstance(original, BaseException) else current.__context__
    return out


def ended_without_finish(exc: BaseException) -> bool:
    """True for LiteLLM's complaint about a clean end with no finish_reason (not a failure:
    the native transport ends such a stream with end_turn, and so does this one)."""
    return any(NO_FINISH in str(e) for e in _chain(exc))


def _upstream_status(exc: BaseException) -> int | None:
    """The status an error body inside the chain names (an `event: error` mid-stream)."""
    for link in _chain(exc):
        body = getattr(link, "body", None)
        if isinstance(body, dict) and error_status(body) != 502:
            return error_status(body)
    return None


def map_litellm_error(exc: Exception, target: Target, *, mid_stream: bool = False) -> ProxyError:
    """A LiteLLM exception as the Anthropic error the client should see.

    `mid_stream`: the upstream answered and then failed, so it is reachable; the status its
    own error event named decides the type.
    """
    original = getattr(exc, "original_exception", None)
    if type(exc).__name__ == "MidStreamFallbackError" and isinstance(original, Exception):
        exc = original
    name = type(exc).__name__
    where = f"{target.provider} upstream"
    message = litellm_message(exc)
    if name == "ContextWindowExceededError":
        return context_too_long(message)
    if name in ("Timeout", "APITimeoutError"):
        return ProxyError(504, "timeout_error", f"{where} timed out: {message}")
    if any(marker in str(exc) for marker in INVALID_ANSWER):
        return ProxyError(
            502,
            "api_error",
            f"{where} returned an answer that is not valid: {message}",
            retry=False,
        )
    if ended_without_finish(exc):
        return ProxyError(502, "api_error", f"{where} ended its stream without an answer")
    if mid_stream:
        status = _upstream_status(exc)
        if status is not None:
            return from_upstream(status, message, target.provider)
        return ProxyError(502, "api_error", f"{where} failed mid-stream: {message}")
    if name == "APIConnectionError":
        return ProxyError(502, "api_error", f"cannot reach {where}: {message}")
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        return ProxyError(502, "api_error", f"{where} failed: {message}")
    return from_upstream(status, message, target.provider, _retry_after(exc))


async def _call(exchange: Exchange) -> Any:
    litellm = await get_litellm()
    target = exchange.target
    settings = exchange.service.settings
    params = to_openai(
        exchange.body,
        target,
        exchange.notes,
        for_litellm=True,
        recall=exchange.service.tool_memory.recall,
        memory_version=exchange.service.tool_memory.version,
        conversation=exchange.conversation,
    )
    exchange.set_upstream_request(params)
    kwargs: dict[str, Any] = dict(params)
    # Tools and messages' parts may be shared with other requests (TOOLS, CONVERSATIONS):
    # LiteLLM gets a copy it may change.
    for name in ("tools", "messages"):
        if name in kwargs:
            kwargs[name] = orjson.loads(orjson.dumps(kwargs[name]))
    base = api_base_for(target, settings)
    if base:
        kwargs["api_base"] = base
    if is_mistral(target, base):
        kwargs["model"] = "mistral/" + target.upstream_model
    if target.api_key:
        kwargs["api_key"] = target.api_key
    kwargs["timeout"] = settings.request_timeout
    if params.get("stream"):
        # LiteLLM applies this per read on streams: the same idle limit as the native transports.
        kwargs["stream_timeout"] = settings.stream_idle_timeout
    kwargs["drop_params"] = True
    kwargs["num_retries"] = 0
    kwargs["extra_headers"] = {LOOP_HEADER: exchange.service.instance_id}
    try:
        return await litellm.acompletion(**kwargs)
    except Exception as exc:
        raise map_litellm_error(exc, target) from None


def _as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    dumped: dict[str, Any] = obj.model_dump(exclude_none=True)
    return dumped


def has_output(chunk: dict[str, Any]) -> bool:
    """True when a chunk carries answer content, reasoning, tool calls or usage."""
    if chunk.get("usage"):
        return True
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if isinstance(delta, dict) and any(
            delta.get(k)
            for k in (
                "content",
                "reasoning_content",
                "reasoning_details",
                "tool_calls",
                "thinking_blocks",
            )
        ):
            return True
    return False


def usage_as_sent(response: Any, usage: dict[str, Any]) -> dict[str, Any]:
    """`usage` with the upstream's own total_tokens: LiteLLM rewrites it as prompt +
    completion, which hides the reasoning tokens xAI counts outside completion_tokens.
    Its wrapper keeps the chunk as received."""
    sent = usage_left_behind(response)
    if (
        sent is not None
        and isinstance(sent.get("total_tokens"), int)
        and sent.get("prompt_tokens") == usage.get("prompt_tokens")
        and sent.get("completion_tokens") == usage.get("completion_tokens")
    ):
        return {**usage, "total_tokens": sent["total_tokens"]}
    return usage


def usage_left_behind(response: Any) -> dict[str, Any] | None:
    """The upstream's usage that LiteLLM recorded but never yielded, because it raised at the
    end of the stream (no finish_reason before [DONE]): its wrapper keeps usage-only chunks."""
    chunks = getattr(response, "chunks", None)
    if not isinstance(chunks, list):
        return None
    for chunk in reversed(chunks[-8:]):
        usage = getattr(chunk, "usage", None)
        if usage is None:
            continue
        found = _as_dict(usage)
        if isinstance(found.get("prompt_tokens"), int):
            return found
    return None


def _raw_reasoning_details(chunk: Any) -> list[Any] | None:
    """`reasoning_details` of an upstream chunk as LiteLLM received it (an OpenAI SDK chunk,
    its extra fields kept, or a dict)."""
    choices = chunk.get("choices") if isinstance(chunk, dict) else getattr(chunk, "choices", None)
    if not choices:
        return None
    choice = choices[0]
    delta = choice.get("delta") if isinstance(choice, dict) else getattr(choice, "delta", None)
    if isinstance(delta, dict):
        details = delta.get("reasoning_details")
    else:
        details = getattr(delta, "reasoning_details", None)
    return details if isinstance(details, list) and details else None


def keep_dropped_reasoning(response: Any, dropped: list[dict[str, Any]]) -> None:
    """Collect into `dropped` the `reasoning_details` of chunks LiteLLM's stream wrapper throws
    away as empty (OpenRouter's o3 sends its encrypted reasoning in a chunk with content '')."""
    creator = getattr(response, "chunk_creator", None)
    if not callable(creator):
        return

    def chunk_creator(chunk: Any) -> Any:
        out = creator(chunk=chunk)
        if out is None and (details := _raw_reasoning_details(chunk)) is not None:
            dropped.extend(d for d in details if isinstance(d, dict))
        return out

    with contextlib.suppress(AttributeError, TypeError):
        response.chunk_creator = chunk_creator


class LiteLLMChunks:
    """The ChunkSource of a LiteLLM stream (its chunk objects as dicts)."""

    def __init__(self, exchange: Exchange, response: Any) -> None:
        self.exchange = exchange
        self.response = response
        self.ended_cleanly = False
        self.dropped: list[dict[str, Any]] = []
        keep_dropped_reasoning(response, self.dropped)

    def _with_dropped(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        """`data` after a chunk of the reasoning LiteLLM dropped before it, if any."""
        details, self.dropped[:] = list(self.dropped), []
        return [{"choices": [{"index": 0, "delta": {"reasoning_details": details}}]}, data]

    async def batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        """One batch per chunk, after the first real output.

        Chunks before the first real output are held back: the client stream opens (and a
        failure stops being a plain HTTP error) only once the upstream produced something.
        """
        produced = finished = False
        held: list[dict[str, Any]] = []
        try:
            async for chunk in self.response:
                data = _as_dict(chunk)
                if "usage" in data:
                    data["usage"] = usage_as_sent(self.response, data["usage"])
                finished = finished or has_finish(data)
                if produced:
                    yield self._with_dropped(data) if self.dropped else [data]
                    continue
                if self.dropped:
                    held.extend(self._with_dropped(data))
                else:
                    held.append(data)
                if has_output(data):
                    produced = True
                    yield held
        except ProxyError:
            raise
        except Exception as exc:
            if produced and (finished or ended_without_finish(exc)):
                # The answer was whole: an error after its finish_reason (OpenRouter restates a
                # length stop so), or LiteLLM's complaint that none came before [DONE].
                self.exchange.notes.append(
                    f"ignored after the answer ended: {litellm_message(exc)}"
                )
                usage = usage_left_behind(self.response)
                if usage is not None:
                    yield [{"choices": [], "usage": usage}]
                self.ended_cleanly = True
                return
            raise map_litellm_error(exc, self.exchange.target, mid_stream=produced) from None
        # LiteLLM hides the wire's end marker. It ends broken streams quietly, with a
        # finish_reason of its own making and nothing else (not even usage): an answer that
        # produced nothing did not finish; one that produced output did, finish_reason or not.
        self.ended_cleanly = produced

    async def aclose(self) -> None:
        """Close LiteLLM's stream (it owns the connection)."""
        close = getattr(self.response, "aclose", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()


class LiteLLMTransport:
    """`litellm.acompletion` for every provider LiteLLM knows (Gemini and the rest)."""

    async def stream(self, exchange: Exchange, http: UpstreamPool) -> TranslatedStream:
        """Start LiteLLM's stream (raises the mapped error until the upstream answered)."""
        response = await _call(exchange)
        return TranslatedStream(exchange, LiteLLMChunks(exchange, response))

    async def complete(self, exchange: Exchange, http: UpstreamPool) -> dict[str, Any]:
        """LiteLLM's whole answer, translated."""
        response = await _call(exchange)
        return complete_message(exchange, _as_dict(response))
