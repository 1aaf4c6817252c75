"""The answer pane: Markdown rendered while it streams, tool calls with their arguments."""

from __future__ import annotations

import asyncio
from itertools import pairwise
from pathlib import Path
from typing import Any

import anthropic
import pytest
from rich.text import Text
from textual.widgets import Markdown
from textual.widgets._markdown import MarkdownFence, MarkdownOrderedList

from app.client.requests import RequestRecord
from app.ui.proxy_app import ProxyApp
from screens.answer_view import AnswerView, code_span
from screens.request_log import RequestLog
from tests.support.fake_upstream import FakeUpstream, Reply, ToolCall
from tests.support.tui_support import (
    TuiFactory,
    build_app,
    isolated_tui,
    make_tui,
    ready,
    tui_mode,
    wait_for,
)

__all__ = ["isolated_tui", "make_tui", "tui_mode"]

ANSWER = (
    "Two steps:\n\n"
    "1. Make `parse_date` attach UTC.\n"
    "2. Compare aware datetimes.\n\n"
    "```python\n"
    "def parse_date(text):\n"
    "    return datetime.fromisoformat(text).replace(tzinfo=UTC)\n"
    "```\n\n" + "Then run the tests again and read what they say. " * 40
)


def client(app: ProxyApp) -> anthropic.AsyncAnthropic:
    """The SDK pointed at the app's proxy."""
    return anthropic.AsyncAnthropic(base_url=app.backend.url, api_key="dummy", max_retries=0)


