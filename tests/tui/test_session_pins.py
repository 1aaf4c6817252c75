"""`/model provider/model` inside Claude Code: the request carries that id, the proxy passes it
through, and the header shows the session pinned to it until Claude Code asks for Claude again."""

from __future__ import annotations

from pathlib import Path

import anthropic

from app.client.requests import RequestRecord
from app.client.session_pins import SessionPin, SessionPins
from app.ui.proxy_app import ProxyApp
from screens.status_bar import StatusBar
from tests.support.fake_upstream import FakeUpstream
from tests.support.mgmt import call
from tests.support.tui_support import TuiFactory, isolated_tui, make_tui, ready, tui_mode, wait_for

__all__ = ["isolated_tui", "make_tui", "tui_mode"]

SESSION = "8f3ab5ca-d717-42ce-b277-8a91b7a8613b"


async def ask(app: ProxyApp, model: str, session: str = SESSION) -> None:
    """One request of a Claude Code session (its session header), as Claude Code sends it."""
    async with anthropic.AsyncAnthropic(
        base_url=app.backend.url,
        auth_token="any",
        default_headers={"X-Claude-Code-Session-Id": session},
        max_retries=0,
    ) as sdk:
        await sdk.messages.create(
            model=model, max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )


def header(app: ProxyApp) -> str:
    """The status bar as shown, all its lines."""
    bar = app.screen.query_one(StatusBar)
    return "\n".join(bar.render_line(y).text for y in range(bar.size.height))


async def test_model_chosen_in_claude_code_shows_as_a_pin(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory
) -> None:
    async with make_tui(upstream, tmp_path).run_test(size=(80, 24)) as pilot:
        app = await ready(pilot)
        await ask(app, "claude-sonnet-4-5")
        assert upstream.requests[-1].model == "gpt-4.1"
        # What Claude Code sends after `/model openai/gpt-4o-mini`.
        await ask(app, "openai/gpt-4o-mini")
        assert upstream.requests[-1].model == "gpt-4o-mini"
        await wait_for(lambda: app.status.pins, pilot=pilot)
        assert app.status.pins == (SessionPin(SESSION, "openai/gpt-4o-mini", "/model"),)
        await wait_for(
            lambda: "session 8f3ab5ca pinned to openai/gpt-4o-mini (/model)" in header(app),
            pilot=pilot,
        )
        # Its background (haiku-class) calls change nothing; another session is not pinned.
        await ask(app, "claude-haiku-4-5")
        await ask(app, "claude-sonnet-4-5", session="another-session")
        await pilot.pause(0.2)
        assert [p.session_id for p in app.status.pins] == [SESSION]
        # `/model default`: Claude ids again, the pin goes.
        await ask(app, "claude-opus-4-8")
        await wait_for(lambda: not app.status.pins, pilot=pilot)
        await wait_for(lambda: "pinned" not in header(app), pilot=pilot)


async def test_a_pin_set_through_the_api_shows_too(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory
) -> None:
    async with make_tui(upstream, tmp_path).run_test(size=(120, 30)) as pilot:
        app = await ready(pilot)
        pinned = await call(
            app.backend.url,
            "POST",
            f"/sessions/{SESSION}/model",
            {"model": "gemini/gemini-2.5-pro"},
        )
        assert pinned.status == 200
        await ask(app, "claude-sonnet-4-5")
        assert upstream.requests[-1].model == "gemini-2.5-pro"
        await wait_for(lambda: app.status.pins, pilot=pilot)
        assert app.status.pins[0].how == "pin"


def record(session: str | None, reason: str, started: float, model: str = "m") -> RequestRecord:
    """A request record as the store builds it."""
    return RequestRecord(
        request_id=f"r{started}", started=started, session_id=session, reason=reason, model=model
    )


def test_a_late_old_request_never_undoes_a_newer_choice() -> None:
    pins = SessionPins()
    assert pins.note(record("s", "direct model", 2.0, "openai/x"))
    assert not pins.note(record("s", "big model", 1.0))
    assert [p.model for p in pins.pins] == ["openai/x"]
    assert not pins.note(record("s", "small model", 3.0))
    assert not pins.note(record("s", "subagent <proxy-model> marker", 3.5))
    assert not pins.note(record(None, "direct model", 4.0))
    assert pins.note(record("s", "big model", 5.0))
    assert pins.pins == ()
