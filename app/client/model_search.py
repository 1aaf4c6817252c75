"""Searching the model catalogue: word-prefix matches first, then plain substrings."""

from __future__ import annotations

import re
from typing import Any


def rank(model: dict[str, Any], words: list[str]) -> int | None:
    """0 when every word starts a part of the id ('mini' in gpt-4.1-mini), 1 when every word is
    merely inside it ('mini' in gemini), None when some word is missing."""
    model_id = str(model.get("id", "")).lower()
    parts = re.split(r"[/\-_.:]", model_id)
    best = 0
    for word in words:
        if any(part.startswith(word) for part in parts) or f"/{word}" in f"/{model_id}":
            continue
        if word in model_id:
            best = 1
        else:
            return None
    return best


def search(models: list[dict[str, Any]], query: str) -> list[dict[str, Any]]:
    """The models matching a query, best matches first, catalogue order within a rank."""
    words = query.lower().split()
    ranked = [(r, i, m) for i, m in enumerate(models) if (r := rank(m, words)) is not None]
    return [m for _, _, m in sorted(ranked, key=lambda t: (t[0], t[1]))]
