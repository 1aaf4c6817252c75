"""The debug log: the same entries as /debug_logs, filterable by type, tailed while shown."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from textwrap import indent
from typing import Any

import orjson
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import RichLog, Select

from proxy.core.atomic import write_private
from proxy.state.debug_log import LOG_TYPES
from screens.base import ViewScreen
from screens.context import ScreenContext
from screens.dialogs import PromptScreen

TYPE_STYLE = {"error": "bold red", "switch": "bold", "model_mapping": "cyan"}
POLL_SECONDS = 1.0
FETCH = 500
"""Entries asked for at a time: the newest ones."""


def local_stamp(iso: str) -> str:
    """The entry's UTC ISO time as local HH:MM:SS.mmm (like every other clock on screen)."""
    try:
        moment = datetime.fromisoformat(iso).astimezone()
    except ValueError:
        return iso[11:23]
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


NARROW = 100
"""Below this many cells a request id shows as its last characters (the summary needs the room)."""


def render_entry(entry: dict[str, Any], verbose: bool, narrow: bool = False) -> Text:
    """`12:00:01.123 request req_… summary` (+ details when verbose)."""
    stamp = local_stamp(str(entry.get("time", "")))
    kind = str(entry.get("type", ""))
    request_id = str(entry.get("request_id") or "")
    if narrow:
        request_id = f"…{request_id[-7:]}" if len(request_id) > 8 else request_id
    text = Text.assemble(
        (stamp, "dim"),
        " ",
        (f"{kind:<13}", TYPE_STYLE.get(kind, "")),
        (f" {request_id:<{8 if narrow else 20}} ", "dim"),
        str(entry.get("summary", "")),
    )
    if verbose and entry.get("details"):
        details = orjson.dumps(entry["details"], option=orjson.OPT_INDENT_2, default=str).decode()
        text.append("\n" + indent(details, "    "), style="dim")
    return text


def write_bytes(path: Path, data: bytes) -> Path:
    """Write an export (folder created, 0600, atomic, never via a symlink); runs in a thread."""
    return write_private(path, data)


class DebugScreen(ViewScreen):
    """Entries newest last; new ones are appended as they arrive."""

    HELP_KEYS = (("Tab", "Type filter", "to the type list and back to the log"),)
    TITLE_TEXT = "Debug log · filter by type · v details · x export (jsonl, keys masked)"
    BINDINGS = [
        Binding("v", "verbose", "Details", id="debug.verbose", tooltip="Show each entry's details"),
        Binding(
            "x",
            "export",
            "Export",
            id="debug.export",
            tooltip="Write the whole debug log to a JSON lines file (keys masked)",
        ),
    ]

    def __init__(self, ctx: ScreenContext) -> None:
        super().__init__(ctx)
        self.log_type = "all"
        self.verbose = False
        self.last_id = -1
        self.width = 0

    def compose_body(self) -> ComposeResult:
        options = [("all types", "all"), *((t, t) for t in LOG_TYPES)]
        yield Select(options, value="all", allow_blank=False, id="debug-type")
        yield RichLog(id="debug-log", wrap=True, max_lines=5000, auto_scroll=True, min_width=20)

    def on_mount(self) -> None:
        """First page now, then tail."""
        self.query_one(RichLog).focus()
        self.reload()
        self.every(POLL_SECONDS, self.tail)

    def reopen(self) -> None:
        """Shown again: every type, short lines, the newest entries (as a fresh open)."""
        log = self.query_one(RichLog)
        log.focus()
        select = self.query_one("#debug-type", Select)
        if self.log_type != "all" or self.verbose:
            self.verbose = False
            self.log_type = "all"
            with select.prevent(Select.Changed):
                select.value = "all"
            self.reload()
        else:
            self.tail()
        log.scroll_end(animate=False)

    def on_resize(self) -> None:
        """Lines are wrapped when written: write them again at the new width (all of it)."""
        self.call_after_refresh(self._rewrap)

    def _rewrap(self) -> None:
        width = self.query_one(RichLog).size.width
        if width and width != self.width:
            first = not self.width
            self.width = width
            if not first:
                self.reload()

    def reload(self) -> None:
        """Start over (type, verbosity or width changed)."""
        self.query_one(RichLog).clear()
        self.last_id = -1
        self.tail()

    @work(exclusive=True, group="debug", exit_on_error=False)
    async def tail(self) -> None:
        """Append the entries newer than the last one shown."""
        entries = await self.backend.debug_entries(self.log_type, FETCH)
        log = self.query_one(RichLog)
        if (
            len(entries) >= FETCH
            and self.last_id >= 0
            and int(entries[0].get("id", 0)) > self.last_id
        ):
            # More arrived than one fetch holds (the view was closed a while): start from these,
            # as a fresh open does, rather than leave a silent gap.
            log.clear()
        # The log's own width, not the console's (which a headless or resized run may not track).
        width = log.scrollable_content_region.width or None
        for entry in entries:
            if int(entry.get("id", 0)) > self.last_id:
                narrow = width is not None and width < NARROW
                log.write(render_entry(entry, self.verbose, narrow), width=width)
                self.last_id = int(entry.get("id", 0))

    @on(Select.Changed, "#debug-type")
    def _type(self, event: Select.Changed) -> None:
        self.log_type = str(event.value)
        self.reload()

    def action_verbose(self) -> None:
        """Toggle the details line."""
        self.verbose = not self.verbose
        self.reload()

    def action_export(self) -> None:
        """Ask for a file (here, on this machine), then write the export there."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.app.push_screen(
            PromptScreen(
                "Export the debug log",
                "File (JSON lines: one entry a line)",
                f"logs/claude-proxy-debug-{stamp}.jsonl",
                hint="Every entry the proxy holds, all types, keys masked.",
            ),
            self._export_to,
        )

    def _export_to(self, path: str | None) -> None:
        if path:
            self.export(Path(path))

    @work(exclusive=True, group="debug-export", exit_on_error=False)
    async def export(self, path: Path) -> None:
        """Fetch the jsonl from the backend, write it in a thread, say where."""
        data = await self.backend.debug_export()
        written = await asyncio.to_thread(write_bytes, path, data)
        entries = data.count(b"\n")
        self.notify(f"{entries} entries written to {written}", title="debug log exported")
