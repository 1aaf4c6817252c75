"""Pilot tests: a tool call the proxy repaired or refused marks its row in the log, and the Stats
view counts repairs per model."""

from __future__ import annotations

from pathlib import Path

import anthropic
from rich.text import Text

from screens.request_log import RequestLog
from screens.stats import WIDE, stats_cells
from tests.support.fake_upstream import FakeUpstream, Reply, ToolCall, text_tool_call
from tests.support.tui_support import TuiFactory, isolated_tui, make_tui, ready, tui_mode, wait_for

__all__ = ["isolated_tui", "make_tui", "tui_mode"]  # fixtures used in this module

BASH = {
    "name": "Bash",
    "input_schema": {
        "type": "object",
        "properties": {"command": {"type": "string"}},
        "required": ["command"],
    },
}


async def test_repaired_and_refused_calls_are_marked_and_counted(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory
) -> None:
    upstream.script += [
        Reply(text="plain answer"),
        Reply(text=text_tool_call("qwen", "bash", {"command": "ls"})),
        Reply(text="", tool_calls=[ToolCall("Search", {"q": "x"})]),
    ]
    async with make_tui(upstream, tmp_path).run_test(size=(120, 30)) as pilot:
        app = await ready(pilot)
        sdk = anthropic.AsyncAnthropic(base_url=app.backend.url, api_key="dummy", max_retries=0)
        async with sdk:
            for _ in range(3):
                await sdk.messages.create(
                    model="claude-sonnet-4-5",
                    max_tokens=64,
                    messages=[{"role": "user", "content": "go"}],
                    tools=[BASH],  # type: ignore[list-item]
                )
        log = app.main_screen.query_one(RequestLog)
        await wait_for(lambda: log.row_count == 3 and all(r.status == "ok" for r in app.store))
        await pilot.pause(0.1)
        statuses = []
        for record in app.store:
            value = log.get_cell(record.request_id, "status")
            assert isinstance(value, Text)
            statuses.append(value.plain)
        assert statuses == ["200", "200*", "200*"]
        model = (await app.backend.stats())["models"]["openai/gpt-4.1"]
        cells = dict(zip([key for key, _, _ in WIDE], stats_cells("m", model), strict=True))
        assert cells["repairs"] == "1/1"
