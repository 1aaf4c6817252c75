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
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, OptionList, RichLog, Static
from textual.widgets.option_list import Option

from app.client import formatting as fmt
from proxy.core.atomic import write_private
from screens.base import ViewScreen
from screens.context import ScreenContext
from screens.dialogs import ConfirmScreen, PromptScreen

ALL = "__all__"
PAGE = 50
"""Turns per page: one screenful at 160x48 and more, so the first page fills the view."""
NEAR_END = 3
"""Lines from the bottom at which the next page is asked for."""
DEFAULT_PERSIST_FILE = "conversations/history.json"


def local_time(stamp: str) -> str:
    """An ISO timestamp from the history as local HH:MM:SS."""
    try:
        return fmt.clock(datetime.fromisoformat(stamp).timestamp())
    except (TypeError, ValueError):
        return str(stamp)[:8]


def render_turn(message: dict[str, Any], words: str = "") -> Group:
    """One recorded turn: who, when, which model, then the text (search `words` highlighted)."""
    role = str(message.get("role", ""))
    head = Text.assemble(
        (local_time(str(message.get("timestamp", ""))), "dim"),
        " ",
        (role, "bold"),
        (f"  {message.get('model_used') or ''}", "dim") if role == "assistant" else "",
        (f"  session {fmt.short_session(message.get('session_id'))}", "dim"),
    )
    text = Text(str(message.get("content", "")), overflow="fold")
    for word in words.split():
        text.highlight_words([word.strip("*")], style="bold reverse", case_sensitive=False)
    return Group(head, text, Text(""))


def write_text(path: Path, text: str) -> Path:
    """Write an export (folder created, 0600, atomic, never via a symlink); runs in a thread."""
    return write_private(path, text.encode("utf-8"))


class TurnLog(RichLog):
    """The turns, newest first; asks for the next page when scrolled near its end."""

    class NearEnd(Message):
        """The reader reached the end of what is loaded."""

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        """Scrolling near the bottom asks for older turns."""
        super().watch_scroll_y(old_value, new_value)
        if new_value >= self.max_scroll_y - NEAR_END:
            self.post_message(self.NearEnd())


