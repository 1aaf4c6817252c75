"""The connect line on the main screen and what `c` copies: the same text, whole, at any width."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.client.connect import connect_command
from screens.status_bar import ConnectBar
from tests.support.fake_upstream import FakeUpstream
from tests.support.tui_support import TuiFactory, isolated_tui, make_tui, ready, tui_mode

__all__ = ["isolated_tui", "make_tui", "tui_mode"]


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_the_line_fits_and_c_copies_it(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory, size: tuple[int, int]
) -> None:
    async with make_tui(upstream, tmp_path).run_test(size=size) as pilot:
        app = await ready(pilot)
        command = connect_command(app.backend.url, keyed=False)
        await pilot.pause()
        shown = app.screen.query_one(ConnectBar).render_line(0).text
        assert command in shown
        if size[0] > 100:
            assert shown.strip().startswith("Claude Code: ") and "c copies" in shown
        await pilot.press("c")
        await pilot.pause()
        assert app.clipboard == command


async def test_a_keyed_proxy_shows_the_variable_never_the_key(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory
) -> None:
    key = "sk-test-proxy-key-000000000000777"
    async with make_tui(upstream, tmp_path, PROXY_API_KEY=key).run_test(size=(80, 24)) as pilot:
        app = await ready(pilot)
        await pilot.pause()
        bar = app.screen.query_one(ConnectBar)
        text = " ".join(bar.render_line(y).text.strip() for y in range(bar.size.height))
        assert text == connect_command(app.backend.url, keyed=True)
        assert key not in app.export_screenshot()
        await pilot.press("c")
        await pilot.pause()
        assert app.clipboard == connect_command(app.backend.url, keyed=True)
