"""The models in force survive a restart of the proxy (headless too): state.json in the config
folder, applied by the service at start; a changed .env wins; `default` goes back to .env."""

from __future__ import annotations

import os

import orjson

from proxy.core.paths import config_dir
from tests.conftest import ProxyFactory
from tests.support.fake_upstream import FakeUpstream
from tests.support.mgmt import BIG, SMALL, call, turn


def state() -> dict[str, object]:
    """state.json as the proxy wrote it."""
    return dict(orjson.loads((config_dir() / "state.json").read_bytes()))


async def config(url: str) -> dict[str, object]:
    """GET /config."""
    return dict((await call(url, "GET", "/config")).json)


async def test_a_fresh_start_runs_the_env_default(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    seen = await config(proxy.url)
    assert seen["active_preset"] is None
    assert seen["models_from_env"] is True
    assert not (config_dir() / "state.json").exists()


async def test_a_preset_survives_a_restart(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    first = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    switched = await call(first.url, "POST", "/switch_model", {"preset": "openai_premium"})
    assert switched.json["models_from_env"] is False
    assert state()["models"] == {
        "preset": "openai_premium",
        "big": "openai/gpt-5.5",
        "small": "openai/gpt-5.4-mini",
        "env": [BIG, SMALL],
    }
    await first.stop()
    second = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    seen = await config(second.url)
    assert seen["active_preset"] == "openai_premium"
    assert seen["models_from_env"] is False
    assert (await call(second.url, "POST", "/v1/messages", turn("hi"))).status == 200
    assert upstream.requests[-1].model == "gpt-5.5"


async def test_a_pair_survives_and_default_goes_back(make_proxy: ProxyFactory) -> None:
    first = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    await call(first.url, "POST", "/switch_model", {"big_model": "openai/gpt-4.1-nano"})
    second = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    seen = await config(second.url)
    assert seen["big_model"]["model"] == "openai/gpt-4.1-nano"  # type: ignore[index]
    assert seen["small_model"]["model"] == SMALL  # type: ignore[index]
    assert seen["active_preset"] is None and seen["models_from_env"] is False
    back = await call(second.url, "POST", "/switch_model", {"default": True})
    assert back.json["big_model"] == BIG and back.json["models_from_env"] is True
    assert state()["models"] is None
    third = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    assert (await config(third.url))["models_from_env"] is True


async def test_an_edited_env_wins_over_the_remembered_choice(make_proxy: ProxyFactory) -> None:
    first = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    await call(first.url, "POST", "/switch_model", {"preset": "openai_premium"})
    second = await make_proxy(BIG_MODEL="openai/gpt-4.1-nano", SMALL_MODEL=SMALL)
    seen = await config(second.url)
    assert seen["models_from_env"] is True
    assert seen["big_model"]["model"] == "openai/gpt-4.1-nano"  # type: ignore[index]


async def test_a_damaged_or_stale_state_file_starts_on_the_default(
    make_proxy: ProxyFactory,
) -> None:
    path = config_dir() / "state.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    for stored in (
        {"models": {"preset": "gone-away", "env": [BIG, SMALL]}},
        {"models": {"preset": None, "big": "nope/x y", "small": None, "env": [BIG, SMALL]}},
        {"models": "garbage"},
    ):
        path.write_bytes(orjson.dumps(stored))
        proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
        assert (await config(proxy.url))["models_from_env"] is True, stored
    path.write_text("{ not json")
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    assert (await config(proxy.url))["models_from_env"] is True


async def test_switch_refuses_default_with_a_preset(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    answer = await call(
        proxy.url, "POST", "/switch_model", {"default": True, "preset": "openai_premium"}
    )
    assert answer.status == 400
    assert "give no preset or models with it" in answer.error
    # The fixture's folder, never the developer's own.
    assert str(config_dir()).startswith(os.environ["XDG_CONFIG_HOME"])