class HistoryScreen(ViewScreen):
    """Sessions on the left; on the right the turns newest first, a page at a time from the
    store (more as you scroll), or the turns a full-text search finds."""

    HELP_KEYS = (
        ("Tab", "Sessions/turns", "move between the session list, the search box and the turns"),
        ("Enter", "Session", "show the highlighted session's turns"),
        ("/", "Search", "search turn text (every word; `word*` for a prefix; empty: all turns)"),
        ("End", "Older", "the oldest loaded turns; scrolling to the end loads the next page"),
    )
    TITLE_TEXT = "History · / search · x export · c clear · p persistence · r reload"
    BINDINGS = [
        Binding("x", "export", "Export", id="history.export", tooltip="Export to JSON or Markdown"),
        Binding("c", "clear", "Clear", id="history.clear", tooltip="Forget every recorded turn"),
        Binding(
            "p", "persistence", "Persist", id="history.persist", tooltip="Toggle saving to a file"
        ),
        Binding("r", "reload", "Reload", id="history.reload", tooltip="Fetch the history again"),
        Binding("slash", "search", "Search", id="history.search", tooltip="Search turn text"),
    ]

    def __init__(self, ctx: ScreenContext) -> None:
        super().__init__(ctx)
        self.session: str | None = None
        self.text = ""
        """The search words ("" shows every turn of the session)."""
        self.persisting = False
        self.width = 0
        self.turns: list[dict[str, Any]] = []
        """Loaded so far, newest first."""
        self.next: str | None = None
        """Cursor of the next page (None once the oldest turn is loaded)."""
        self.view_id = 0
        """Bumped by each fresh load, so a page asked for before it is not appended after."""
        self.status: dict[str, Any] = {}
        self.fetching: str | None = None
        """The cursor of the page being fetched (scrolling asks once per page)."""
        self.session_count: int | None = None
        self.sessions: list[str] | None = None
        """The session ids the list shows."""
        self.written: tuple[str | None, str, int] | None = None
        """Session, search words and width the turns in the log were written for."""
        self.page_shown = False
        """The first page of this visit is on screen (a view shown again shows the last one
        until then)."""

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="history-body"):
            yield OptionList(id="sessions")
            with Vertical(id="turns-pane"):
                # `/` separates words for the full-text index, so the box refuses it: the key
                # that focuses the box is not typed into it.
                yield Input(
                    placeholder="search turn text (all sessions), Enter",
                    restrict=r"[^/]*",
                    id="history-search",
                )
                yield TurnLog(id="turns", wrap=True, markup=False, auto_scroll=False, min_width=20)
        yield Static(id="history-status", classes="hint")

    def on_mount(self) -> None:
        """Load sessions and the first page of turns."""
        self.query_one("#sessions").border_title = "sessions"
        self.query_one("#turns").border_title = "turns, newest first"
        self.query_one(TurnLog).focus()
        self.ctx.resync.subscribe(self, lambda _: self.load())
        self.action_reload()

    def reopen(self) -> None:
        """Shown again: every session, no search, the newest turns (as a fresh open); the log is
        rewritten only if they changed."""
        self.page_shown = False
        self.session = None
        self.text = ""
        if len(self.turns) > PAGE:
            self.written = None  # pages scrolled in last time: back to one, as a fresh open
        box = self.query_one("#history-search", Input)
        if box.value:
            with box.prevent(Input.Changed):
                box.value = ""
        self.query_one(TurnLog).focus()
        self.load()

    def on_resize(self) -> None:
        """Turns are wrapped when written: write them again at the new width."""
        self.call_after_refresh(self._rewrap)

    def _rewrap(self) -> None:
        width = self.query_one(TurnLog).size.width
        if width and width != self.width:
            first = not self.width
            self.width = width
            if not first:
                self._rewrite()

    def action_reload(self) -> None:
        """Fetch sessions, status and the first page again."""
        self.load()

    def action_search(self) -> None:
        """Focus the search box, its words selected (typing replaces them)."""
        box = self.query_one("#history-search", Input)
        box.focus()
        box.select_all()

    @on(Input.Submitted, "#history-search")
    def _search(self, event: Input.Submitted) -> None:
        self.text = event.value.strip()
        self.query_one(TurnLog).focus()
        self.load()

    @work(exclusive=True, group="history", exit_on_error=False)
    async def load(self) -> None:
        """The first page and the counts only (older turns come as the reader scrolls); the
        session list after it, so the turns show first."""
        self.view_id += 1
        self.fetching = None
        session = None if self.text else self.session
        status, page = await asyncio.gather(
            self.backend.history_status(),
            self.backend.history_page(PAGE, session=session, text=self.text or None),
        )
        turns = list(page.get("turns") or [])
        unchanged = (
            self.written == self._view_key()
            and status.get("count") == self.status.get("count")
            and turns == self.turns[: len(turns)]
            and (len(turns) == len(self.turns) or page.get("next") is not None)
        )
        self.status = status
        self.persisting = bool(status.get("enabled"))
        if unchanged:
            # The same newest turns (shown again, nothing new): keep the log and what was
            # loaded below them, from the top.
            self.query_one(TurnLog).scroll_home(animate=False)
            self._show_status()
        else:
            self.turns = turns
            self.next = page.get("next")
            self._rewrite()
        self.page_shown = True
        self.load_sessions()

    @work(exclusive=True, group="history-sessions", exit_on_error=False)
    async def load_sessions(self) -> None:
        """The session list (a walk over every stored turn: after the first page is shown)."""
        sessions = await self.backend.sessions()
        options = self.query_one("#sessions", OptionList)
        if sessions != self.sessions:
            self.sessions = sessions
            options.clear_options()
            options.add_options(
                [
                    Option("all sessions", id=ALL),
                    *(Option(fmt.short_session(session), id=session) for session in sessions),
                ]
            )
        index = 0
        if self.session is not None and self.session in sessions:
            index = options.get_option_index(self.session)
        options.highlighted = index
        self.session_count = len(sessions)
        self._show_status()

    @on(TurnLog.NearEnd)
    def _near_end(self) -> None:
        if self.next is not None and self.turns and self.fetching != self.next:
            self.fetching = self.next
            self.load_more(self.view_id, self.next)

    @work(exclusive=True, group="history-more", exit_on_error=False)
    async def load_more(self, view_id: int, cursor: str) -> None:
        """The page after `cursor`, appended (dropped if a fresh load came in between)."""
        page = await self.backend.history_page(
            PAGE, cursor, None if self.text else self.session, self.text or None
        )
        if view_id != self.view_id or cursor != self.next:
            return
        turns = list(page.get("turns") or [])
        self.turns.extend(turns)
        self.next = page.get("next")
        log = self.query_one(TurnLog)
        width = log.scrollable_content_region.width or None
        for turn in turns:
            log.write(render_turn(turn, self.text), width=width)
        self._show_status()

    def _view_key(self) -> tuple[str | None, str, int]:
        """What the log's turns depend on: the session, the search words, the width."""
        width = self.query_one(TurnLog).scrollable_content_region.width
        return (None if self.text else self.session, self.text, width)

    def _rewrite(self) -> None:
        log = self.query_one(TurnLog)
        log.clear()
        self.written = self._view_key()
        width = log.scrollable_content_region.width or None
        for turn in self.turns:
            log.write(render_turn(turn, self.text), width=width)
        if not self.turns:
            empty = (
                f"No turn has every word of {self.text!r}."
                if self.text
                else "No turns recorded yet."
            )
            log.write(Text(empty, style="dim"))
        log.scroll_home(animate=False)
        self._show_status()

    def _show_status(self) -> None:
        status = self.status
        where = status.get("persistence_file") if self.persisting else "off"
        error = f" · last error: {status['last_error']}" if status.get("last_error") else ""
        found = f" · found for {self.text!r}" if self.text else ""
        more = " · scroll for older" if self.next is not None else ""
        count = self.session_count
        sessions = "1 session" if count == 1 else f"{count} sessions" if count is not None else "…"
        self.query_one("#history-status", Static).update(
            f"{len(self.turns)} of {status.get('count', 0)} turns{found}{more} · "
            f"{sessions} · persistence: {where}{error}"
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

    @work(group="history-change", exit_on_error=False)
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

    @work(group="history-change", exit_on_error=False)
    async def set_persistence(self, path: str | None) -> None:
        """Enable (with a file) or disable persistence through the service."""
        if path is None:
            await self.backend.disable_persistence()
            self.notify("history persistence off")
        else:
            status = await self.backend.enable_persistence(path)
            self.notify(f"history saved to {status.get('persistence_file')}")
        self.load()
