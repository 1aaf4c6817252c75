"""The aiohttp application: routes, middlewares and the shared upstream ClientSession."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from proxy.server import (
    event_stream,
    management,
    middlewares,
    request_detail,
    session_routes,
    store_routes,
    usage_routes,
)
from proxy.server import messages as handlers
from proxy.server.keys import GATE, HTTP, LIMITER, SERVICE
from proxy.server.limits import ConcurrencyGate, RateLimiter
from proxy.state.service import ProxyService
from proxy.upstreams.http import release_ending


async def _http_session(app: web.Application) -> AsyncIterator[None]:
    # One shared session: keep-alive connections to each upstream, reused across requests.
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=True) as session:
        app[HTTP] = session
        try:
            yield
        finally:
            release_ending()  # before the session closes: no connection left unreleased


def create_app(service: ProxyService) -> web.Application:
    """Build the application around a service (the one owner of live state)."""
    settings = service.settings
    app = web.Application(client_max_size=settings.max_body_bytes)
    middlewares.install(app, settings)
    app[SERVICE] = service
    app[LIMITER] = RateLimiter(settings.requests_per_minute)
    app[GATE] = ConcurrencyGate(settings.max_concurrency, settings.queue_timeout)
    app.cleanup_ctx.append(_http_session)
    app.router.add_post("/v1/messages", handlers.messages)
    app.router.add_post("/v1/messages/count_tokens", handlers.count_tokens)
    app.router.add_get("/health", handlers.health)
    management.install(app)
    event_stream.install(app)
    request_detail.install(app)
    usage_routes.install(app)
    session_routes.install(app)
    store_routes.install(app)
    return app
