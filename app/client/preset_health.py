"""Why a preset's model would not work: its provider has no key, or the catalogue does not know it.

Pure functions over the rows of GET /models (`Backend.model_list()`), so both backends agree with
the proxy's own key decision (`key_usable`).
"""

from __future__ import annotations

from typing import Any

UNKNOWN = "not in LiteLLM's catalogue (no price, no context window)"


def models_by_id(model_list: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """GET /models rows keyed by their `provider/model` id."""
    return {str(row.get("id")): row for row in model_list.get("models", []) if row.get("id")}


def find(model: str, rows: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The row of `model`, also for a bare name the proxy lists under its provider."""
    row = rows.get(model)
    if row is None and "/" not in model:
        row = next((r for key, r in rows.items() if key.endswith("/" + model)), None)
    return row


def model_problem(model: str, rows: dict[str, dict[str, Any]]) -> str | None:
    """What stops `model` from answering (a missing key first), None when nothing does."""
    row = find(model, rows)
    if row is not None and row.get("key_usable") is False:
        return f"no key: set {row.get('key_var')}"
    if row is None or not row.get("in_catalogue"):
        return UNKNOWN
    return None


def preset_problems(big: str, small: str, rows: dict[str, dict[str, Any]]) -> dict[str, str]:
    """`{"big": why, "small": why}` for the models of a preset that would not work."""
    found = {"big": model_problem(big, rows), "small": model_problem(small, rows)}
    return {tier: why for tier, why in found.items() if why}
