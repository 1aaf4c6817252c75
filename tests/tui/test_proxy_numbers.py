"""The header shows the proxy's own numbers and key decisions, in-process and attached alike."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import anthropic

from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.tui_support import (
    TuiFactory,
    attach_app,
    isolated_tui,
    make_tui,
    ready,
    start_headless,
    tui_mode,
    tui_settings,
    wait_for,
)
from tests.tui.test_switching import ask

__all__ = ["isolated_tui", "make_tui", "tui_mode"]


async def test_header_totals_are_the_proxys(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory
) -> None:
    upstream.script.extend(
        [
            Reply(text="one", prompt_tokens=120, completion_tokens=30),
            Reply(status=400, error_message="nope"),
        ]
    )
    async with make_tui(upstream, tmp_path, MAX_RETRIES="0").run_test(size=(80, 24)) as pilot:
        app = await ready(pilot)
        await ask(app)
        with contextlib.suppress(anthropic.BadRequestError):
            await ask(app)
        await wait_for(lambda: app.status.requests == 2 and app.status.errors == 1, pilot=pilot)
        totals = (await app.backend.config())["totals"]
        assert totals["total"] == 2 and totals["errors"] == 1 and totals["in_flight"] == 0
        await wait_for(lambda: app.status.tokens == 150, pilot=pilot)
        assert app.status.tokens == totals["tokens"]
        assert round(app.status.cost, 6) == totals["cost"]
        assert app.status.in_flight == 0


async def test_a_keyless_openai_base_is_usable_as_the_proxy_decides(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory
) -> None:
    # No OpenAI key, but an OpenAI-compatible base (Ollama, vLLM): requests can go out.
    env = {"OPENAI_API_KEY": "", "GEMINI_API_KEY": "", "SMALL_MODEL": "gemini/gemini-2.5-flash"}
    async with make_tui(upstream, tmp_path, **env).run_test(size=(80, 24)) as pilot:
        app = await ready(pilot)
        await wait_for(lambda: app.status.small_key_missing == "GEMINI_API_KEY", pilot=pilot)
        assert app.status.big_key_missing is None
        assert not app.status.no_provider_key
        config = await app.backend.config()
        assert "openai" in config["usable_providers"]
        assert "gemini" not in config["usable_providers"]
        listing = await app.backend.model_list()
        openai = next(m for m in listing["models"] if m["id"] == "openai/gpt-4.1")
        assert openai["key_configured"] is False and openai["key_usable"] is True


async def test_an_app_attached_later_shows_what_the_proxy_served_before(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    upstream.script.append(Reply(text="early", prompt_tokens=400, completion_tokens=20))
    proxy = start_headless(tui_settings(upstream, tmp_path))
    try:
        async with anthropic.AsyncAnthropic(
            base_url=proxy.server.url, api_key="dummy", max_retries=0
        ) as sdk:
            await sdk.messages.create(
                model="claude-sonnet-4-5", max_tokens=8, messages=[{"role": "user", "content": "x"}]
            )
        app = attach_app(proxy.server.url, tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(pilot)
            await wait_for(lambda: app.status.tokens == 420, pilot=pilot)
            assert app.status.requests == 1
    finally:
        await asyncio.to_thread(proxy.stop)
