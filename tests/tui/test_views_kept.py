"""Views are built once and shown again: the same screen comes back up to date (in-process and
attached), the screens out of sight do no per-frame work and catch up when shown, a request read
back from the store says why its answer is missing, and Escape is acted on once ESCDELAY passed.

Timing is not asserted here: `uv run python -m bench --only tui_tmux` measures the keys."""

from __future__ import annotations

import asyncio
import os
import queue
import threading
from pathlib import Path
from typing import Any

import anthropic
import pytest
from textual import constants, events
from textual.message import Message
from textual.widgets import Input, Static

import app.ui.escape_driver as escape_driver
from app.client.requests import OK, stored_hint
from app.ui.escape_driver import ESCDELAY_MS, PromptEscapeDriver, escape_delay
from screens.answer_view import AnswerView
from screens.detail import DetailScreen
from screens.history import PAGE, HistoryScreen
from screens.main import MainScreen
from screens.request_log import RequestLog
from screens.stats import StatsScreen
from screens.status_bar import StatusBar, render_status
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.history_data import seed_turns
from tests.support.tui_support import (
    TuiFactory,
    build_app,
    isolated_tui,
    make_tui,
    ready,
    start_headless,
    tui_mode,
    tui_settings,
    wait_for,
)

__all__ = ["isolated_tui", "make_tui", "tui_mode"]


async def ask(url: str, text: str = "hi") -> None:
    """One non-streaming request through the proxy at `url`."""
    async with anthropic.AsyncAnthropic(base_url=url, api_key="dummy", max_retries=0) as sdk:
        await sdk.messages.create(
            model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": text}]
        )


async def test_a_view_shown_again_is_the_same_screen_with_fresh_numbers(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory
) -> None:
    upstream.script.append(Reply(text="ok", prompt_tokens=7, completion_tokens=2))
    async with make_tui(upstream, tmp_path).run_test(size=(120, 30)) as pilot:
        app = await ready(pilot)
        await pilot.press("s")
        stats = await wait_for(lambda: isinstance(app.screen, StatsScreen) and app.screen)
        assert "openai/gpt-4.1" not in stats.query_one("#stats").rows
        await pilot.press("escape")
        await wait_for(lambda: isinstance(app.screen, MainScreen), pilot=pilot)
        await ask(app.backend.url)
        await wait_for(lambda: app.status.requests == 1, pilot=pilot)

        await pilot.press("s")
        await wait_for(lambda: app.screen is stats, pilot=pilot)
        table = stats.query_one("#stats")
        await wait_for(lambda: any("gpt-4.1" in str(key.value) for key in table.rows), pilot=pilot)
        # Its timer runs while it is shown and stops when it is not.
        assert stats.timers and all(timer._active.is_set() for timer in stats.timers)
        await pilot.press("escape")
        await wait_for(lambda: isinstance(app.screen, MainScreen), pilot=pilot)
        assert not any(timer._active.is_set() for timer in stats.timers)


async def test_the_log_s_header_catches_up_after_a_view(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory
) -> None:
    upstream.script.append(Reply(text="ok", prompt_tokens=7, completion_tokens=2))
    async with make_tui(upstream, tmp_path).run_test(size=(120, 30)) as pilot:
        app = await ready(pilot)
        bar = app.main_screen.query_one(StatusBar)
        await pilot.press("s")
        await wait_for(lambda: isinstance(app.screen, StatsScreen), pilot=pilot)
        await ask(app.backend.url)
        await wait_for(lambda: app.status.requests == 1, pilot=pilot)
        await pilot.pause(0.1)
        # Out of sight, the log's header was not drawn for each new status ...
        assert bar._stale
        await pilot.press("escape")
        await wait_for(lambda: isinstance(app.screen, MainScreen), pilot=pilot)
        # ... and shows the latest one as soon as the log is back.
        assert not bar._stale
        expected = render_status(app.status, bar.content_size.width).plain
        assert bar.render().plain == expected  # type: ignore[union-attr]


async def test_history_shown_again_starts_over_without_the_search(
    tmp_path: Path, make_tui: TuiFactory
) -> None:
    seed_turns(tmp_path / "claude-proxy.db", 2 * PAGE)
    async with make_tui(None, tmp_path).run_test(size=(120, 40)) as pilot:
        app = await ready(pilot)
        await pilot.press("h")
        history = await wait_for(lambda: isinstance(app.screen, HistoryScreen) and app.screen)
        status = history.query_one("#history-status")
        await wait_for(lambda: f"{PAGE} of {2 * PAGE} turns" in str(status.render()), pilot=pilot)
        newest = history.turns[0]
        await pilot.press("slash", *"item7", "enter")
        await wait_for(lambda: "found for 'item7'" in str(status.render()), pilot=pilot)
        await pilot.press("escape", "escape")
        await wait_for(lambda: isinstance(app.screen, MainScreen), pilot=pilot)

        await pilot.press("h")
        await wait_for(lambda: app.screen is history and history.page_shown, pilot=pilot)
        assert history.text == "" and history.query_one("#history-search", Input).value == ""
        assert str(status.render()).startswith(f"{PAGE} of {2 * PAGE} turns")
        assert history.turns[0] == newest


