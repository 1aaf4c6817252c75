"""Presets: the shipped seven, the user file (atomic, tomli-w), broken files, and the HTTP routes."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from proxy.core import catalogue
from proxy.state.presets import BUILTIN_FILE, Preset, PresetFileError, PresetStore, parse_presets
from tests.conftest import ProxyFactory
from tests.support.mgmt import BIG, SMALL, call

SHIPPED = [
    ("openai_premium", "openai/gpt-5.5", "openai/gpt-5.4-mini"),
    ("gemini_balanced", "gemini/gemini-3.1-pro-preview", "gemini/gemini-3.5-flash"),
    ("anthropic_pure", "anthropic/claude-sonnet-5-5", "anthropic/claude-haiku-5-5"),
    ("cross_premium", "openai/gpt-5.5", "gemini/gemini-3.5-flash"),
    ("cross_balanced", "gemini/gemini-3.1-pro-preview", "openai/gpt-5.4-mini"),
    ("openai_reasoning", "openai/gpt-5.6", "openai/gpt-5.4-mini"),
    ("cross_speed", "anthropic/claude-haiku-5-5", "gemini/gemini-3.5-flash-lite"),
]


def test_shipped_presets_in_order(tmp_path: Path) -> None:
    store = PresetStore(tmp_path / "none.toml")
    assert store.error is None
    presets = store.list()
    assert [(p.name, p.big, p.small) for p in presets] == SHIPPED
    for preset in presets:
        assert preset.builtin
        assert preset.description and "\n" not in preset.description
        for model in (preset.big, preset.small):
            assert model.split("/", 1)[0] in catalogue.known_prefixes()


def test_user_presets_override_and_append(tmp_path: Path) -> None:
    user = tmp_path / "presets.toml"
    user.write_text(
        '[presets.mine]\nbig = "openai/gpt-4.1"\nsmall = "openai/gpt-4.1-mini"\n\n'
        '[presets.cross_speed]\ndescription = "my speed"\nbig = "openai/gpt-4.1-nano"\n'
        'small = "openai/gpt-4.1-nano"\n'
    )
    store = PresetStore(user)
    names = store.names()
    assert names == [name for name, _, _ in SHIPPED] + ["mine"]
    speed = store.get("cross_speed")
    assert speed == Preset("cross_speed", "openai/gpt-4.1-nano", "openai/gpt-4.1-nano", "my speed")
    assert store.list()[6] == speed  # keeps its place (number key 7)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[presets.a]\nbig = "openai/x"\nsmall = \n', "line 3"),
        ('\n\n[presets.a]\nbig = "nosuch/x"\nsmall = "openai/y"\n', "line 4: preset 'a': unknown"),
        ('[presets.a]\nbig = "openai/x"\n', "line 1: preset 'a': `small` must be"),
        ('[presets.a]\nbig = "openai/x"\nsmall = "openai/y"\nsmal = "z"\n', "unknown key(s) smal"),
        ("presets = 3\n", "must be a table"),
    ],
)
def test_broken_user_file_names_file_and_line(tmp_path: Path, text: str, needle: str) -> None:
    user = tmp_path / "presets.toml"
    user.write_text(text)
    store = PresetStore(user)
    assert store.error is not None
    assert str(user) in store.error
    assert needle in store.error
    # The built-in seven are still there.
    assert [p.name for p in store.list()] == [name for name, _, _ in SHIPPED]


async def test_broken_user_file_is_not_overwritten(tmp_path: Path) -> None:
    user = tmp_path / "presets.toml"
    user.write_text("[presets.a\n")
    store = PresetStore(user)
    with pytest.raises(PresetFileError, match="fix or remove it"):
        await store.save(Preset("b", "openai/x", "openai/y"))
    assert user.read_text() == "[presets.a\n"


async def test_save_and_delete_write_the_user_file(tmp_path: Path) -> None:
    user = tmp_path / "sub" / "presets.toml"
    store = PresetStore(user)
    await store.save(Preset("fast", "openai/gpt-4.1-mini", "openai/gpt-4.1-nano", "quick"))
    await store.save(Preset("deep", "anthropic/claude-opus-4-5", "openai/gpt-4.1-mini"))
    data = tomllib.loads(user.read_text())
    assert list(data["presets"]) == ["fast", "deep"]
    assert data["presets"]["fast"] == {
        "description": "quick",
        "big": "openai/gpt-4.1-mini",
        "small": "openai/gpt-4.1-nano",
    }
    # What was written is read back the same by a fresh store (a restart).
    again = PresetStore(user)
    assert again.get("fast") == store.get("fast")
    await again.delete("fast")
    assert list(tomllib.loads(user.read_text())["presets"]) == ["deep"]
    with pytest.raises(KeyError):
        await again.delete("fast")
    assert not list(user.parent.glob("*.tmp"))


def test_builtin_file_parses_strictly() -> None:
    presets = parse_presets(BUILTIN_FILE.read_text(), BUILTIN_FILE, builtin=True)
    assert len(presets) == 7


async def test_presets_over_http(
    make_proxy: ProxyFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    listed = (await call(proxy.url, "GET", "/presets")).json
    assert [p["name"] for p in listed["presets"]] == [name for name, _, _ in SHIPPED]
    assert listed["user_file"] == str(tmp_path / "xdg" / "claude-proxy" / "presets.toml")
    assert listed["error"] is None

    saved = await call(
        proxy.url,
        "POST",
        "/presets",
        {"name": "mine", "big_model": "gpt-4.1", "small_model": "anthropic/claude-haiku-4-5"},
    )
    assert saved.status == 201, saved.text
    assert saved.json["preset"] == {
        "name": "mine",
        "big_model": "openai/gpt-4.1",
        "small_model": "anthropic/claude-haiku-4-5",
        "description": "",
        "builtin": False,
        "rules": [],
    }
    assert (tmp_path / "xdg" / "claude-proxy" / "presets.toml").is_file()
    switched = await call(proxy.url, "POST", "/switch_model", {"preset": "mine"})
    assert switched.json["big_model"] == "openai/gpt-4.1"
    models = (await call(proxy.url, "GET", "/models")).json
    assert "mine" in [p["name"] for p in models["presets"]]

    # A restarted proxy reads the saved preset back.
    other = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    assert other.service.presets.get("mine") is not None

    deleted = await call(proxy.url, "DELETE", "/presets/mine")
    assert deleted.json == {"status": "deleted", "name": "mine"}
    assert (await call(proxy.url, "GET", "/presets")).json["presets"][-1]["name"] == "cross_speed"
    builtin = await call(proxy.url, "DELETE", "/presets/openai_premium")
    assert builtin.status == 400
    assert "built-in" in builtin.error
    missing = await call(proxy.url, "DELETE", "/presets/mine")
    assert missing.status == 404
    assert "openai_premium" in missing.error


async def test_presets_file_env_and_validation(make_proxy: ProxyFactory, tmp_path: Path) -> None:
    path = tmp_path / "custom.toml"
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, PRESETS_FILE=str(path))
    cases = [
        ({"big_model": "gpt-4o", "small_model": "gpt-4o"}, "name: field required"),
        ({"name": "x y", "big_model": "gpt-4o", "small_model": "gpt-4o"}, "name: 1-64"),
        ({"name": "x", "small_model": "gpt-4o"}, "big_model: field required"),
        (
            {"name": "x", "big_model": "zz/q", "small_model": "gpt-4o"},
            "big_model: unknown provider",
        ),
        ({"name": "x", "big_model": "a", "small_model": "b", "description": 1}, "description"),
        ({"name": "x", "big_model": "a", "small_model": "b", "extra": 1}, "extra: unknown field"),
    ]
    for body, needle in cases:
        answer = await call(proxy.url, "POST", "/presets", body)
        assert answer.status == 400, answer.text
        assert needle in answer.error
    assert not path.exists()
    ok = await call(
        proxy.url, "POST", "/presets", {"name": "x", "big_model": "gpt-4o", "small_model": "o3"}
    )
    assert ok.status == 201
    assert "[presets.x]" in path.read_text()


async def test_user_override_of_a_builtin_can_be_deleted(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    body = {"name": "cross_speed", "big_model": "gpt-4.1-nano", "small_model": "gpt-4.1-nano"}
    assert (await call(proxy.url, "POST", "/presets", body)).status == 201
    listed = (await call(proxy.url, "GET", "/presets")).json["presets"]
    assert listed[6]["name"] == "cross_speed"
    assert listed[6]["builtin"] is False
    assert (await call(proxy.url, "DELETE", "/presets/cross_speed")).status == 200
    listed = (await call(proxy.url, "GET", "/presets")).json["presets"]
    assert listed[6]["builtin"] is True
    assert listed[6]["big_model"] == "anthropic/claude-haiku-5-5"