async def test_markdown_renders_while_it_streams_and_keeps_up(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream.script.append(Reply(text=ANSWER, chunk_size=2, delay_between_chunks=0.002))
    frames: list[int] = []
    drain = ProxyApp._drain

    def counted_drain(self: ProxyApp) -> None:
        frames.append(1)
        drain(self)

    monkeypatch.setattr(ProxyApp, "_drain", counted_drain)
    async with make_tui(upstream, tmp_path).run_test(size=(120, 40)) as pilot:
        app = await ready(pilot)
        answer = app.main_screen.query_one(AnswerView)
        markdown = answer.query_one(Markdown)

        async def ask() -> str:
            async with (
                client(app) as sdk,
                sdk.messages.stream(
                    model="claude-sonnet-4-5",
                    max_tokens=4096,
                    messages=[{"role": "user", "content": "fix it"}],
                ) as events,
            ):
                return "".join([t async for t in events.text_stream])

        task = asyncio.create_task(ask())
        # The code block and the list are real widgets before the answer has ended.
        await wait_for(lambda: markdown.query(MarkdownFence), timeout=20)
        assert not task.done()
        assert markdown.query(MarkdownOrderedList)
        record = next(iter(app.store))
        assert record.status == "live"
        assert await task == ANSWER
        await wait_for(lambda: record.status == "ok", pilot=pilot)
        ended = len(frames)
        await wait_for(lambda: answer.source == ANSWER and answer.rendered, pilot=pilot)
        # Caught up within a few frames of the end: it did not fall behind the stream.
        assert len(frames) - ended <= 10
        fence = markdown.query_one(MarkdownFence)
        assert "fromisoformat" in fence.code


async def test_tool_call_arguments_in_the_log_and_the_answer(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory
) -> None:
    call = ToolCall("Bash", {"command": "ls -la", "description": "List the files"})
    upstream.script.append(Reply(text="I'll look.", tool_calls=[call], chunk_size=3))
    async with make_tui(upstream, tmp_path).run_test(size=(200, 30)) as pilot:
        app = await ready(pilot)
        async with (
            client(app) as sdk,
            sdk.messages.stream(
                model="claude-sonnet-4-5",
                max_tokens=256,
                tools=[{"name": "Bash", "input_schema": {"type": "object"}}],
                messages=[{"role": "user", "content": "list the files"}],
            ) as events,
        ):
            await events.get_final_message()
        # Attached, the request reaches the screen over /events, after the answer.
        await wait_for(lambda: len(app.store) > 0, pilot=pilot)
        record = next(iter(app.store))
        await wait_for(lambda: record.status == "ok", pilot=pilot)
        shown = 'Bash(command="ls -la", description="List the files")'
        answer = app.main_screen.query_one(AnswerView)
        await wait_for(lambda: answer.source.endswith(code_span(shown)), pilot=pilot)
        assert answer.source == f"I'll look.\n\n→ `{shown}`"
        log = app.main_screen.query_one(RequestLog)
        cell = log.get_cell(record.request_id, "answer")
        assert isinstance(cell, Text)
        assert cell.plain == f"I'll look. → {shown}"


def test_code_span_survives_backticks() -> None:
    assert code_span("a") == "`a`"
    assert code_span("echo `date`") == "`` echo `date` ``"
    assert code_span("x`y") == "``x`y``"
    assert code_span("`x") == "`` `x ``"


FAST_PIECES = 2000
"""Small deltas in the fast stream: a real proxy turns each upstream chunk into one delta."""


def fast_answer() -> list[str]:
    """A Markdown answer (lists, code blocks, paragraphs) cut into `FAST_PIECES` small pieces."""
    section = (
        "Step {n}:\n\n- read `mod_{n}.py`\n- fix the import\n\n"
        "```python\nimport mod_{n}\nprint(mod_{n}.run())\n```\n\nThen the tests pass again.\n\n"
    )
    text = "".join(section.format(n=n) for n in range(60))
    cuts = [len(text) * i // FAST_PIECES for i in range(FAST_PIECES + 1)]
    return [text[a:b] for a, b in pairwise(cuts)]


async def test_a_fast_stream_is_appended_per_frame_not_per_delta(
    upstream: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pieces = fast_answer()
    assert len(pieces) == FAST_PIECES
    whole = "".join(pieces)
    upstream.script.append(Reply(text_pieces=pieces, delay_between_chunks=0.0005))
    # Per frame: how far the document was behind what the pane had been given when the frame
    # began, and how much text the frame gave it; and every append to the Markdown document.
    behind: list[int] = []
    given: list[int] = []
    appended: list[int] = []
    updated: list[int] = []
    drain, append, update = ProxyApp._drain, Markdown.append, Markdown.update

    def measured_drain(self: ProxyApp) -> None:
        # Torn down (the app is closing: its screens popped, or the pane emptied): nothing to
        # measure; a last frame may still fire.
        if not self.screen_stack or not self.main_screen.query_one(AnswerView).query(Markdown):
            drain(self)
            return
        answer = self.main_screen.query_one(AnswerView)
        sent = sum(map(len, answer._sent))
        behind.append(sent - len(answer.source))
        drain(self)
        given.append(sum(map(len, answer._sent)) - sent)

    def counted_append(self: Markdown, markdown: str) -> Any:
        appended.append(len(markdown))
        return append(self, markdown)

    def counted_update(self: Markdown, markdown: str) -> Any:
        if markdown:
            updated.append(len(markdown))
        return update(self, markdown)

    monkeypatch.setattr(ProxyApp, "_drain", measured_drain)
    monkeypatch.setattr(Markdown, "append", counted_append)
    monkeypatch.setattr(Markdown, "update", counted_update)
    async with build_app(upstream, tmp_path).run_test(size=(120, 40)) as pilot:
        app = await ready(pilot)
        answer = app.main_screen.query_one(AnswerView)
        async with client(app) as sdk:
            reply = await sdk.messages.create(
                model="claude-sonnet-4-5",
                max_tokens=8192,
                stream=True,
                messages=[{"role": "user", "content": "fix them all"}],
            )
            deltas = 0
            async for event in reply:
                deltas += event.type == "content_block_delta"
        # The proxy may join upstream chunks that reach it together.
        assert deltas > FAST_PIECES // 2
        record = next(iter(app.store))
        await wait_for(lambda: record.status == "ok", pilot=pilot, timeout=30)
        await wait_for(lambda: answer.rendered, pilot=pilot, timeout=30)
        assert answer.source == whole
        assert len(answer.query_one(Markdown).query(MarkdownFence)) == 60
    frames = sum(1 for n in given if n)
    # A stream spread over many frames, each frame's text appended at most once (folded with
    # the next frames' while an append is still being laid out): never one append per delta.
    assert frames >= 5
    # Every character goes in once: by append (a live answer is shown by append too, see
    # AnswerView._apply_changes), or by the one update that shows a finished answer whole.
    assert sum(appended) + sum(updated) == len(whole)
    assert len(appended) <= frames < deltas
    # Nothing is left behind for good: every lag was made up by the frames after it.
    assert behind[-1] == 0


async def test_a_live_answer_shown_inside_a_code_block_keeps_its_blocks(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    """A stream selected while its text ends inside a code block: the block's opening line is
    kept when the rest is appended (Textual's update() leaves only the last line to parse again)."""
    async with build_app(upstream, tmp_path).run_test(size=(120, 40)) as pilot:
        app = await ready(pilot)
        answer = app.main_screen.query_one(AnswerView)
        text = "".join(fast_answer())
        cut = text.index("import mod_3") + len("import mod_3\n")
        record = RequestRecord("req_live", started=0.0, chunks=[text[:cut]])
        answer.show(record)
        for start in range(cut, len(text), 97):
            answer.feed(record, text[start : start + 97])
            await pilot.pause()
        await wait_for(lambda: answer.rendered and answer.source == text, pilot=pilot)
        assert len(answer.query_one(Markdown).query(MarkdownFence)) == 60
