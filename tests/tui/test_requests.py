"""Pilot tests: real requests through the embedded proxy show up in the log, updated in place."""

from __future__ import annotations

from pathlib import Path

import anthropic
from rich.text import Text

from app.ui.proxy_app import ProxyApp
from screens.answer_view import AnswerView
from screens.request_log import PAD, SCROLLBAR, RequestLog, layout
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.tui_support import TuiFactory, isolated_tui, make_tui, ready, tui_mode, wait_for

__all__ = ["isolated_tui", "make_tui", "tui_mode"]  # fixtures used in this module


def client(app: ProxyApp) -> anthropic.AsyncAnthropic:
    """The SDK pointed at the app's proxy."""
    return anthropic.AsyncAnthropic(base_url=app.backend.url, api_key="dummy", max_retries=0)


def cell(log: RequestLog, request_id: str, column: str) -> str:
    """A log cell's plain text."""
    value = log.get_cell(request_id, column)
    return value.plain if isinstance(value, Text) else str(value)


async def test_rows_appear_with_the_mapped_model(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory
) -> None:
    upstream.script.append(Reply(text="first answer"))
    upstream.script.append(Reply(text="streamed answer", chunk_size=3))
    # 120 columns: wide enough for the answer preview column.
    async with make_tui(upstream, tmp_path).run_test(size=(120, 30)) as pilot:
        app = await ready(pilot)
        async with client(app) as sdk:
            await sdk.messages.create(
                model="claude-sonnet-4-5-20250929",
                max_tokens=64,
                messages=[{"role": "user", "content": "hello"}],
            )
            async with sdk.messages.stream(
                model="claude-haiku-4-5",
                max_tokens=64,
                messages=[{"role": "user", "content": "hi"}],
            ) as stream:
                await stream.get_final_message()
        log = app.main_screen.query_one(RequestLog)
        await wait_for(lambda: log.row_count == 2 and all(r.status == "ok" for r in app.store))
        await pilot.pause(0.1)
        big, small = list(app.store)
        assert cell(log, big.request_id, "model") == "sonnet-4-5 → gpt-4.1"
        assert cell(log, small.request_id, "model") == "haiku-4-5 → gpt-4.1-mini"
        assert cell(log, big.request_id, "status") == "200"
        assert cell(log, small.request_id, "tokens") == "11/7"
        assert cell(log, small.request_id, "answer") == "streamed answer"
        assert [r.model for r in upstream.requests] == ["gpt-4.1", "gpt-4.1-mini"]
        # The newest row is selected and its answer shown; the header counts what finished.
        answer = app.main_screen.query_one(AnswerView)
        await wait_for(lambda: answer.source == "streamed answer", pilot=pilot)
        assert app.status.tokens == 36 and app.status.requests == 2


async def test_upstream_error_is_red_with_its_message(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory
) -> None:
    upstream.script.append(Reply(status=400, error_message="slow down please"))
    async with make_tui(upstream, tmp_path).run_test(size=(120, 30)) as pilot:
        app = await ready(pilot)
        async with client(app) as sdk:
            try:
                await sdk.messages.create(
                    model="claude-sonnet-4-5",
                    max_tokens=16,
                    messages=[{"role": "user", "content": "x"}],
                )
            except anthropic.BadRequestError:
                pass
        log = app.main_screen.query_one(RequestLog)
        await wait_for(lambda: log.row_count == 1 and next(iter(app.store)).status == "error")
        await pilot.pause(0.1)
        record = next(iter(app.store))
        status = log.get_cell(record.request_id, "status")
        assert isinstance(status, Text) and status.plain == "400"
        assert status.style and str(status.style.color.triplet.hex).lower() == (  # type: ignore[union-attr]
            app.theme_variables["text-error"].lower()
        )
        assert "slow down please" in cell(log, record.request_id, "answer")
        error = app.main_screen.query_one("#answer-error")
        assert error.display and "slow down please" in str(error.render())


async def test_filter_by_model_and_status(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory
) -> None:
    upstream.script.extend([Reply(), Reply(status=400, error_message="boom"), Reply()])
    async with make_tui(upstream, tmp_path).run_test(size=(80, 24)) as pilot:
        app = await ready(pilot)
        async with client(app) as sdk:
            for model in ("claude-sonnet-4-5", "claude-sonnet-4-5", "claude-haiku-4-5"):
                try:
                    await sdk.messages.create(
                        model=model, max_tokens=8, messages=[{"role": "user", "content": "x"}]
                    )
                except anthropic.APIStatusError:
                    pass
        log = app.main_screen.query_one(RequestLog)
        await wait_for(lambda: log.row_count == 3 and all(r.status != "live" for r in app.store))
        await pilot.press("f")
        # Digits typed into the filter box stay there: preset keys are not priority bindings.
        await pilot.press(*"4.1-mini")
        assert app.main_screen.query_one("#filter-model").value == "4.1-mini"  # type: ignore[attr-defined]
        assert log.row_count == 1
        assert app.backend.pair.preset is None
        await pilot.press("escape")
        assert log.row_count == 3
        app.main_screen.query_one("#filters").display = True
        app.main_screen.query_one("#filter-status").value = "error"  # type: ignore[attr-defined]
        await pilot.pause()
        assert log.row_count == 1
        assert cell(log, str(log.selected_id), "status") == "400"


def test_log_columns_fit_without_horizontal_scrolling() -> None:
    for width in (80, 96, 100, 120, 139, 200):
        widths = layout(width)
        assert sum(widths.values()) + PAD * len(widths) + SCROLLBAR <= width, width
    # 80 columns: the model column is readable ('haiku-4-5 → gpt-4.1-mini'); ttft, the long
    # session prefix and the answer come as room allows.
    assert layout(80)["model"] >= len("haiku-4-5 → gpt-4.1-mini")
    assert "answer" not in layout(80) and "ttft" not in layout(80) and layout(80)["session"] == 4
    assert "ttft" in layout(96) and layout(96)["session"] == 8
    assert "answer" in layout(120) and layout(120)["model"] == 34
