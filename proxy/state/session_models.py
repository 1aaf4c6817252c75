"""The model each Claude Code session's newest main request was routed to, known from its start.

The store has it too, but only once the request ended and the writer committed it; Claude Code
asks for its status line the moment an answer arrives. Haiku-class background calls are left
out: they are not the model the session works with.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from proxy.state.events import REQUEST_STARTED, ProxyEvent

if TYPE_CHECKING:
    from proxy.state.ledger import Started

LIMIT = 1000
BACKGROUND_REASON = "small model"


class SessionModels:
    """Bus subscriber: session id -> {model, requested, reason} of its newest main request."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._latest: OrderedDict[str, tuple[Any, Any, Any]] = OrderedDict()
        """session -> (model, requested, reason), made a dict when read."""

    def request_started(self, record: Started) -> None:
        """Note a starting Messages request from its ledger record (O(1), on the proxy loop)."""
        session = record.session_id
        reason = record.reason
        if not session or reason == BACKGROUND_REASON:
            return
        latest = self._latest
        latest[session] = (record.model, record.requested, reason)
        latest.move_to_end(session)
        if len(latest) > self.limit:
            latest.popitem(last=False)

    def on_event(self, event: ProxyEvent) -> None:
        """Note a starting request (O(1), on the proxy loop)."""
        if event.kind != REQUEST_STARTED:
            return
        data = event.data
        session = data.get("session_id")
        reason = data.get("reason")
        if not session or reason == BACKGROUND_REASON or data.get("endpoint") != "messages":
            return
        self._latest[session] = (data.get("model"), data.get("requested"), reason)
        self._latest.move_to_end(session)
        if len(self._latest) > self.limit:
            self._latest.popitem(last=False)

    def get(self, session: str) -> dict[str, Any] | None:
        """The newest main request's routing of that session, None when none was seen."""
        latest = self._latest.get(session)
        if latest is None:
            return None
        model, requested, reason = latest
        return {"model": model, "requested": requested, "reason": reason}
