"""What every full-screen view shares: the status bar on top, a title, Escape back, the footer."""

from __future__ import annotations

from typing import Any, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Static
from textual.widgets.data_table import ColumnKey
from textual.worker import Worker

from screens.context import ScreenContext, forward_worker_state
from screens.footer import FittingFooter
from screens.status_bar import StatusBar
from screens.typeahead import TypeaheadScreen

ResultT = TypeVar("ResultT")


class ViewScreen(Screen[None]):
    """A view over the request log; subclasses yield their body from `compose_body`.

    The app builds each view once and shows the same screen again (building one costs more than
    drawing it): `reopen` brings a view shown again up to date, and its `every` timers run only
    while it is on screen.
    """

    TITLE_TEXT = ""
    BINDINGS = [
        Binding("escape", "back", "Back", id="view.back", tooltip="Back to the request log"),
    ]

    def __init__(self, ctx: ScreenContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.backend = ctx.backend
        self.timers: list[Timer] = []

    def every(self, seconds: float, callback: Any) -> Timer:
        """A repeating timer that pauses while the view is closed or covered."""
        timer = self.set_interval(seconds, callback)
        self.timers.append(timer)
        return timer

    def on_screen_suspend(self) -> None:
        """Closed or covered: its timers stop fetching."""
        for timer in self.timers:
            timer.pause()

    def on_screen_resume(self) -> None:
        """On screen again: its timers run again."""
        for timer in self.timers:
            timer.resume()

    def reopen(self) -> None:
        """Shown again after it was closed: fetch what it shows again, as a fresh open would."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Failures of this view's workers go to the app's one handler."""
        forward_worker_state(self, event)

    def compose(self) -> ComposeResult:
        yield StatusBar(self.ctx)
        yield Static(self.TITLE_TEXT, classes="view-title")
        yield from self.compose_body()
        yield FittingFooter()

    def compose_body(self) -> ComposeResult:
        """The view's own widgets."""
        yield from ()

    def action_back(self) -> None:
        """Return to the request log."""
        self.dismiss()


class ModalView(TypeaheadScreen[ResultT]):
    """A dialog whose workers' failures go to the app's one handler."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Hand the state change to the app (it does not bubble by itself)."""
        forward_worker_state(self, event)


def fit_columns(
    table: DataTable[Any], widths: dict[str, int], flex: dict[str, tuple[int, int]]
) -> None:
    """Give `flex` columns (key: (min, max)) what the fixed `widths` leave of the table's width,
    shared evenly; the table never scrolls sideways when the minimums fit."""
    pad = 2 * table.cell_padding
    room = table.size.width - 1 - sum(w + pad for w in widths.values()) - pad * len(flex)
    share = dict.fromkeys(flex, 0)
    # Hand out the room one cell at a time to the columns still below their maximum.
    while room > 0 and any(share[k] < flex[k][1] for k in flex):
        for key in flex:
            if room > 0 and share[key] < flex[key][1]:
                share[key] += 1
                room -= 1
    for key, (minimum, _) in flex.items():
        widths = {**widths, key: max(minimum, share[key])}
    for key, width in widths.items():
        if key in table.columns:
            table.columns[ColumnKey(key)].width = width
    # DataTable keeps rendered rows cached per width; there is no public call to drop them.
    table._clear_caches()
    table._require_update_dimensions = True
    table.refresh()


class FitTable(DataTable[Any]):
    """A DataTable whose `flex` columns share the width left by the fixed ones, on every resize."""

    def __init__(
        self, fixed: dict[str, int], flex: dict[str, tuple[int, int]], **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.fixed = fixed
        self.flex = flex

    def add_columns_from(self, labels: dict[str, str]) -> None:
        """Add the columns (keys as in `fixed`/`flex`) with their starting widths."""
        for key, label in labels.items():
            width = self.fixed.get(key) or self.flex[key][0]
            self.add_column(label, width=width, key=key)

    def on_resize(self) -> None:
        """Refit to the new width."""
        fit_columns(self, self.fixed, self.flex)
