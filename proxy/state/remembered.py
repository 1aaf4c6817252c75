"""The models in force, remembered in state.json, so a restart keeps the user's last choice.

The service applies it at start (a headless proxy restarts on the same models too). What is kept:
the preset's name (its models are read again from the presets, which may have changed) or the
explicit pair, and the .env models at the time of the switch: when BIG_MODEL/SMALL_MODEL changed
since, the user edited the configuration on purpose and it wins.
"""

from __future__ import annotations

import logging
from typing import Any

from proxy.core.settings import Settings
from proxy.routing import model_map as routing
from proxy.routing.model_map import ModelPair
from proxy.state.presets import PresetStore

log = logging.getLogger(__name__)

MODELS_KEY = "models"
"""The key in state.json; null (or absent) means the .env default."""


def default_pair(settings: Settings) -> ModelPair:
    """BIG_MODEL and SMALL_MODEL as configured: what a fresh start runs on."""
    return ModelPair(settings.big_model, settings.small_model, from_env=True)


def to_remember(pair: ModelPair, settings: Settings) -> dict[str, Any] | None:
    """What state.json keeps for `pair` (None for the .env default: nothing to remember)."""
    if pair.from_env:
        return None
    return {
        "preset": pair.preset,
        "big": pair.big,
        "small": pair.small,
        "env": [settings.big_model, settings.small_model],
    }


def _model(value: Any, settings: Settings) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"not a model string: {value!r}")
    return routing.normalise_model_string(value, settings.preferred_provider, strict=True)


def remembered_pair(saved: Any, settings: Settings, presets: PresetStore) -> ModelPair | None:
    """The pair to start on from what state.json holds; None to start on the .env default."""
    if not isinstance(saved, dict):
        return None
    if saved.get("env") != [settings.big_model, settings.small_model]:
        log.info("models: BIG_MODEL/SMALL_MODEL changed since the last switch; using them")
        return None
    name = saved.get("preset")
    if isinstance(name, str):
        preset = presets.get(name)
        if preset is None:
            log.warning("models: the remembered preset %r is gone; using .env", name)
            return None
        return ModelPair(preset.big, preset.small, preset.name)
    try:
        return ModelPair(_model(saved.get("big"), settings), _model(saved.get("small"), settings))
    except (ValueError, routing.ModelStringError) as exc:
        log.warning("models: ignoring the remembered pair: %s", exc)
        return None
