"""Quitting while requests are in flight: say how many, offer to wait for them, or cut them."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from screens.base import ModalView

WAIT, NOW = "wait", "now"


def plural(count: int) -> str:
    """`1 request is` / `3 requests are`."""
    return f"{count} request is" if count == 1 else f"{count} requests are"


class QuitScreen(ModalView[str | None]):
    """Returns `wait` (quit once they finished), `now` (cut them), or None (stay)."""

    BINDINGS = [
        Binding("w", "wait", "Wait", id="quit.wait", tooltip="Quit once they finished"),
        Binding("y", "now", "Quit now", id="quit.now", tooltip="Quit now and cut them"),
        Binding("escape,n", "stay", "Stay", id="quit.stay", tooltip="Do not quit"),
    ]

    def __init__(self, in_flight: int) -> None:
        super().__init__()
        self.in_flight = in_flight

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"{plural(self.in_flight)} in flight", classes="dialog-title")
            yield Static(
                "Quitting stops the proxy: Claude Code would lose the answers it is waiting "
                "for. Wait for them, then quit? (Ctrl+C twice quits at once.)",
                classes="hint",
            )
            with Horizontal(classes="buttons"):
                yield Button("Wait, then quit", variant="primary", id="wait")
                yield Button("Quit now", variant="error", id="now")
                yield Button("Stay", id="stay")

    def on_mount(self) -> None:
        """Waiting is the safe default (Enter)."""
        self.query_one("#wait", Button).focus()

    @on(Button.Pressed, "#wait")
    def action_wait(self) -> None:
        """Quit once nothing is in flight."""
        self.dismiss(WAIT)

    @on(Button.Pressed, "#now")
    def action_now(self) -> None:
        """Quit now."""
        self.dismiss(NOW)

    @on(Button.Pressed, "#stay")
    def action_stay(self) -> None:
        """Do not quit."""
        self.dismiss(None)
