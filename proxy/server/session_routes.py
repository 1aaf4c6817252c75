"""`GET /sessions/{id}/status`: what `claude-proxy statusline` prints for one Claude Code session.

The routed model of the session's newest main request and the session's tokens and cost come
from the store; the preset and a pin from the service. Without the store (--no-store, an
unreadable file) the numbers are null and `recording` says why.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from proxy.core.json_response import json_response
from proxy.server.keys import SERVICE
from proxy.state.service import ProxyService
from proxy.store.db import StoreError
from proxy.store.session_query import session_status

log = logging.getLogger(__name__)


async def get_session_status(request: web.Request) -> web.Response:
    """The session's main model (routed), the preset in force, its tokens and cost."""
    service: ProxyService = request.app[SERVICE]
    session_id = request.match_info["id"]
    try:
        found: dict[str, Any] = await service.recording.read(session_status, session_id)
    except StoreError as exc:
        log.debug("session status without the store: %s", exc)
        found = {"usage": None, "latest": None}
    pair = service.pair
    # Known from the request's start: the store has it only once it ended and was committed.
    latest = service.session_models.get(session_id) or found["latest"] or {}
    return json_response(
        {
            "session": session_id,
            "model": latest.get("model"),
            "requested": latest.get("requested"),
            "reason": latest.get("reason"),
            "pinned": service.session_pins.get(session_id),
            "preset": pair.preset,
            "models_from_env": pair.from_env,
            "big_model": pair.big,
            "small_model": pair.small,
            "usage": found["usage"],
            "recording": service.recording.status(),
        }
    )


def install(app: web.Application) -> None:
    """Add the route to an app."""
    app.router.add_get("/sessions/{id}/status", get_session_status)
