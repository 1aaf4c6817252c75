"""Conversation history by session: clear, export to a file, toggle persistence."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import OptionList, RichLog, Static
from textual.widgets.option_list import Option

from app.client import formatting as fmt
from proxy.core.atomic import write_private
from screens.base import ViewScreen
from screens.context import ScreenContext
from screens.dialogs import ConfirmScreen, PromptScreen

ALL = "__all__"
DEFAULT_PERSIST_FILE = "conversations/history.json"


def local_time(stamp: str) -> str:
    """An ISO timestamp from the history as local HH:MM:SS."""
    try:
        return fmt.clock(datetime.fromisoformat(stamp).timestamp())
    except (TypeError, ValueError):
        return str(stamp)[:8]


def render_turn(message: dict[str, Any]) -> Group:
    """One recorded turn: who, when, which model, then the text."""
    role = str(message.get("role", ""))
    head = Text.assemble(
        (local_time(str(message.get("timestamp", ""))), "dim"),
        " ",
        (role, "bold"),
        (f"  {message.get('model_used') or ''}", "dim") if role == "assistant" else "",
        (f"  session {fmt.short_session(message.get('session_id'))}", "dim"),
    )
    return Group(head, Text(str(message.get("content", "")), overflow="fold"), Text(""))


def write_text(path: Path, text: str) -> Path:
    """Write an export (folder created, 0600, atomic, never via a symlink); runs in a thread."""
    return write_private(path, text.encode("utf-8"))


class HistoryScreen(ViewScreen):
    """Sessions on the left, the selected session's turns on the right."""

    HELP_KEYS = (
        ("Tab", "Sessions/turns", "move between the session list and the turns"),
        ("Enter", "Session", "show the highlighted session's turns"),
    )
    TITLE_TEXT = "History · Tab sessions/turns · x export · c clear · p persistence · r reload"
    BINDINGS = [
        Binding("x", "export", "Export", id="history.export", tooltip="Export to JSON or Markdown"),
        Binding("c", "clear", "Clear", id="history.clear", tooltip="Forget every recorded turn"),
        Binding(
            "p", "persistence", "Persist", id="history.persist", tooltip="Toggle saving to a file"
        ),
        Binding("r", "reload", "Reload", id="history.reload", tooltip="Fetch the history again"),
    ]

    def __init__(self, ctx: ScreenContext) -> None:
        super().__init__(ctx)
        self.session: str | None = None
        self.persisting = False
        self.width = 0

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="history-body"):
            yield OptionList(id="sessions")
            yield RichLog(
                id="turns",
                wrap=True,
                markup=False,
                auto_scroll=True,
                max_lines=20_000,
                min_width=20,
            )
        yield Static(id="history-status", classes="hint")

    def on_mount(self) -> None:
        """Load sessions and turns."""
        self.query_one("#sessions").border_title = "sessions"
        self.query_one("#turns").border_title = "turns"
        self.query_one(RichLog).focus()
        self.ctx.resync.subscribe(self, lambda _: self.load())
        self.action_reload()

    def on_resize(self) -> None:
        """Turns are wrapped when written: write them again at the new width."""
        self.call_after_refresh(self._rewrap)

    def _rewrap(self) -> None:
        width = self.query_one(RichLog).size.width
        if width and width != self.width:
            first = not self.width
            self.width = width
            if not first:
                self.load()

    def action_reload(self) -> None:
        """Fetch sessions, status and the selected session's turns."""
        self.load()

    @work(exclusive=True, group="history", exit_on_error=False)
    async def load(self) -> None:
        """Read the history on the proxy loop and show it."""
        sessions, status, messages = await asyncio.gather(
            self.backend.sessions(),
            self.backend.history_status(),
            self.backend.history(self.session),
        )
        options = self.query_one("#sessions", OptionList)
        options.clear_options()
        options.add_option(Option("all sessions", id=ALL))
        for session in sessions:
            options.add_option(Option(fmt.short_session(session), id=session))
        index = 0
        if self.session is not None and self.session in sessions:
            index = options.get_option_index(self.session)
        options.highlighted = index
        log = self.query_one(RichLog)
        log.clear()
        width = log.scrollable_content_region.width or None
        for message in messages:
            log.write(render_turn(message), width=width)
        if not messages:
            log.write(Text("No turns recorded yet.", style="dim"))
        self.persisting = bool(status.get("enabled"))
        where = status.get("persistence_file") if self.persisting else "off"
        error = f" · last error: {status['last_error']}" if status.get("last_error") else ""
        self.query_one("#history-status", Static).update(
            f"{status.get('count', 0)} of {status.get('limit', '?')} messages · "
            f"{len(sessions)} sessions · persistence: {where}{error}"
        )

    @on(OptionList.OptionSelected, "#sessions")
    def _session(self, event: OptionList.OptionSelected) -> None:
        chosen = event.option.id
        self.session = None if chosen == ALL else chosen
        self.load()

    def action_clear(self) -> None:
        """Clear after a confirmation."""

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.clear()

        self.app.push_screen(ConfirmScreen("Clear the whole conversation history?"), confirmed)

    @work(exclusive=True, group="history-change", exit_on_error=False)
    async def clear(self) -> None:
        """Clear through the service."""
        await self.backend.clear_history()
        self.session = None
        self.notify("history cleared")
        self.load()

    def action_export(self) -> None:
        """Ask for a file; its suffix picks the format (.md Markdown, else JSON)."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.app.push_screen(
            PromptScreen(
                "Export history",
                "File (.json or .md)",
                f"conversations/history-{stamp}.json",
                hint="JSON can be imported again; Markdown is for reading.",
            ),
            self._export_to,
        )

    def _export_to(self, path: str | None) -> None:
        if path:
            self.export(Path(path))

    @work(exclusive=True, group="history-export", exit_on_error=False)
    async def export(self, path: Path) -> None:
        """Render on the proxy loop, write in a thread."""
        fmt_name = "markdown" if path.suffix.lower() in (".md", ".markdown") else "json"
        text = await self.backend.export_history(fmt_name)
        written = await asyncio.to_thread(write_text, path, text)
        self.notify(f"{fmt_name} export written to {written}", title="exported")

    def action_persistence(self) -> None:
        """Turn persistence off, or ask for the file and turn it on."""
        if self.persisting:
            self.set_persistence(None)
            return
        self.app.push_screen(
            PromptScreen(
                "Persist history",
                "JSON file (loaded now if it exists, then kept up to date)",
                DEFAULT_PERSIST_FILE,
                hint="A path on the machine where the attached proxy runs."
                if self.backend.attached
                else "",
            ),
            self._persist_to,
        )

    def _persist_to(self, path: str | None) -> None:
        if path:
            self.set_persistence(path)

    @work(exclusive=True, group="history-change", exit_on_error=False)
    async def set_persistence(self, path: str | None) -> None:
        """Enable (with a file) or disable persistence through the service."""
        if path is None:
            await self.backend.disable_persistence()
            self.notify("history persistence off")
        else:
            status = await self.backend.enable_persistence(path)
            self.notify(f"history saved to {status.get('persistence_file')}")
        self.load()
