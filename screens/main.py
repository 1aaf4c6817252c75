"""The main screen: status, the connect command, the live request log and the selected answer."""

from __future__ import annotations

import time

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Input, Select, Static
from textual.worker import Worker

from app.client.bridge import Frame
from app.client.requests import RequestStore
from app.client.status import DISCONNECTED, ERROR, STARTING, Status
from screens.answer_view import AnswerView
from screens.context import ScreenContext, forward_worker_state
from screens.footer import FittingFooter
from screens.request_log import LogFilter, RequestLog
from screens.status_bar import ConnectBar, StatusBar

STATUS_OPTIONS = [("all", "all"), ("ok", "ok"), ("errors", "error"), ("in flight", "live")]
WIDE = 140


class FilterBar(Horizontal):
    """Model substring and status filters for the request log (hidden until `f`)."""

    # Letters are typed into the field here, so the footer would be empty: show the way out.
    BINDINGS = [
        Binding(
            "escape",
            "screen.close_filter",
            "Close filter",
            id="filter.close",
            tooltip="Hide the filter bar and show every request",
        ),
        Binding("f1", "app.help", "Help", id="filter.help", tooltip="Help, from anywhere"),
    ]

    def compose(self) -> ComposeResult:
        yield Static("filter", classes="label")
        yield Input(placeholder="model contains…", id="filter-model")
        yield Select(STATUS_OPTIONS, value="all", allow_blank=False, id="filter-status")

    def current(self) -> LogFilter:
        """The filter the inputs describe."""
        status = self.query_one("#filter-status", Select).value
        return LogFilter(self.query_one("#filter-model", Input).value, str(status))


def attached_notice(status: Status) -> tuple[Content | None, bool]:
    """The notice for an app attached to a proxy elsewhere (and whether it is an error)."""
    if status.state == ERROR:
        return (
            Content.assemble(
                ("Cannot use the attached proxy. ", "bold"),
                "Press q to quit, then attach again with the right --api-key or PROXY_API_KEY.",
            ),
            True,
        )
    if status.state == DISCONNECTED:
        return (
            Content.assemble(
                ("Lost the connection to the proxy", "bold"),
                f" ({status.message}). " if status.message else ". ",
                "Retrying; the log keeps what it has and resumes where it stopped.",
            ),
            False,
        )
    if status.no_provider_key:
        return (
            Content.assemble(
                ("The attached proxy has no provider key configured. ", "bold"),
                "Set one where it runs (its .env) and restart it.",
            ),
            False,
        )
    return None, False


STATUS_WORDS = {value: label for label, value in STATUS_OPTIONS}


def empty_hint(records: int, log_filter: LogFilter, status: Status) -> Content:
    """What an empty log says: how to get requests here, or that the filter hides them all."""
    if records == 0:
        where = "the line above" if status.connect_command else "the line that appears above"
        return Content.assemble(
            ("No requests yet. ", "bold"),
            f"Start Claude Code with {where} (c copies it); requests show here as they arrive.",
        )
    conditions = []
    if log_filter.model.strip():
        conditions.append(f"model contains '{log_filter.model.strip()}'")
    if log_filter.status != "all":
        conditions.append(f"status {STATUS_WORDS.get(log_filter.status, log_filter.status)}")
    return Content.assemble(
        (f"None of the {records} requests match", "bold"),
        f" ({', '.join(conditions) or 'the filter'}). Esc shows them all.",
    )


