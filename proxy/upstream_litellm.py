"""Transport for every other provider (Gemini and the rest of LiteLLM's): `litellm.acompletion`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from proxy.chunk_relay import complete_message, open_and_relay
from proxy.client_stream import ClientStream
from proxy.errors import ProxyError, context_too_long, from_upstream, scrub
from proxy.exchange import Exchange
from proxy.lazy_litellm import get_litellm
from proxy.routing import Target
from proxy.settings import Settings
from proxy.to_openai import to_openai
from proxy.upstream_anthropic import ANTHROPIC_BASE
from proxy.upstream_http import LOOP_HEADER


def api_base_for(target: Target, settings: Settings) -> str | None:
    """The base URL to hand LiteLLM: always explicit for Anthropic, so it never reads
    ANTHROPIC_BASE_URL (which users point at this proxy)."""
    if target.provider == "anthropic":
        base = target.api_base or ANTHROPIC_BASE
        return base if base.endswith("/v1/messages") else base + "/v1/messages"
    return target.api_base


def map_litellm_error(exc: Exception, target: Target) -> ProxyError:
    """A LiteLLM exception as the Anthropic error the client should see."""
    name = type(exc).__name__
    message = scrub(str(getattr(exc, "message", None) or exc))
    if name == "ContextWindowExceededError":
        return context_too_long(message)
    if name in ("Timeout", "APITimeoutError"):
        return ProxyError(504, "timeout_error", f"{target.provider} upstream timed out: {message}")
    if name == "APIConnectionError":
        return ProxyError(502, "api_error", f"cannot reach {target.provider} upstream: {message}")
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        return ProxyError(502, "api_error", f"{target.provider} upstream failed: {message}")
    retry_after = None
    response = getattr(exc, "response", None)
    if response is not None:
        retry_after = getattr(response, "headers", {}).get("retry-after")
    return from_upstream(status, message, target.provider, retry_after)


async def _call(exchange: Exchange) -> Any:
    litellm = await get_litellm()
    target = exchange.target
    settings = exchange.service.settings
    params = to_openai(exchange.body, target, exchange.notes, for_litellm=True)
    exchange.set_upstream_request(params)
    kwargs: dict[str, Any] = dict(params)
    base = api_base_for(target, settings)
    if base:
        kwargs["api_base"] = base
    if target.api_key:
        kwargs["api_key"] = target.api_key
    kwargs["timeout"] = settings.request_timeout
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
    return obj.model_dump(exclude_none=True)  # type: ignore[no-any-return]


async def stream(exchange: Exchange, request: web.Request) -> web.StreamResponse:
    """Serve a streaming request through LiteLLM's chunk stream."""
    response = await _call(exchange)
    client = ClientStream(request)

    async def batches() -> AsyncIterator[list[dict[str, Any]]]:
        try:
            async for chunk in response:
                yield [_as_dict(chunk)]
        except ProxyError:
            raise
        except Exception as exc:
            raise map_litellm_error(exc, exchange.target) from None

    await open_and_relay(exchange, client, batches())
    return await client.close()


async def complete(exchange: Exchange) -> dict[str, Any]:
    """Serve a non-streaming request."""
    response = await _call(exchange)
    return complete_message(exchange, _as_dict(response))
