"""The management service: the one owner of the proxy's live state (models, counters, events)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from proxy import routing
from proxy.events import MODEL_SWITCHED, EventBus, ProxyEvent
from proxy.routing import ModelPair, Target
from proxy.settings import Settings


@dataclass(slots=True)
class Counters:
    """Request counters since start."""

    total: int = 0
    in_flight: int = 0
    errors: int = 0


class ProxyService:
    """Owns the active model pair and the event bus; HTTP routes and screens both call it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bus = EventBus()
        self.pair = ModelPair(big=settings.big_model, small=settings.small_model)
        self.counters = Counters()
        self.started_at = time.time()
        # Sent upstream as a header: seeing it come back means requests are looping.
        self.instance_id = secrets.token_hex(8)

    def resolve(self, requested: str) -> Target:
        """Map a requested model id with the pair in force right now."""
        return routing.resolve(requested, self.pair, self.settings)

    def switch(
        self, big: str | None = None, small: str | None = None, preset: str | None = None
    ) -> ModelPair:
        """Replace the model pair in one assignment (requests in flight keep their target)."""
        old = self.pair
        self.pair = ModelPair(
            big=big if big is not None else old.big,
            small=small if small is not None else old.small,
            preset=preset,
        )
        self.bus.publish(
            ProxyEvent(MODEL_SWITCHED, "", {"old": old, "new": self.pair}),
        )
        return self.pair
