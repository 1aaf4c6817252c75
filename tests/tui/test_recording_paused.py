"""The header says when the proxy's store records nothing (and why), as /health does, in-process
and attached; the proxy keeps serving."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import anthropic

from screens.status_bar import StatusBar
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.tui_support import TuiFactory, isolated_tui, make_tui, ready, tui_mode, wait_for

__all__ = ["isolated_tui", "make_tui", "tui_mode"]


async def health(url: str) -> dict[str, Any]:
    """GET /health of the proxy at `url`."""
    async with aiohttp.ClientSession() as http, http.get(f"{url}/health") as response:
        data: dict[str, Any] = await response.json()
        return data


async def test_the_header_says_recording_is_paused(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory
) -> None:
    # A file where the data folder's parent should be: nobody, root included, can create it.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("the data folder cannot be created under a file")
    upstream.script.append(Reply(text="served anyway"))
    app = make_tui(upstream, tmp_path, DATA_DIR=str(blocker / "data"))
    async with app.run_test(size=(100, 30)) as pilot:
        app = await ready(pilot)
        bar = app.main_screen.query_one(StatusBar)
        said = (await health(app.backend.url))["recording"]
        assert said["state"] == "paused" and said["reason"]
        await wait_for(lambda: app.status.recording_paused == said["reason"], 12.0, pilot)
        await wait_for(lambda: bar.has_class("-paused"), pilot=pilot)
        await pilot.pause()
        third = bar.render_line(2).text
        assert f"recording paused ({said['reason']})" in third
        async with anthropic.AsyncAnthropic(
            base_url=app.backend.url, api_key="dummy", max_retries=0
        ) as sdk:
            answer = await sdk.messages.create(
                model="claude-sonnet-4-5",
                max_tokens=16,
                messages=[{"role": "user", "content": "hello"}],
            )
        assert answer.content[0].text == "served anyway"  # type: ignore[union-attr]
