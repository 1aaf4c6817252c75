"""The aiohttp application: routes, middlewares and the shared upstream connection pool."""

from __future__ import annotations

from collections.abc import AsyncIterator

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
from proxy.upstreams.wire import UpstreamPool


async def _upstream_pool(app: web.Application) -> AsyncIterator[None]:
    # One pool: keep-alive connections to each upstream, reused across requests.
    pool = app[HTTP] = UpstreamPool()
    try:
        yield
    finally:
        release_ending()  # before the pool closes: no connection left unreleased
        await pool.close()


def create_app(service: ProxyService) -> web.Application:
    """Build the application around a service (the one owner of live state)."""
    settings = service.settings
    app = web.Application(client_max_size=settings.max_body_bytes)
    middlewares.install(app, settings)
    app[SERVICE] = service
    app[LIMITER] = RateLimiter(settings.requests_per_minute)
    app[GATE] = ConcurrencyGate(settings.max_concurrency, settings.queue_timeout)
    app.cleanup_ctx.append(_upstream_pool)
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
