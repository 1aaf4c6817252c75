"""The live request log: one DataTable row per request id, cells updated in place."""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from app import formatting as fmt
from app.bridge import Frame
from app.requests import ERROR, LIVE, RequestRecord, RequestStore

# (key, label, width); the model and answer columns are resized with the terminal.
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("time", "time", 8),
    ("session", "session", 8),
    ("model", "requested → model", 22),
    ("status", "st", 4),
    ("ttft", "ttft", 5),
    ("tokens", "in/out", 10),
    ("dur", "time", 6),
    ("cost", "cost", 8),
    ("answer", "answer / error", 30),
)
FIXED_WIDTH = sum(w + 2 for k, _, w in COLUMNS if k not in ("model", "answer"))


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


def model_cell(record: RequestRecord) -> str:
    """'sonnet-4-5 → gpt-4.1', or just the model for direct requests (replays, probes)."""
    target = fmt.bare_model(record.model)
    if record.tier == "direct":
        return target
    return f"{fmt.short_model(record.requested)} → {target}"


class RequestLog(DataTable[object]):
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
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)  # type: ignore[arg-type]
        self.store = store
        self.filter = LogFilter()
        self._rendered: dict[str, tuple[object, ...]] = {}
        self._keys: list[ColumnKey] = []

    def on_mount(self) -> None:
        """Create the columns with fixed widths (stable layout, no reflow per update)."""
        for key, label, width in COLUMNS:
            self._keys.append(self.add_column(label, width=width, key=key))
        self.reload()
        self.watch(self.app, "theme", lambda _: self._restyle(), init=False)

    def on_resize(self) -> None:
        """Give the model and answer columns what the fixed columns leave."""
        free = self.size.width - FIXED_WIDTH - 6
        model = min(max(free - 32, 22), 34)
        self.columns[self._keys[2]].width = model
        self.columns[self._keys[-1]].width = max(free - model, 12)
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

    def row_cells(self, record: RequestRecord) -> tuple[object, ...]:
        """The displayed values of one record."""
        error_style, ok_style, live_style = self._styles()
        if record.status == LIVE:
            status: object = Text("live", style=live_style)
        elif record.status == ERROR:
            status = Text(str(record.http_status or "err"), style=error_style)
        else:
            status = Text(str(record.http_status or 200), style=ok_style)
        if record.status == ERROR:
            note: object = Text(record.error or "error", style=error_style, no_wrap=True)
        else:
            preview = record.text or fmt.content_text((record.message or {}).get("content"))
            note = Text(preview.replace("\n", " ")[:200], no_wrap=True)
        tokens = "-"
        if record.input_tokens is not None or record.output_tokens is not None:
            tokens = f"{fmt.tokens(record.input_tokens)}/{fmt.tokens(record.output_tokens)}"
        return (
            fmt.clock(record.started),
            Text(fmt.short_session(record.session_id)),
            Text(model_cell(record), no_wrap=True),
            status,
            fmt.seconds(record.ttft),
            tokens,
            fmt.seconds(record.latency) if record.latency is not None else "…",
            fmt.cost(record.cost) if record.status != LIVE else "",
            note,
        )

    def _add(self, record: RequestRecord) -> None:
        cells = self.row_cells(record)
        self.add_row(*cells, key=record.request_id)
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
        for request_id in frame.evicted:
            if self._rendered.pop(request_id, None) is not None:
                self.remove_row(request_id)
        following = self.row_count == 0 or self.cursor_row >= self.row_count - 1
        added = False
        for request_id, record in frame.changed.items():
            shown = request_id in self._rendered
            if not self.filter.matches(record):
                if shown:
                    self._rendered.pop(request_id)
                    self.remove_row(request_id)
                continue
            if not shown:
                self._add(record)
                added = True
                continue
            old = self._rendered[request_id]
            cells = self.row_cells(record)
            for key, before, after in zip(self._keys, old, cells, strict=True):
                if before != after:
                    self.update_cell(request_id, key, after)
            self._rendered[request_id] = cells
        if added and following:
            self.action_follow()

    def _restyle(self) -> None:
        for request_id in list(self._rendered):
            record = self.store.get(request_id)
            if record is not None:
                cells = self.row_cells(record)
                for key, value in zip(self._keys, cells, strict=True):
                    self.update_cell(request_id, key, value)
                self._rendered[request_id] = cells

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
