"""A 2,000-chunk stream through the proxy while the app runs: keys stay responsive, text complete."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anthropic
import pytest
from textual import events

from app.ui.proxy_app import ProxyApp
from screens.answer_view import AnswerView
from screens.main import FilterBar
from screens.request_log import RequestLog
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.tui_support import TuiFactory, isolated_tui, make_tui, ready, tui_mode, wait_for

__all__ = ["isolated_tui", "make_tui", "tui_mode"]

CHUNKS = 2000
KEY_WAIT = 30.0
"""Only a safety net against a hang: key latency is measured in bench/ (tui_keys), not here."""


def long_text(n: int) -> str:
    """n characters of words, so the Markdown has something real to wrap."""
    words = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "streams")
    out: list[str] = []
    while sum(len(w) + 1 for w in out) < n:
        out.append(words[len(out) % len(words)])
    return " ".join(out)[:n]


async def test_keys_stay_responsive_during_a_2000_chunk_stream(
    upstream: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_tui: TuiFactory
) -> None:
    text = long_text(CHUNKS)
    upstream.script.append(Reply(text=text, chunk_size=1, delay_between_chunks=0.001))
    frames: list[int] = []
    drain = ProxyApp._drain

    def counted_drain(self: ProxyApp) -> None:
        frames.append(len(self.store))
        drain(self)

    monkeypatch.setattr(ProxyApp, "_drain", counted_drain)
    async with make_tui(upstream, tmp_path).run_test(size=(120, 30)) as pilot:
        app = await ready(pilot)

        async def stream() -> str:
            async with (
                anthropic.AsyncAnthropic(
                    base_url=app.backend.url, api_key="dummy", max_retries=0
                ) as sdk,
                sdk.messages.stream(
                    model="claude-sonnet-4-5",
                    max_tokens=4096,
                    messages=[{"role": "user", "content": "write a lot"}],
                ) as events,
            ):
                return "".join([t async for t in events.text_stream])

        task = asyncio.create_task(stream())
        log = app.main_screen.query_one(RequestLog)
        await wait_for(lambda: log.row_count == 1 and len(next(iter(app.store)).text) > 20)
        bar = app.main_screen.query_one(FilterBar)
        keys = (("f", "f", True), ("escape", "\x1b", False)) * 3
        answered_mid_stream = 0
        for key, character, shown in keys:
            assert not task.done(), "the stream ended before the keys were pressed"
            # Posted as the terminal driver does; pilot.press would also wait for the whole
            # process (proxy and fake upstream included) to go idle, which it is not meant to.
            app.post_message(events.Key(key, character))
            await wait_for(lambda s=shown: bar.display is s, timeout=KEY_WAIT)
            # The key took effect while the stream was still running: the UI did not wait for it.
            answered_mid_stream += not task.done()
            await asyncio.sleep(0.05)
        received = await task
        assert received == text
        record = next(iter(app.store))
        await wait_for(lambda: record.status == "ok", pilot=pilot)
        assert record.text == text
        answer = app.main_screen.query_one(AnswerView)
        await wait_for(lambda: answer.source == text, pilot=pilot, timeout=10)
        assert log.get_cell(record.request_id, "answer").plain == text[:200]  # type: ignore[union-attr]
        assert answered_mid_stream == len(keys)
        # Deltas arrive once per frame, not once per chunk.
        assert len(frames) < CHUNKS
        assert len(upstream.requests) == 1