class MainScreen(Screen[None]):
    """The request log with the selected request's answer beside or below it."""

    HELP_TITLE = "Request log"
    HELP_KEYS = (("↑ ↓", "Select", "a request; its answer shows in the pane"),)

    BINDINGS = [
        Binding("f", "toggle_filter", "Filter", id="main.filter", tooltip="Filter by model/status"),
        Binding(
            "escape",
            "close_filter",
            "Close filter",
            show=False,
            id="main.close_filter",
            tooltip="Hide the filter bar and show every request",
        ),
    ]

    def __init__(self, ctx: ScreenContext, store: RequestStore) -> None:
        super().__init__()
        self.ctx = ctx
        self.store = store
        self._save_filter: Timer | None = None

    def compose(self) -> ComposeResult:
        yield StatusBar(self.ctx, id="status")
        yield ConnectBar(self.ctx, id="connect")
        yield Static(id="notice")
        yield FilterBar(id="filters")
        with Container(id="body"):
            with Vertical(id="log-pane"):
                yield Static(id="log-empty", classes="hint")
                yield RequestLog(self.store, id="requests")
            yield AnswerView(self.ctx.backend.bodies_recorded, id="answer")
        # The palette hint is in the help (ctrl+p); the view keys are what this screen offers.
        yield FittingFooter(show_command_palette=False)

    def on_mount(self) -> None:
        """Subscribe to frames and status; the filters start hidden."""
        self.ctx.frames.subscribe(self, self.apply_frame, immediate=True)
        # The proxy's state was (re)fetched: at start and each time an attached app connects.
        self.ctx.resync.subscribe(self, lambda _: self.backfill())
        if self.ctx.backend.link.generation:
            self.backfill()  # the first fetch was published before this screen was mounted
        self.ctx.status.subscribe(self, self.show_notice)
        self.show_notice(self.ctx.current_status())
        self.query_one("#filters").display = False
        self._restore_filter()
        self.query_one(RequestLog).focus()
        self.show_empty()

    @work(exclusive=True, group="backfill", exit_on_error=False)
    async def backfill(self) -> None:
        """Put the store's newest requests, from before the live events began, among the live
        ones, up to the log's bound."""
        # A request started once the events flow arrives as events, with its answer text (the
        # store row has none without RECORD_BODIES); after lost events, everything until now.
        asked = self.ctx.backend.link.live_since or time.time()
        rows = await self.ctx.backend.recent_requests(self.store.limit)
        older = [row for row in rows if float(row.get("started_at") or 0.0) < asked]
        if self.store.backfill(older):
            log = self.query_one(RequestLog)
            selected = log.selected_id
            log.reload()
            if selected is not None and log.row_count:
                log.move_cursor(row=log.get_row_index(selected), animate=False)
            self.show_empty()

    def show_empty(self) -> None:
        """A hint where the log has no rows: nothing yet, or nothing that passes the filter."""
        log = self.query_one(RequestLog)
        hint = self.query_one("#log-empty", Static)
        text: Content | None = None
        if log.row_count == 0:
            text = empty_hint(len(self.store), log.filter, self.ctx.current_status())
        hint.display = text is not None
        if text is not None:
            hint.update(text)

    def _restore_filter(self) -> None:
        """The filter the user left last time, bar shown, so a filtered log never looks empty."""
        model, status = self.ctx.saved_filter
        if status not in {value for _, value in STATUS_OPTIONS}:
            status = "all"
        if not model.strip() and status == "all":
            return
        self.query_one("#filter-model", Input).value = model
        self.query_one("#filter-status", Select).value = status
        self.query_one(FilterBar).display = True
        self.query_one(RequestLog).set_filter(LogFilter(model, status))

    def show_notice(self, status: Status) -> None:
        """A line under the header when something needs the user: port taken, no key at all."""
        if status.attached:
            self.set_notice(*attached_notice(status))
        elif status.state == ERROR:
            self.set_notice(
                Content.assemble(
                    ("The proxy is not running. ", "bold"),
                    "Press q to quit, then start it again with another --port (or stop the other one).",
                ),
                error=True,
            )
        elif status.state == STARTING:
            self.set_notice(Content.assemble(("Starting the proxy… ", "bold"), "binding the port"))
        elif status.no_provider_key:
            self.set_notice(
                Content.assemble(
                    ("No provider key configured. ", "bold"),
                    "Press ",
                    ("k", "bold"),
                    " to enter one (saved to .env, mode 0600).",
                )
            )
        else:
            self.set_notice(None)

    def on_resize(self) -> None:
        """Side by side in a large terminal, stacked in a small one."""
        self.query_one("#body").set_class(self.size.width >= WIDE, "-wide")

    def apply_frame(self, frame: Frame) -> None:
        """Apply one frame of events (called inside the app's batch update)."""
        log = self.query_one(RequestLog)
        before = log.selected_id
        empty = log.row_count == 0
        log.apply(frame)
        if empty or log.row_count == 0:
            self.show_empty()
        answer = self.query_one(AnswerView)
        selected = log.selected_id
        if selected != before or (answer.record is None and selected):
            # Following the newest row; RowHighlighted would also arrive, one message later.
            answer.show(self.store.get(selected) if selected else None)
        elif answer.record is not None:
            record = frame.changed.get(answer.record.request_id)
            if record is not None:
                answer.feed(record, frame.new_text.get(record.request_id))

    def set_notice(self, content: Content | str | None, error: bool = False) -> None:
        """A one-line notice under the header (first run, port in use); None hides it."""
        notice = self.query_one("#notice", Static)
        notice.display = content is not None
        notice.set_class(error, "-error")
        if content is not None:
            notice.update(content)

    @on(DataTable.RowHighlighted, "#requests")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        request_id = event.row_key.value
        answer = self.query_one(AnswerView)
        record = self.store.get(str(request_id)) if request_id is not None else None
        if record is not answer.record:
            answer.show(record)

    @on(DataTable.RowSelected, "#requests")
    def _selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.ctx.open_detail(str(event.row_key.value))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Failures of this screen's workers go to the app's one handler."""
        forward_worker_state(self, event)

    def action_toggle_filter(self) -> None:
        """Show the filter bar and focus it, or hide it."""
        bar = self.query_one(FilterBar)
        bar.display = not bar.display
        if bar.display:
            self.query_one("#filter-model", Input).focus()
        else:
            self.action_close_filter()

    def action_close_filter(self) -> None:
        """Hide the filters and show every request again."""
        bar = self.query_one(FilterBar)
        bar.display = False
        self.query_one("#filter-model", Input).value = ""
        self.query_one("#filter-status", Select).value = "all"
        log = self.query_one(RequestLog)
        log.set_filter(LogFilter())
        log.focus()
        self.show_empty()

    @on(Input.Changed, "#filter-model")
    @on(Select.Changed, "#filter-status")
    def _filter_changed(self) -> None:
        current = self.query_one(FilterBar).current()
        self.query_one(RequestLog).set_filter(current)
        self.show_empty()
        # Kept for the next start once typing pauses (one small write, not one per key).
        if self._save_filter is not None:
            self._save_filter.stop()
        self._save_filter = self.set_timer(
            0.4, lambda: self.ctx.remember_filter(current.model, current.status)
        )

    @on(Input.Submitted, "#filter-model")
    def _filter_done(self) -> None:
        self.query_one(RequestLog).focus()
