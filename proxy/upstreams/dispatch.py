"""Send one exchange upstream: pick the transport, retry before the first byte, fall back."""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web

from proxy.core.errors import ProxyError
from proxy.core.json_response import json_response
from proxy.routing.model_map import Target, parse_model_string, target_for
from proxy.routing.retry import backoff_delay, is_retryable
from proxy.server.keys import HTTP, RESPONSE_HEADERS
from proxy.state.exchange import Exchange
from proxy.upstreams import anthropic as upstream_anthropic
from proxy.upstreams import litellm as upstream_litellm
from proxy.upstreams import openai as upstream_openai

log = logging.getLogger("proxy")

# Errors another model might not have: worth a fallback after retries ran out.
FALLBACK_STATUS = frozenset({401, 403, 404, 429, 500, 502, 503, 504, 529})
ANSWERED_BY = "x-claude-proxy-model"


async def dispatch(exchange: Exchange, request: web.Request) -> web.StreamResponse:
    """Serve through the exchange's target's transport (one attempt)."""
    http = request.app[HTTP]
    transport = exchange.target.transport
    request[RESPONSE_HEADERS] = {
        "request-id": exchange.request_id,
        ANSWERED_BY: exchange.target.model,
    }
    if exchange.stream:
        if transport == "openai":
            return await upstream_openai.stream(exchange, request, http)
        if transport == "anthropic":
            return await upstream_anthropic.stream(exchange, request, http)
        return await upstream_litellm.stream(exchange, request)
    if transport == "anthropic":
        response = await upstream_anthropic.complete(exchange, request, http)
        response.headers.update(request[RESPONSE_HEADERS])
        return response
    if transport == "openai":
        message = await upstream_openai.complete(exchange, http)
    else:
        message = await upstream_litellm.complete(exchange)
    return json_response(message, headers=request[RESPONSE_HEADERS])


def fallback_chain(exchange: Exchange) -> list[Target]:
    """The target, then each FALLBACK_MODELS entry that can be resolved (keys present)."""
    settings = exchange.service.settings
    chain = [exchange.target]
    for model in settings.fallback_models:
        provider, name = parse_model_string(model, settings.preferred_provider)
        try:
            chain.append(target_for(exchange.target.requested, provider, name, settings))
        except ProxyError as exc:
            exchange.notes.append(f"fallback {model} skipped: {exc.message}")
    return chain


async def dispatch_with_retries(exchange: Exchange, request: web.Request) -> web.StreamResponse:
    """Retry retryable failures (never once a byte reached the client), then try fallbacks."""
    settings = exchange.service.settings
    deadline = time.monotonic() + settings.retry_max_time
    chain = fallback_chain(exchange)
    for position, target in enumerate(chain):
        if position:
            exchange.notes.append(f"falling back to {target.model}")
            log.warning("%s falling back to %s", exchange.request_id, target.model)
            exchange.target = target
        attempt = 0
        while True:
            try:
                return await dispatch(exchange, request)
            except ProxyError as exc:
                last = position == len(chain) - 1
                if not is_retryable(exc):
                    if last or exc.status not in FALLBACK_STATUS:
                        raise
                    break
                attempt += 1
                delay = backoff_delay(attempt, exc)
                if attempt > settings.max_retries or time.monotonic() + delay > deadline:
                    if last:
                        raise
                    break
                exchange.notes.append(f"retry {attempt} after {exc.status} in {delay:.2f} s")
                log.info(
                    "%s upstream %d (%s); retry %d in %.2f s",
                    exchange.request_id,
                    exc.status,
                    exc.error_type,
                    attempt,
                    delay,
                )
                await asyncio.sleep(delay)
    raise AssertionError("unreachable: the last target either returns or raises")
