"""Keys typed in one burst (as a terminal delivers a fast typist or `tmux send-keys`): nothing is
lost, nothing lands in the wrong field; `q` asks before cutting requests in flight; keys pressed
while the app stops open nothing."""

from __future__ import annotations

import asyncio
import tomllib
import unicodedata
from pathlib import Path
from typing import Any

import anthropic
from textual import events
from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key
from textual.notifications import Notify

from app.ui.proxy_app import ProxyApp
from screens.presets import PresetsScreen
from screens.quit import QuitScreen
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.tui_support import build_app, isolated_tui, ready, wait_for

__all__ = ["isolated_tui"]


def burst(app: ProxyApp, text: list[str]) -> None:
    """Hand the keys to the app the way its driver does, all at once (no pause between them)."""
    assert app._driver is not None
    for key in text:
        if len(key) == 1 and not key.isalnum():
            key = _character_to_key(key)
        try:
            char: str | None = unicodedata.lookup(
                _get_unicode_name_from_key(REPLACED_KEYS.get(key, key))
            )
        except KeyError:
            char = key if len(key) == 1 else None
        event = events.Key(key, char)
        event.set_sender(app)
        app._driver.send_message(event)


def keys(*parts: str) -> list[str]:
    """`keys("ab", "tab")` -> ["a", "b", "tab"]: words are typed, key names pressed."""
    out: list[str] = []
    for part in parts:
        out.extend([part] if part in ("tab", "enter", "escape") else list(part))
    return out


def user_presets(tmp_path: Path) -> dict[str, Any]:
    """The user presets file the app wrote."""
    path = tmp_path / "presets.toml"
    return dict(tomllib.loads(path.read_text())["presets"]) if path.exists() else {}


