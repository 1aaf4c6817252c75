"""The status snapshot the header shows: immutable, rebuilt when something changed, broadcast."""

from __future__ import annotations

from dataclasses import dataclass

from app.client.connect import connect_command
from app.client.session_pins import SessionPin

STARTING, READY, ERROR, STOPPING = "starting", "ready", "error", "stopping"
DISCONNECTED = "disconnected"
"""Attached to a proxy elsewhere and the connection is lost (retrying)."""


@dataclass(frozen=True, slots=True)
class Status:
    """Everything in the status bar at one moment."""

    state: str = STARTING
    url: str = ""
    big: str | None = None
    small: str | None = None
    preset: str | None = None
    models_from_env: bool = False
    """The models are BIG_MODEL/SMALL_MODEL as configured (no preset, no switch)."""
    in_flight: int = 0
    requests: int = 0
    errors: int = 0
    tokens: int = 0
    cost: float = 0.0
    message: str = ""
    """Why the state is `error` (the port in use, ...)."""
    no_provider_key: bool = False
    """First run: no provider can be reached, so every request would fail."""
    big_key_missing: str | None = None
    """The variable to set when the big model's provider has no key."""
    small_key_missing: str | None = None
    attached: bool = False
    """The proxy runs elsewhere; this app drives it over HTTP."""
    retry_in: int | None = None
    """Whole seconds until the next connection attempt, while disconnected."""
    proxy_key: bool = False
    """The proxy wants PROXY_API_KEY from clients (the connect line references it)."""
    quit_pending: bool = False
    """The user chose to quit once the requests in flight are done."""
    pins: tuple[SessionPin, ...] = ()
    """Sessions on a model of their own (`/model provider/model` in Claude Code, or the API)."""
    recording_paused: str | None = None
    """Why the proxy's store records nothing now (`read-only folder`), None while it records."""

    @property
    def preset_label(self) -> str:
        """`default (.env)`, the preset's name, or `custom` for a pair picked by hand."""
        if self.models_from_env:
            return "default (.env)"
        return self.preset or "custom"

    @property
    def connect_command(self) -> str:
        """The line that points Claude Code at this proxy."""
        return connect_command(self.url, self.proxy_key) if self.url else ""
