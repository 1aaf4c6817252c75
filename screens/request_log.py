"""The live request log: one DataTable row per request id, cells updated in place."""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.widgets.data_table import ColumnKey

from app.client import formatting as fmt
from app.client.backend import PROBE_SESSION
from app.client.bridge import Frame
from app.client.requests import ERROR, LIVE, RequestRecord, RequestStore
from screens.live_table import LiveTable

LABELS = {
    "time": "started",
    "session": "session",
    "model": "requested → model",
    "status": "st",
    "ttft": "ttft",
    "tokens": "in/out",
    "dur": "total",
    "cost": "cost",
    "answer": "answer / error",
}
FIXED = {"time": 8, "status": 4, "tokens": 9, "dur": 5, "cost": 8}
PAD = 2  # DataTable's cell padding, both sides
SCROLLBAR = 1
MODEL_MIN = 26
"""Enough for 'haiku-4-5 → gpt-4.1-mini': the model column is what the log is read for."""


def layout(width: int) -> dict[str, int]:
    """Column widths that fit `width` cells (no horizontal scrolling at 80 columns).

    The model column gets its readable width first; then, as room allows, the ttft column,
    the whole session id prefix, and the answer preview.
    """
    widths = {**FIXED, "session": 4}
    room = width - SCROLLBAR - PAD * (len(widths) + 1) - sum(widths.values())
    if room >= MODEL_MIN + 5 + PAD:
        widths["ttft"] = 5
        room -= 5 + PAD
    if room >= MODEL_MIN + 4:
        widths["session"] = 8
        room -= 4
    widths["model"] = max(min(room, 34), 14)
    leftover = room - widths["model"]
    if leftover >= 12 + PAD:
        widths["answer"] = leftover - PAD
    return widths


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Which rows the log shows: a model substring and a status (all / ok / error / live)."""

    model: str = ""
    status: str = "all"

    def matches(self, record: RequestRecord) -> bool:
        """True when the record passes both conditions."""
        if self.status != "all" and record.status != self.status:
            return False
        needle = self.model.strip().lower()
        return not needle or needle in record.model.lower() or needle in record.requested.lower()


def model_cell(record: RequestRecord, compact: bool = False) -> str:
    """'sonnet-4-5 → gpt-4.1', or just the model for direct requests (replays, probes)."""
    target = fmt.bare_model(record.model)
    if record.tier == "direct":
        return target
    arrow = "→" if compact else " → "
    return f"{fmt.short_model(record.requested)}{arrow}{target}"


def preview(record: RequestRecord, limit: int = 200) -> str:
    """One line of the answer: its text, then its tool calls (`→ Bash(command="ls")`)."""
    content = (record.message or {}).get("content")
    text = record.text if record.chunks else fmt.content_text(content)
    if record.chunks:
        text = " ".join([text, *(f"→ {call}" for call in fmt.tool_calls(content))])
    return " ".join(text.split("\n")).strip()[:limit]


class RequestLog(LiveTable):
    """Rows keyed by request id; a frame updates only the cells that changed."""

    BINDINGS = [
        Binding(
            "enter",
            "select_cursor",
            "Detail",
            show=False,
            id="log.detail",
            tooltip="Open the request",
        ),
        Binding(
            "end",
            "follow",
            "Follow",
            show=False,
            id="log.follow",
            tooltip="Jump to the newest request",
        ),
    ]

    def __init__(self, store: RequestStore, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.store = store
        self.filter = LogFilter()
        self.compact = True
        self._rendered: dict[str, dict[str, object]] = {}

    def on_mount(self) -> None:
        """Create the columns with fixed widths (stable layout, no reflow per update)."""
        self._columns_for(layout(self.size.width or 80))
        self.reload()
        # Published once the new theme's variables are in place (a watch on `theme` is too early).
        self.app.theme_changed_signal.subscribe(self, lambda _: self._restyle())

    def _columns_for(self, widths: dict[str, int]) -> None:
        self.compact = widths["model"] < MODEL_MIN
        for key, label in LABELS.items():
            if key in widths:
                self.add_column(label, width=widths[key], key=key)

    def on_resize(self) -> None:
        """Refit the columns; when the set of columns changes, rebuild them (rare: a resize
        across a threshold), otherwise only the widths change (rows are kept, not rebuilt)."""
        widths = layout(self.size.width)
        if set(widths) != {str(key.value) for key in self.columns}:
            selected = self.selected_id
            self.clear(columns=True)
            self._columns_for(widths)
            self.reload()
            if selected in self._rendered:
                self.move_cursor(row=self.get_row_index(selected), animate=False)
            return
        compact = widths["model"] < MODEL_MIN
        if compact != self.compact:
            self.compact = compact
            self._restyle()
        for key, width in widths.items():
            self.columns[ColumnKey(key)].width = width
        # Width changes need DataTable's render caches dropped (there is no public call for it).
        self._clear_caches()
        self._require_update_dimensions = True
        self.refresh()

    def _styles(self) -> tuple[Style, Style, Style]:
        variables = self.app.theme_variables
        return (
            Style(color=variables.get("text-error")),
            Style(color=variables.get("text-success")),
            Style(color=variables.get("text-warning")),
        )

    def row_cells(self, record: RequestRecord) -> dict[str, object]:
        """The displayed values of one record."""
        error_style, ok_style, live_style = self._styles()
        if record.status == LIVE:
            status: Text = Text("live", style=live_style)
        elif record.status == ERROR:
            status = Text(str(record.http_status or "err"), style=error_style)
        else:
            status = Text(str(record.http_status or 200), style=ok_style)
        if record.tool_repairs:
            # The proxy recovered or repaired a tool call here (error colour: one was refused).
            failed = any(not repair.get("ok") for repair in record.tool_repairs)
            status.append("*", style=error_style if failed else live_style)
        if record.status == ERROR:
            note: object = Text(record.error or "error", style=error_style, no_wrap=True)
        else:
            note = Text(preview(record), no_wrap=True)
        tokens = "-"
        if record.input_tokens is not None or record.output_tokens is not None:
            tokens = (
                f"{fmt.tokens_short(record.input_tokens)}/{fmt.tokens_short(record.output_tokens)}"
            )
        return {
            "time": fmt.clock(record.started),
            # The config test's probes: "test" (as its key says), not "prob" cut from "probe".
            "session": Text("test", style="dim")
            if record.session_id == PROBE_SESSION
            else Text(fmt.short_session(record.session_id)),
            "model": Text(model_cell(record, self.compact), no_wrap=True),
            "status": status,
            "ttft": fmt.seconds(record.ttft),
            "tokens": tokens,
            "dur": fmt.seconds(record.latency) if record.latency is not None else "…",
            "cost": fmt.cost(record.cost) if record.status != LIVE else "",
            "answer": note,
        }

    def _values(self, cells: dict[str, object]) -> list[object]:
        return [cells[str(column.key.value)] for column in self.ordered_columns]

    def _add(self, record: RequestRecord) -> None:
        cells = self.row_cells(record)
        self.add_row(*self._values(cells), key=record.request_id)
        self._rendered[record.request_id] = cells

    def reload(self) -> None:
        """Show the records that pass the filter (only on a filter change, never per event)."""
        self.clear()
        self._rendered.clear()
        for record in self.store:
            if self.filter.matches(record):
                self._add(record)
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)

    def set_filter(self, log_filter: LogFilter) -> None:
        """Apply a new filter."""
        if log_filter != self.filter:
            self.filter = log_filter
            self.reload()

    def apply(self, frame: Frame) -> None:
        """Add new rows and update the changed cells of existing ones."""
        following = self.row_count == 0 or self.cursor_row >= self.row_count - 1
        gone = [rid for rid in frame.evicted if self._rendered.pop(rid, None) is not None]
        added = False
        for request_id, record in frame.changed.items():
            shown = request_id in self._rendered
            if not self.filter.matches(record):
                if shown:
                    self._rendered.pop(request_id)
                    gone.append(request_id)
                continue
            if not shown:
                self._add(record)
                added = True
                continue
            old = self._rendered[request_id]
            cells = self.row_cells(record)
            changed = {key: value for key, value in cells.items() if old[key] != value}
            if changed:
                # Only this row repaints (DataTable.update_cell would repaint the whole table).
                self.set_cells(request_id, {k: v for k, v in changed.items() if k in self.columns})
            self._rendered[request_id] = cells
        if gone:
            self._remove(gone, following)
        if added and following:
            self.action_follow()
            # New rows only count toward the scrollable size after the next refresh.
            self.call_after_refresh(self.scroll_to_cursor)

    def _remove(self, request_ids: list[str], following: bool) -> None:
        """Remove rows at once; a reader away from the end keeps the same request in view."""
        selected = None if following else self.selected_id
        top = round(self.scroll_y)
        above = sum(1 for rid in request_ids if self.get_row_index(rid) < top)
        self.remove_rows(request_ids)
        if selected is None or selected not in self._rendered:
            return
        self.move_cursor(row=self.get_row_index(selected), scroll=False)
        if above:
            self.scroll_to(y=top - above, animate=False)

    def _restyle(self) -> None:
        for request_id in list(self._rendered):
            record = self.store.get(request_id)
            if record is not None:
                cells = self.row_cells(record)
                for column in self.ordered_columns:
                    self.update_cell(request_id, column.key, cells[str(column.key.value)])
                self._rendered[request_id] = cells

    def scroll_to_cursor(self) -> None:
        """Bring the cursor row into view."""
        if self.row_count:
            self._scroll_cursor_into_view(animate=False)

    def action_follow(self) -> None:
        """Move the cursor to the newest row."""
        if self.row_count:
            self.move_cursor(row=self.row_count - 1, animate=False)

    @property
    def selected_id(self) -> str | None:
        """Request id under the cursor."""
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:
            return None
        return str(key.value) if key.value is not None else None
