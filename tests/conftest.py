"""Shared fixtures: a fake upstream on one loopback port, the real proxy on another."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
# Nothing from the developer's shell may steer a test (ANTHROPIC_BASE_URL above all).
for _name in ("ANTHROPIC_BASE_URL", "OPENAI_BASE_URL", "OPENAI_API_BASE", "ANTHROPIC_API_BASE"):
    os.environ.pop(_name, None)

from proxy.core.conversation_cache import CONVERSATIONS  # noqa: E402
from proxy.core.lazy_litellm import start_import  # noqa: E402
from proxy.core.settings import load_settings  # noqa: E402
from proxy.core.tools_cache import TOOLS  # noqa: E402
from proxy.server.runner import ProxyServer  # noqa: E402
from tests.support.fake_upstream import FakeUpstream  # noqa: E402

# The proxy imports LiteLLM in a background thread; under `filterwarnings = error` that import
# races pytest's per-test reset of the warning filters. Import it once, up front, for the session.
start_import().result()

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "claude-code"
FAKE_KEYS = {
    "OPENAI_API_KEY": "sk-test-openai-0000000000001234",
    "GEMINI_API_KEY": "AIza-test-gemini-000000000005678",
    "ANTHROPIC_API_KEY": "sk-ant-test-anthropic-00000009012",
}
# Which BIG/SMALL model strings send requests to each fake dialect.
DIALECT_MODELS = {
    "openai": ("openai/gpt-4.1", "openai/gpt-4.1-mini"),
    "gemini": ("gemini/gemini-2.5-pro", "gemini/gemini-2.5-flash"),
    "anthropic": ("anthropic/claude-sonnet-4-5", "anthropic/claude-haiku-4-5"),
}


@pytest.fixture(autouse=True)
def _hide_user_config(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test reads or writes the developer's own presets, config or data folder."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg_config")))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg_data")))
    monkeypatch.delenv("DATA_DIR", raising=False)


@pytest.fixture(autouse=True)
def _kept_values_unchanged() -> Iterator[None]:
    """After every test, what the process kept to share between requests (Claude Code's tools,
    the conversations so far) is still exactly what was parsed: nobody changed it in place."""
    yield
    for conversation in CONVERSATIONS._entries:
        assert orjson.dumps(conversation.messages)[1:-1] == b"".join(conversation.chunks), (
            "a kept conversation was changed in place"
        )
    for tools in TOOLS._entries:
        assert orjson.dumps(tools.tools) == tools.json, "a kept tools list was changed in place"


@pytest.fixture(autouse=True)
def _private_data_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test writes to the developer's data folder: the store and history files go to a tmp
    DATA_DIR (and XDG_DATA_HOME, for code that reads it directly)."""
    folder = tmp_path_factory.mktemp("data")
    monkeypatch.setenv("DATA_DIR", str(folder))
    monkeypatch.setenv("XDG_DATA_HOME", str(folder / "xdg"))


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    """A fake provider speaking OpenAI, Gemini and Anthropic on one loopback port."""
    up = FakeUpstream()
    await up.start()
    try:
        yield up
    finally:
        await up.stop()


def proxy_env(up: FakeUpstream, **extra: str) -> dict[str, str]:
    """Environment that points every provider at the fake upstream."""
    env = {
        **FAKE_KEYS,
        "OPENAI_API_BASE": up.url + "/v1",
        "GEMINI_API_BASE": up.url + "/v1beta",
        "ANTHROPIC_API_BASE": up.url,
        "PORT": "0",
        "HOST": "127.0.0.1",
    }
    env.update(extra)
    return env


ProxyFactory = Callable[..., Awaitable[ProxyServer]]


@pytest.fixture
async def make_proxy(upstream: FakeUpstream) -> AsyncIterator[ProxyFactory]:
    """Start real proxies (port 0) configured against the fake upstream; stopped after the test."""
    servers: list[ProxyServer] = []

    async def factory(**env: Any) -> ProxyServer:
        settings = load_settings(environ=proxy_env(upstream, **{k: str(v) for k, v in env.items()}))
        server = ProxyServer(settings)
        await server.start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        await server.stop()


@pytest.fixture(params=["openai", "gemini", "anthropic"])
def dialect(request: pytest.FixtureRequest) -> str:
    """Each upstream dialect in turn."""
    return str(request.param)


@pytest.fixture(params=["native", "litellm"])
def engine(request: pytest.FixtureRequest) -> str:
    """Both upstream engines in turn."""
    return str(request.param)


@pytest.fixture
async def proxy(make_proxy: ProxyFactory, dialect: str, engine: str) -> ProxyServer:
    """The proxy with BIG/SMALL mapped to `dialect`, using `engine`."""
    big, small = DIALECT_MODELS[dialect]
    return await make_proxy(BIG_MODEL=big, SMALL_MODEL=small, UPSTREAM_ENGINE=engine)
