"""What every request passes before its handler: error envelope, Host, Origin, JSON, key.

Order matters: the error envelope wraps everything; a request from a web page (foreign Host after
DNS rebinding, foreign Origin, a "simple" text/plain or form POST) is refused before it can reach
a handler or spend a key. Each check is a header read and a frozenset lookup: these run on every
`/v1/messages` call.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from proxy.core.errors import ProxyError, error_envelope
from proxy.core.json_response import json_response
from proxy.core.settings import Settings
from proxy.server.keys import SERVICE

log = logging.getLogger("proxy")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HTTP_ERROR_TYPES = {
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
}
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})
OPEN_PATHS = frozenset({"/health"})
JSON_TYPE = "application/json"
# What browsers send without an Origin on a cross-site navigation or subresource load.
FOREIGN_FETCH_SITES = frozenset({"cross-site", "same-site"})
MAX_SEEN_HOSTS = 64


def error_response(request: web.Request, exc: Exception) -> web.StreamResponse:
    """The Anthropic error envelope (and a log line) for what a handler or a check raised."""
    if isinstance(exc, ProxyError):
        # Upstream error text may echo a configured key of no recognisable shape.
        service = request.app[SERVICE]
        exc.message = service.redact(exc.message)
        if refused_change(request, exc.status):
            # A TUI attached over HTTP cannot write this log: the proxy records what it refused.
            service.debug.add(
                "error",
                f"{request.method} {request.path} refused: {exc.status}: {exc.message}",
                {"source": "management", "status": exc.status},
            )
        log.warning(
            "%s %s -> %d %s: %s",
            request.method,
            request.path,
            exc.status,
            exc.error_type,
            exc.message,
        )
        response = json_response(exc.envelope(), status=exc.status, headers=exc.headers)
        if exc.status == 408:
            # The body never came: close instead of lingering to read the rest of it.
            response.force_close()
        return response
    if isinstance(exc, web.HTTPException):
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
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    return json_response(
        error_envelope("api_error", "internal proxy error (see the proxy log)"), status=500
    )


def refused_change(request: web.Request, status: int) -> bool:
    """A management change (POST/DELETE outside /v1/) the proxy refused, key checks aside."""
    return (
        request.method in ("POST", "DELETE")
        and not request.path.startswith("/v1/")
        and status not in (401, 403)
    )


def host_name(header: str) -> str:
    """The name part of a Host header, lower-cased: `[::1]:8082` -> `[::1]`, `a:1` -> `a`."""
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        return header[: end + 1] if end > 0 else header
    return header.rsplit(":", 1)[0] if ":" in header else header


def allowed_host_names(settings: Settings) -> frozenset[str]:
    """Loopback names, the configured HOST and ALLOWED_HOSTS, as `host_name` spells them."""
    configured = settings.host.strip().lower()
    if ":" in configured and not configured.startswith("["):
        configured = f"[{configured}]"  # an IPv6 listen address appears bracketed in Host
    extra = {host_name(name) if name != "*" else "*" for name in settings.allowed_hosts}
    return frozenset({*LOOPBACK_NAMES, configured, *extra})


def _ascii(value: str) -> str:
    # Header bytes that are not UTF-8 arrive as surrogates, which no JSON encoder accepts.
    return value.encode("ascii", "backslashreplace").decode()


def _refuse(request: web.Request, reason: str, details: dict[str, str]) -> ProxyError:
    reason = _ascii(reason)
    request.app[SERVICE].debug.add(
        "error",
        f"refused {request.method} {request.path}: {reason}",
        {
            "status": "403",
            "remote": request.remote or "",
            **{k: _ascii(v) for k, v in details.items()},
        },
    )
    return ProxyError(403, "permission_error", f"refused: {reason}")


def request_guard(settings: Settings) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The one middleware: the checks every request passes, in order: Host (DNS rebinding),
    Origin / Sec-Fetch-Site (web pages; answers CORS preflights), JSON content type, proxy key;
    then the handler; and every failure of either as the Anthropic error envelope.

    One layer instead of five: aiohttp wraps the handler once per middleware per request.
    """
    names = allowed_host_names(settings)
    any_host = "*" in names
    # Host values already accepted, port included: the usual request costs one set lookup.
    seen: set[str] = set()
    origins = frozenset(settings.cors_origins)
    any_origin = "*" in origins

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        # The checks and the handler in one layer: aiohttp adds a frame per middleware.
        try:
            early = checks(request)
            if early is not None:
                return early
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return error_response(request, exc)
        except Exception as exc:
            return error_response(request, exc)

    def checks(request: web.Request) -> web.StreamResponse | None:
        """Raise a refusal (or answer a CORS preflight) before the handler runs."""
        headers = request.headers
        # A browser always sends Host; only hand-made HTTP/1.0 requests lack it.
        host = headers.get("Host")
        if host is not None and host not in seen and not any_host:
            if host_name(host) not in names:
                raise _refuse(
                    request,
                    f"Host {host!r} is not this proxy's address; a web page reached it through "
                    "DNS rebinding, or a reverse proxy needs its name in ALLOWED_HOSTS",
                    {"host": host},
                )
            if len(seen) < MAX_SEEN_HOSTS:
                seen.add(host)
        origin = headers.get("Origin")
        if origin is None:
            # Claude Code, the SDKs, curl and the attached TUI send neither header.
            site = headers.get("Sec-Fetch-Site")
            if site is not None and site.lower() in FOREIGN_FETCH_SITES:
                raise _refuse(
                    request,
                    f"a {site} request from a web page (Sec-Fetch-Site)",
                    {"sec_fetch_site": site},
                )
        else:
            if not any_origin and origin.lower().rstrip("/") not in origins:
                raise _refuse(
                    request,
                    f"requests from the web origin {origin!r} are not allowed (CORS_ORIGINS)",
                    {"origin": origin},
                )
            if request.method == "OPTIONS" and "Access-Control-Request-Method" in headers:
                return web.Response(status=204, headers=_preflight_headers(request, origin))
        check_json_type(request)
        if settings.proxy_api_key:
            check_proxy_key(request, settings.proxy_api_key)
        return None

    return guard


