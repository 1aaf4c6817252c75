"""Send one exchange upstream: its target's transport, retries before the first byte, fallbacks."""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web

from proxy.core.errors import ProxyError
from proxy.core.json_response import json_response
from proxy.routing.fallback import fallback_chain, worth_fallback
from proxy.routing.retry import backoff_delay, is_retryable
from proxy.server.keys import HTTP, RESPONSE_HEADERS
from proxy.server.relay import relay
from proxy.state.exchange import Exchange
from proxy.upstreams.registry import transport_for

log = logging.getLogger("proxy")

ANSWERED_BY = "x-claude-proxy-model"


async def dispatch(exchange: Exchange, request: web.Request) -> web.StreamResponse:
    """Serve through the exchange's target's transport (one attempt)."""
    http = request.app[HTTP]
    transport = transport_for(exchange.target)
    headers = {"request-id": exchange.request_id, ANSWERED_BY: exchange.target.model}
    request[RESPONSE_HEADERS] = headers
    if exchange.stream:
        return await relay(exchange, request, await transport.stream(exchange, http))
    message = await transport.complete(exchange, http)
    # Every transport's answer names the requested model (see translated.new_translator).
    message["model"] = exchange.target.requested
    exchange.first_token(publish=False)
    exchange.finish(message)
    return json_response(message, headers=headers)


async def dispatch_with_retries(exchange: Exchange, request: web.Request) -> web.StreamResponse:
    """Retry retryable failures (never once a byte reached the client), then try fallbacks."""
    settings = exchange.service.settings
    deadline = time.monotonic() + settings.retry_max_time
    chain = fallback_chain(exchange.target, settings, exchange.notes)
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
                    if last or not worth_fallback(exc):
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
