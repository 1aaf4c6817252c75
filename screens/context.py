"""What the screens get from the app, typed, in their constructor (they never reach into `self.app`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual.dom import DOMNode
from textual.signal import Signal
from textual.worker import Worker, WorkerState

from app.client.backend import Backend
from app.client.bridge import Frame
from app.client.status import Status


@dataclass(frozen=True, slots=True)
class ScreenContext:
    """The app's shared objects and the actions a screen may ask of it; built once by the app."""

    backend: Backend
    """The data source (in-process or attached): screens read its snapshots and await its calls."""
    status: Signal[Status]
    """Published when the header's status snapshot changed."""
    frames: Signal[Frame]
    """Published once per frame that carried events (inside the app's batch update)."""
    resync: Signal[int]
    """Published when the proxy's state was fetched again: views reload what they show."""
    current_status: Callable[[], Status]
    """The latest status snapshot (what a widget shows before the next publish)."""
    apply_preset: Callable[[str], object]
    """Switch to the preset of that name (the app runs it in a worker and confirms on screen)."""
    assign_model: Callable[[str, str], object]
    """Make a model ("big" or "small", model string) current (the app runs it in a worker)."""
    open_detail: Callable[[str], None]
    """Open the detail view of the request with that id."""
    saved_filter: tuple[str, str] = ("", "all")
    """The request log's filter (model substring, status) as the user left it last time."""
    remember_filter: Callable[[str, str], object] = lambda model, status: None
    """Keep the request log's filter for the next start (the app writes it off the UI thread)."""


def forward_worker_state(node: DOMNode, event: Worker.StateChanged) -> None:
    """Hand a failed worker's state change to the app, which handles failures in one place.

    `Worker.StateChanged` does not bubble: without this a failing screen worker stays silent.
    Only failures go (the app acts on nothing else; a view switch cancels workers every frame).
    """
    if event.state == WorkerState.ERROR:
        node.app.post_message(Worker.StateChanged(event.worker, event.state))