def _preflight_headers(request: web.Request, origin: str) -> dict[str, str]:
    asked = request.headers.get("Access-Control-Request-Headers", "")
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
        "Access-Control-Allow-Headers": asked or "content-type, x-api-key, authorization",
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }


def cors_headers(
    settings: Settings,
) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """A response-prepare hook adding the CORS headers for the allowed origins (streams too)."""
    origins = frozenset(settings.cors_origins)
    any_origin = "*" in origins

    async def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
        origin = request.headers.get("Origin")
        if origin is None or "Access-Control-Allow-Origin" in response.headers:
            return
        if any_origin or origin.lower().rstrip("/") in origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"

    return add_cors_headers


def check_json_type(request: web.Request) -> None:
    """A request with a body must say `application/json` (a browser then has to preflight).

    Body-less requests (`curl -X POST .../conversation/disable`) pass whatever type they name.
    """
    if request.body_exists:
        content_type = request.headers.get("Content-Type")
        if content_type is None:
            raise _unsupported("a request body needs Content-Type: application/json")
        if content_type.split(";", 1)[0].strip().lower() != JSON_TYPE:
            raise _unsupported(
                f"Content-Type {content_type!r} is not accepted: send application/json"
            )


def _unsupported(message: str) -> ProxyError:
    return ProxyError(415, "invalid_request_error", message)


def check_proxy_key(request: web.Request, expected: str) -> None:
    """With PROXY_API_KEY set (`expected`), every route but /health needs it (x-api-key or
    Bearer)."""
    if expected and request.path not in OPEN_PATHS:
        auth = request.headers.get("Authorization", "")
        bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        # Either header may carry it: Claude Code sends both when the user's shell also exports
        # ANTHROPIC_API_KEY beside the ANTHROPIC_AUTH_TOKEN of the connect line.
        presented = (request.headers.get("x-api-key", ""), bearer)
        # A header of undecodable bytes arrives with surrogates: compare bytes, never raise.
        given = [p.encode("utf-8", "surrogateescape") for p in presented]
        if not any(hmac.compare_digest(g, expected.encode()) for g in given):
            raise ProxyError(
                401,
                "authentication_error",
                "missing or wrong proxy key: send PROXY_API_KEY as x-api-key or Authorization: Bearer",
            )


def install(app: web.Application, settings: Settings) -> None:
    """Add the request guard with its error envelope (and the CORS response headers when origins
    are set)."""
    app.middlewares.append(request_guard(settings))
    if settings.cors_origins:
        # Only then: every other proxy pays nothing per response.
        app.on_response_prepare.append(cors_headers(settings))
