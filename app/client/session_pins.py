"""Which Claude Code sessions run on a model of their own choosing, as the header shows them.

`/model openai/gpt-4o-mini` typed in Claude Code (or `--model`) makes it send that id as the
request's model; the proxy passes non-Claude ids through ("direct model"), so the session is
pinned to it until Claude Code asks for a Claude main model again. A pin set through the API
(`POST /sessions/{id}/model`) shows the same way. Haiku-class requests (Claude Code's background
calls) and subagent markers change nothing: they are not the session's main model.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from app.client.requests import RequestRecord

CHOSEN = "direct model"
"""The routing reason of a non-Claude id passed through (what `/model provider/model` sends)."""
BACK_TO_CLAUDE = "big model"
LIMIT = 100


@dataclass(frozen=True, slots=True)
class SessionPin:
    """One session's own model and how it got there (`/model` or `pin` through the API)."""

    session_id: str
    model: str
    how: str


def decision(record: RequestRecord) -> SessionPin | bool | None:
    """What a request says about its session: a pin, None (unpinned), False (nothing)."""
    session, reason = record.session_id, record.reason
    if not session:
        return False
    if reason == CHOSEN:
        return SessionPin(session, record.model, "/model")
    if reason.startswith("session ") and reason.endswith(" pinned"):
        return SessionPin(session, record.model, "pin")
    if reason == BACK_TO_CLAUDE:
        return None
    return False


class SessionPins:
    """The newest decision per session, from the requests as they start (oldest sessions drop)."""

    def __init__(self) -> None:
        self._pins: OrderedDict[str, SessionPin] = OrderedDict()
        self._latest: dict[str, float] = {}

    def note(self, record: RequestRecord) -> bool:
        """Take a request into account; True when the pins changed."""
        found = decision(record)
        session = record.session_id
        if found is False or session is None:
            return False
        # A long request that ends late must not undo a newer choice of the same session.
        if record.started < self._latest.get(session, 0.0):
            return False
        self._latest[session] = record.started
        if len(self._latest) > 10 * LIMIT:
            del self._latest[next(iter(self._latest))]
        old = self._pins.get(session)
        if isinstance(found, SessionPin):
            self._pins[session] = found
            self._pins.move_to_end(session)
            while len(self._pins) > LIMIT:
                dropped, _ = self._pins.popitem(last=False)
                self._latest.pop(dropped, None)
        else:
            self._pins.pop(session, None)
        return self._pins.get(session) != old

    @property
    def pins(self) -> tuple[SessionPin, ...]:
        """Every pinned session, most recently chosen last."""
        return tuple(self._pins.values())
