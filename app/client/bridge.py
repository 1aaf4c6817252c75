"""Proxy thread -> UI: a deque the proxy appends to, drained by the UI once per frame.

`deque.append` is atomic and never waits, so a slow UI can never stall a stream (the reason not
to use `App.call_from_thread`, which blocks the caller until the UI has run the callback).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from app.client.requests import PROXY_RESTARTED, RequestRecord, RequestStore
from proxy.state.events import (
    MODEL_SWITCHED,
    REQUEST_STARTED,
    TEXT_DELTA,
    ProxyEvent,
)

# Far above what a frame ever holds; only a UI frozen for minutes could reach it.
SINK_LIMIT = 500_000
SPARK_MINUTES = 30


@dataclass(slots=True)
class Frame:
    """What changed since the last frame: the screens apply it in one batch."""

    changed: dict[str, RequestRecord] = field(default_factory=dict)
    """Records touched this frame, by request id, in first-touched order."""
    new_text: dict[str, str] = field(default_factory=dict)
    """Answer text that arrived this frame, by request id (joined once, not per chunk)."""
    started: list[float] = field(default_factory=list)
    """Start times of the requests that began this frame."""
    evicted: list[str] = field(default_factory=list)
    switched: bool = False
    events: int = 0


class EventSink:
    """The bus subscriber: appends events for the UI to collect."""

    def __init__(self, limit: int = SINK_LIMIT) -> None:
        self.queue: deque[ProxyEvent] = deque(maxlen=limit)

    def __call__(self, event: ProxyEvent) -> None:
        """Called on the proxy loop for every event; must return at once."""
        self.queue.append(event)

    def drain(self, store: RequestStore, max_events: int = 50_000) -> Frame | None:
        """Fold queued events into `store`; None when nothing was queued."""
        queue = self.queue
        if not queue:
            return None
        frame = Frame()
        pending: dict[str, list[str]] = {}
        popleft = queue.popleft
        # Bounded per frame so one huge burst cannot hold the UI for long; the rest waits a frame.
        for _ in range(min(len(queue), max_events)):
            event = popleft()
            frame.events += 1
            if event.kind == MODEL_SWITCHED:
                frame.switched = True
                continue
            if event.kind == PROXY_RESTARTED:
                for lost in store.abandon_live("the proxy restarted before this request ended"):
                    frame.changed.setdefault(lost.request_id, lost)
                continue
            record = store.apply(event)
            if record is None:
                continue
            frame.changed.setdefault(record.request_id, record)
            if event.kind == REQUEST_STARTED:
                frame.started.append(record.started)
            elif event.kind == TEXT_DELTA:
                pending.setdefault(record.request_id, []).append(event.data.get("text", ""))
        frame.new_text = {rid: "".join(parts) for rid, parts in pending.items()}
        if store.evicted:
            frame.evicted, store.evicted = store.evicted, []
        return frame


class Activity:
    """Requests started per minute over the last half hour (the stats sparkline)."""

    def __init__(self, minutes: int = SPARK_MINUTES) -> None:
        self.minutes = minutes
        self.starts: deque[float] = deque(maxlen=100_000)

    def note(self, frame: Frame) -> None:
        """Record the start times of requests new in this frame."""
        self.starts.extend(frame.started)

    def per_minute(self, now: float | None = None) -> list[int]:
        """Counts per minute, oldest first, the current minute last."""
        now = time.time() if now is None else now
        counts = [0] * self.minutes
        horizon = now - self.minutes * 60
        for started in self.starts:
            if started > horizon:
                index = min(int((started - horizon) // 60), self.minutes - 1)
                counts[index] += 1
        return counts
