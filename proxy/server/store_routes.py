"""Routes a TUI attached over HTTP reads the store through: the newest requests (to backfill its
log) and history pages (newest first, or found by full-text search).

Both read in a worker thread after the writer committed what was queued (`Recording.read`).
"""

from __future__ import annotations

from aiohttp import web

from proxy.core.errors import ProxyError
from proxy.core.json_response import json_response
from proxy.server.keys import SERVICE
from proxy.state.history_store import PAGE_LIMIT
from proxy.state.service import ProxyService
from proxy.store import queries
from proxy.store.db import StoreError

REQUESTS_LIMIT = 5_000
"""The most rows one `GET /requests` returns (a TUI asks for its log's bound, 1,000)."""


def _bad(message: str) -> ProxyError:
    return ProxyError(400, "invalid_request_error", message)


def _limit(request: web.Request, default: int, most: int) -> int:
    raw = request.query.get("limit") or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise _bad(f"limit: must be an integer from 1 to {most}, got {raw!r}") from None
    if not 1 <= value <= most:
        raise _bad(f"limit: must be an integer from 1 to {most}, got {raw!r}")
    return value


async def recent_requests(request: web.Request) -> web.Response:
    """GET /requests?limit=N: the newest N Messages requests the store holds, newest first."""
    service: ProxyService = request.app[SERVICE]
    limit = _limit(request, 200, REQUESTS_LIMIT)
    try:
        rows = await service.recording.read(queries.recent_requests, limit, None, "messages")
    except StoreError as exc:
        raise ProxyError(503, "api_error", f"the request log is not available: {exc}") from None
    return json_response({"requests": rows})


async def history_page(request: web.Request) -> web.Response:
    """GET /conversation/page?limit=N&before=CURSOR&session=ID&q=WORDS: turns newest first;
    `next` is the cursor of the following page (null at the end)."""
    service: ProxyService = request.app[SERVICE]
    query = request.query
    page = await service.history_store.page(
        _limit(request, 50, PAGE_LIMIT),
        query.get("before") or None,
        query.get("session") or None,
        query.get("q") or None,
    )
    return json_response(page)


def install(app: web.Application) -> None:
    """Add GET /requests and GET /conversation/page."""
    app.router.add_get("/requests", recent_requests)
    app.router.add_get("/conversation/page", history_page)