async def test_tab_typed_fast_moves_to_the_description(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    async with build_app(upstream, tmp_path).run_test(size=(80, 24)) as pilot:
        app = await ready(pilot)
        await pilot.press("p")
        screen = await wait_for(lambda: isinstance(app.screen, PresetsScreen) and app.screen)
        await wait_for(lambda: len(screen.presets) == 7, pilot=pilot)
        # The key that opens the dialog and everything typed into it, in one burst.
        burst(app, keys("n", "fast", "tab", "typed description", "enter"))
        await wait_for(lambda: "fast" in user_presets(tmp_path), timeout=15, pilot=pilot)
        assert user_presets(tmp_path)["fast"]["description"] == "typed description"
        await wait_for(lambda: isinstance(app.screen, PresetsScreen), pilot=pilot)
        # Two dialogs in one burst: each keeps its own name and description.
        burst(app, keys("n", "a1", "tab", "d1", "enter", "n", "b2", "tab", "d2", "enter"))
        await wait_for(lambda: {"a1", "b2"} <= set(user_presets(tmp_path)), timeout=15, pilot=pilot)
        saved = user_presets(tmp_path)
        assert (saved["a1"]["description"], saved["b2"]["description"]) == ("d1", "d2")


async def test_two_saves_in_a_row_both_land(upstream: FakeUpstream, tmp_path: Path) -> None:
    """The second save starts while the first one still writes: neither cancels the other."""
    async with build_app(upstream, tmp_path).run_test(size=(80, 24)) as pilot:
        app = await ready(pilot)
        await pilot.press("p")
        screen = await wait_for(lambda: isinstance(app.screen, PresetsScreen) and app.screen)
        screen.save("first", "one")
        screen.save("second", "two")
        await wait_for(
            lambda: {"first", "second"} <= set(user_presets(tmp_path)), timeout=15, pilot=pilot
        )


async def test_a_view_key_then_its_keys_in_one_burst(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    """`p` opens the presets, `n` (already read) opens its save dialog: both act."""
    async with build_app(upstream, tmp_path).run_test(size=(80, 24)) as pilot:
        app = await ready(pilot)
        burst(app, keys("p", "n", "quick", "tab", "from the log", "enter"))
        await wait_for(lambda: "quick" in user_presets(tmp_path), timeout=15, pilot=pilot)
        assert user_presets(tmp_path)["quick"]["description"] == "from the log"


async def slow_stream(app: ProxyApp, upstream: FakeUpstream) -> asyncio.Task[Any]:
    """One streaming request that stays in flight until the test lets it end."""
    # 120 chunks, 50 ms apart: in flight for about 6 s (the test waits for its end at most once).
    upstream.script.append(Reply(text="slow " * 120, delay_between_chunks=0.05))

    async def run() -> None:
        async with (
            anthropic.AsyncAnthropic(
                base_url=app.backend.url, api_key="sk-test-x", max_retries=0
            ) as sdk,
            sdk.messages.stream(
                model="claude-sonnet-4-5",
                max_tokens=64,
                messages=[{"role": "user", "content": "hi"}],
            ) as stream,
        ):
            await stream.get_final_message()

    return asyncio.create_task(run())


async def test_q_with_a_request_in_flight_asks_and_can_wait(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    async with build_app(upstream, tmp_path).run_test(size=(80, 24)) as pilot:
        app = await ready(pilot)
        streaming = await slow_stream(app, upstream)
        await wait_for(lambda: app.status.in_flight == 1, pilot=pilot)
        await pilot.press("q")
        dialog = await wait_for(lambda: isinstance(app.screen, QuitScreen) and app.screen)
        assert dialog.in_flight == 1
        assert "1 request is in flight" in app.export_screenshot().replace("&#160;", " ")
        # Stay: nothing happens.
        await pilot.press("escape")
        await wait_for(lambda: not isinstance(app.screen, QuitScreen), pilot=pilot)
        assert not app.stopping
        # Wait (Enter is the default): the stream finishes whole, then the app quits by itself.
        await pilot.press("q")
        await wait_for(lambda: isinstance(app.screen, QuitScreen), pilot=pilot)
        await pilot.press("enter")
        await wait_for(lambda: app.status.quit_pending, pilot=pilot)
        await asyncio.wait_for(streaming, 20)
        await wait_for(lambda: app.return_code is not None, timeout=10, pilot=pilot)
    assert app.return_code == 0
    assert upstream.requests, "the request reached the upstream"


async def test_quit_now_and_ctrl_c_twice(upstream: FakeUpstream, tmp_path: Path) -> None:
    seen: list[Any] = []
    app = build_app(upstream, tmp_path)
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        await ready(pilot)
        streaming = await slow_stream(app, upstream)
        await wait_for(lambda: app.status.in_flight == 1, pilot=pilot)
        # Once: only says what a second one does. Twice, even over the quit dialog: out at once.
        await pilot.press("ctrl+c")
        said = [str(m.notification.message) for m in seen if isinstance(m, Notify)]
        assert any("Ctrl+C again quits at once, cutting 1 in flight" in s for s in said), said
        assert app.return_code is None
        await pilot.press("q")
        await wait_for(lambda: isinstance(app.screen, QuitScreen), pilot=pilot)
        await pilot.press("ctrl+c")
        await wait_for(lambda: app.return_code is not None, pilot=pilot)
    assert app.return_code == 130
    streaming.cancel()
    await asyncio.gather(streaming, return_exceptions=True)

    async with build_app(upstream, tmp_path).run_test(size=(80, 24)) as pilot:
        app = await ready(pilot)
        streaming = await slow_stream(app, upstream)
        await wait_for(lambda: app.status.in_flight == 1, pilot=pilot)
        await pilot.press("q", "y")
        await wait_for(lambda: app.return_code is not None, pilot=pilot)
    assert app.return_code == 0
    streaming.cancel()
    await asyncio.gather(streaming, return_exceptions=True)


async def test_keys_while_stopping_open_nothing(upstream: FakeUpstream, tmp_path: Path) -> None:
    seen: list[Any] = []
    app = build_app(upstream, tmp_path)
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        await ready(pilot)
        burst(app, keys("qsmhpdt?k"))
        await wait_for(lambda: app.return_code is not None, pilot=pilot)
        assert [type(s).__name__ for s in app.screen_stack] == ["MainScreen"]
    assert app.return_code == 0
    failures = [m for m in seen if type(m).__name__ == "StateChanged" and m.state.name == "ERROR"]
    assert failures == []


def test_textual_internals_the_key_routing_relies_on() -> None:
    """app/ui/key_routing.py and screens/typeahead.py lean on these (textual is pinned)."""
    import inspect

    from textual.app import App
    from textual.widgets import Input

    key = events.Key("a", "a")
    assert key._stop_propagation is False and key.is_forwarded is False
    key.stop()
    assert key._stop_propagation is True
    assert inspect.iscoroutinefunction(App._on_key)
    assert inspect.iscoroutinefunction(Input._on_key)
    assert "_check_bindings" in inspect.getsource(App._on_key)
    # Handlers run once per class of the MRO: the overrides must not call super()._on_key.
    assert "__mro__" in inspect.getsource(App._get_dispatch_methods)
    assert hasattr(Input, "selected_text") and callable(Input.action_copy)