async def test_a_request_from_before_the_restart_says_why_it_has_no_answer(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory, tui_mode: str
) -> None:
    upstream.script.append(Reply(text="answer before", prompt_tokens=10, completion_tokens=3))
    before = await asyncio.to_thread(start_headless, tui_settings(upstream, tmp_path))
    try:
        await ask(before.server.url, "question")
    finally:
        await asyncio.to_thread(before.stop)

    async with make_tui(upstream, tmp_path).run_test(size=(120, 30)) as pilot:
        app = await ready(pilot)
        log = app.main_screen.query_one(RequestLog)
        await wait_for(lambda: log.row_count == 1, pilot=pilot)
        record = next(iter(app.store))
        assert record.stored
        answer = app.main_screen.query_one(AnswerView)
        await wait_for(lambda: answer.record is record, pilot=pilot)
        hint = answer.query_one("#answer-stored", Static)
        assert hint.display
        # In-process the app knows RECORD_BODIES is off; attached it cannot tell.
        expected = stored_hint(False if tui_mode == "local" else None)
        assert str(hint.render()) == expected and "RECORD_BODIES=true" in expected

        await pilot.press("enter")
        detail = await wait_for(lambda: isinstance(app.screen, DetailScreen) and app.screen)
        assert expected in str(detail.query_one("#detail-stored", Static).render())


async def test_a_live_request_has_no_stored_hint(upstream: FakeUpstream, tmp_path: Path) -> None:
    # In-process only: an attached TUI may read a request that began while it connected from
    # the store (and then rightly shows the hint).
    upstream.script.append(Reply(text="fresh answer", prompt_tokens=10, completion_tokens=3))
    async with build_app(upstream, tmp_path).run_test(size=(120, 30)) as pilot:
        app = await ready(pilot)
        await ask(app.backend.url)
        answer = app.main_screen.query_one(AnswerView)
        await wait_for(
            lambda: answer.record is not None and answer.record.status == OK, pilot=pilot
        )
        assert answer.record is not None and not answer.record.stored
        assert not answer.query_one("#answer-stored").display


def test_escdelay_is_short_unless_the_user_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ESCDELAY", raising=False)
    assert escape_delay(os.environ) == ESCDELAY_MS / 1000 == 0.025
    monkeypatch.setattr(constants, "ESCAPE_DELAY", 0.3)
    assert escape_delay({"ESCDELAY": "300"}) == 0.3


class PipeDriver(PromptEscapeDriver):
    """The driver's input thread reading a pipe, its events collected (no terminal, no app)."""

    def __init__(self, fd: int) -> None:
        self.fileno = fd
        self._debug = False
        self.exit_event = threading.Event()
        self.events: queue.Queue[Message] = queue.Queue()

    def process_message(self, message: Message) -> None:
        """Collect what the parser produced."""
        self.events.put(message)


def next_key(driver: PipeDriver) -> str:
    """The next key the driver's thread produced (fails the test after 5 s)."""
    while True:
        event = driver.events.get(timeout=5)
        if isinstance(event, events.Key):
            return event.key


def test_a_lone_escape_comes_when_escdelay_ends_not_at_the_next_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Polls an hour apart: with Textual's own loop, a lone Escape would wait that long.
    monkeypatch.setattr(escape_driver, "POLL", 3600.0)
    monkeypatch.setattr(constants, "ESCAPE_DELAY", 0.01)
    read, write = os.pipe()
    driver = PipeDriver(read)
    thread = threading.Thread(target=driver.run_input_thread, daemon=True)
    thread.start()
    try:
        os.write(write, b"\x1b")
        assert next_key(driver) == "escape"
        # Sequences written whole are never mistaken for Escape.
        os.write(write, b"\x1b[A")
        assert next_key(driver) == "up"
        os.write(write, b"\x1bx")
        assert next_key(driver) in ("alt+x", "x")
        os.write(write, b"q")
        assert next_key(driver) == "q"
    finally:
        driver.exit_event.set()
        os.close(write)
        thread.join(timeout=5)
        os.close(read)
    assert not thread.is_alive()


def test_the_app_uses_the_prompt_escape_driver_on_linux(tmp_path: Path) -> None:
    app: Any = build_app(None, tmp_path)
    if os.name == "posix" and constants.DRIVER is None:
        assert app.driver_class is PromptEscapeDriver


async def test_debug_shown_again_after_many_entries_starts_from_the_newest(
    tmp_path: Path,
) -> None:
    from screens.debug import FETCH, DebugScreen

    app: Any = build_app(None, tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await ready(pilot)
        debug_log = app.backend.service.debug
        debug_log.add("error", "old entry")
        await pilot.press("d")
        debug = await wait_for(lambda: isinstance(app.screen, DebugScreen) and app.screen)
        await wait_for(lambda: debug.last_id >= 1, pilot=pilot)
        first = debug.last_id
        await pilot.press("escape")
        await wait_for(lambda: isinstance(app.screen, MainScreen), pilot=pilot)
        for n in range(FETCH + 100):
            debug_log.add("error", f"entry {n}")
        await pilot.press("d")
        await wait_for(lambda: app.screen is debug and debug.last_id > first + FETCH, pilot=pilot)
        text = "\n".join(line.text for line in debug.query_one("#debug-log").lines)
        # Not the old entry with a silent gap after it: the newest FETCH, as a fresh open shows.
        assert "old entry" not in text and f"entry {FETCH + 99}" in text
