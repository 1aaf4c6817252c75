"""GET /requests/{id}: a recent request's client body and translated upstream request, keys masked.

A TUI attached over HTTP needs them for the request detail and replay; /events never carries
bodies. They are kept only while an /events subscriber is connected (nobody else asks for them),
for the newest RING_SIZE requests, as references (no copies on the hot path).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

import orjson
from aiohttp import web

from proxy.core.errors import ProxyError
from proxy.server.event_stream import HUB, EventHub
from proxy.server.keys import SERVICE
from proxy.state.events import (
    REQUEST_FAILED,
    REQUEST_FINISHED,
    REQUEST_STARTED,
    ProxyEvent,
)

RING_SIZE = 100


class RequestRing:
    """Bodies of the newest requests, recorded while someone watches /events."""

    def __init__(self, hub: EventHub, size: int = RING_SIZE) -> None:
        self.hub = hub
        self.size = size
        self.entries: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def on_event(self, event: ProxyEvent) -> None:
        """Remember the body at start, the upstream request at the end (the hub calls this)."""
        kind = event.kind
        if kind == REQUEST_STARTED:
            if not self.hub.subscribers:
                return
            body = event.data.get("body")
            self.entries[event.request_id] = {"body": body, "upstream_request": None}
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        elif self.entries and kind in (REQUEST_FINISHED, REQUEST_FAILED):
            entry = self.entries.get(event.request_id)
            if entry is not None:
                entry["upstream_request"] = event.data.get("upstream_request")


RING = web.AppKey("request_ring", RequestRing)


async def get_request(request: web.Request) -> web.Response:
    """GET /requests/{id}: {request_id, body, upstream_request}, keys masked."""
    request_id = request.match_info["id"]
    entry = request.app[RING].entries.get(request_id)
    if entry is None:
        raise ProxyError(
            404,
            "not_found_error",
            f"request {request_id} is not held: bodies are kept for the newest "
            f"{request.app[RING].size} requests made while an /events subscriber was connected",
        )
    # Serialized here, on the proxy loop, which owns the body objects; the configured keys and
    # anything key-shaped masked (a client may have pasted a key into its prompt).
    text = orjson.dumps({"request_id": request_id, **entry}, default=str).decode()
    return web.Response(text=request.app[SERVICE].redact(text), content_type="application/json")


async def _ring_ctx(app: web.Application) -> AsyncIterator[None]:
    hub = app[HUB]
    ring = RequestRing(hub)
    app[RING] = ring
    # Told by the hub (only while someone watches or it holds bodies), not by the bus.
    hub.bodies = ring
    yield
    hub.bodies = None
    ring.entries.clear()


def install(app: web.Application) -> None:
    """Add GET /requests/{id} (after event_stream.install: it reads the event hub)."""
    app.cleanup_ctx.append(_ring_ctx)
    app.router.add_get("/requests/{id}", get_request)
