"""The aiohttp application: routes, the error middleware and the shared upstream ClientSession."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web

from proxy.core.errors import ProxyError, error_envelope
from proxy.core.json_response import json_response
from proxy.server import event_stream, management, request_detail
from proxy.server import messages as handlers
from proxy.server.keys import GATE, HTTP, LIMITER, SERVICE
from proxy.server.limits import ConcurrencyGate, RateLimiter
from proxy.state.service import ProxyService

log = logging.getLogger("proxy")

HTTP_ERROR_TYPES = {
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes the Anthropic error envelope with the right status, and a log line."""
    try:
        return await handler(request)
    except ProxyError as exc:
        # Upstream error text may echo a configured key of no recognisable shape.
        exc.message = request.app[SERVICE].redact(exc.message)
        log.warning(
            "%s %s -> %d %s: %s",
            request.method,
            request.path,
            exc.status,
            exc.error_type,
            exc.message,
        )
        return json_response(exc.envelope(), status=exc.status, headers=exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error_type = HTTP_ERROR_TYPES.get(exc.status, "invalid_request_error")
        message = exc.reason
        if exc.status == 404:
            message = f"no route for {request.method} {request.path}"
        elif exc.status == 413:
            message = (
                f"request body is larger than the limit of {request.app._client_max_size} bytes"
            )
        log.warning("%s %s -> %d %s", request.method, request.path, exc.status, message)
        return json_response(error_envelope(error_type, message), status=exc.status)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_response(
            error_envelope("api_error", "internal proxy error (see the proxy log)"), status=500
        )


OPEN_PATHS = frozenset({"/health"})


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """With PROXY_API_KEY set, every route but /health needs it (x-api-key or Bearer)."""
    expected = request.app[SERVICE].settings.proxy_api_key
    if expected and request.path not in OPEN_PATHS:
        auth = request.headers.get("Authorization", "")
        bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        # Either header may carry it: Claude Code sends both when the user's shell also exports
        # ANTHROPIC_API_KEY beside the ANTHROPIC_AUTH_TOKEN of the connect line.
        presented = (request.headers.get("x-api-key", ""), bearer)
        if not any(hmac.compare_digest(p.encode(), expected.encode()) for p in presented):
            raise ProxyError(
                401,
                "authentication_error",
                "missing or wrong proxy key: send PROXY_API_KEY as x-api-key or Authorization: Bearer",
            )
    return await handler(request)


async def _http_session(app: web.Application) -> AsyncIterator[None]:
    # One shared session: keep-alive connections to each upstream, reused across requests.
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=True) as session:
        app[HTTP] = session
        yield


def create_app(service: ProxyService) -> web.Application:
    """Build the application around a service (the one owner of live state)."""
    settings = service.settings
    app = web.Application(
        middlewares=[error_middleware, auth_middleware], client_max_size=settings.max_body_bytes
    )
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
    return app
