"""What every full-screen view shares: the status bar on top, a title, Escape back, the footer."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

from screens.status_bar import StatusBar


class ViewScreen(Screen[None]):
    """A view over the request log; subclasses yield their body from `compose_body`."""

    TITLE_TEXT = ""
    BINDINGS = [
        Binding("escape", "back", "Back", id="view.back", tooltip="Back to the request log"),
    ]

    def compose(self) -> ComposeResult:
        yield StatusBar()
        yield Static(self.TITLE_TEXT, classes="view-title")
        yield from self.compose_body()
        yield Footer(compact=True)

    def compose_body(self) -> ComposeResult:
        """The view's own widgets."""
        yield from ()

    def action_back(self) -> None:
        """Return to the request log."""
        self.dismiss()
