"""The seven built-in presets keep their names and order and name models LiteLLM's catalogue knows.

A preset that names a retired or unknown model shows `???` caps and no price and fails every
request; this fails first, when the catalogue (the pinned LiteLLM) no longer has the model or has
retired it.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from proxy.core import catalogue
from proxy.state.presets import BUILTIN_FILE, PresetStore, parse_presets

NAMES = [
    "openai_premium",
    "gemini_balanced",
    "anthropic_pure",
    "cross_premium",
    "cross_balanced",
    "openai_reasoning",
    "cross_speed",
]
BUILTINS = parse_presets(BUILTIN_FILE.read_text(), BUILTIN_FILE, builtin=True)
MODELS = sorted({p.big for p in BUILTINS} | {p.small for p in BUILTINS})


def test_the_seven_names_in_their_order() -> None:
    assert [p.name for p in BUILTINS] == NAMES
    assert all(p.description for p in BUILTINS)


def test_the_providers_keep_each_presets_intent() -> None:
    provider = {p.name: (p.big.split("/")[0], p.small.split("/")[0]) for p in BUILTINS}
    assert provider["openai_premium"] == ("openai", "openai")
    assert provider["gemini_balanced"] == ("gemini", "gemini")
    assert provider["anthropic_pure"] == ("anthropic", "anthropic")
    assert provider["cross_premium"] == ("openai", "gemini")
    assert provider["cross_balanced"] == ("gemini", "openai")
    assert provider["openai_reasoning"] == ("openai", "openai")
    assert provider["cross_speed"] == ("anthropic", "gemini")


@pytest.mark.parametrize("model", MODELS)
def test_every_model_is_a_current_chat_model_of_the_catalogue(model: str) -> None:
    info = catalogue.lookup(model)
    assert info is not None, f"{model} is not in LiteLLM's catalogue: pick a current model"
    assert info.get("mode") == "chat", f"{model} is not a chat model ({info.get('mode')})"
    assert catalogue.provider_of(info) == model.split("/")[0]
    assert info.get("input_cost_per_token") and info.get("output_cost_per_token")
    assert catalogue.context_window(model), f"{model}: the catalogue has no context window"
    retired = info.get("deprecation_date")
    if retired:
        assert datetime.date.fromisoformat(str(retired)) > datetime.date.today(), (
            f"{model} was retired on {retired}: pick a current model"
        )


def test_the_reasoning_preset_reasons() -> None:
    preset = next(p for p in BUILTINS if p.name == "openai_reasoning")
    assert catalogue.supports(preset.big, "reasoning") is True


def test_a_model_the_catalogue_lacks_is_caught(tmp_path: Path) -> None:
    """The check above would fail for the retired models the presets named before."""
    for retired in ("gemini/gemini-1.5-pro", "openai/o1-preview"):
        assert catalogue.lookup(retired) is None
    store = PresetStore(tmp_path / "none.toml")
    assert [p.name for p in store.list()] == NAMES


@pytest.mark.parametrize("readme", ["README.md", "README.zh-CN.md"])
def test_the_readme_tables_name_these_models(readme: str) -> None:
    text = (BUILTIN_FILE.parent / readme).read_text()
    for number, preset in enumerate(BUILTINS, 1):
        row = f"| {number} | `{preset.name}` | `{preset.big}` | `{preset.small}` |"
        assert row in text, f"{readme} lacks {row}"
