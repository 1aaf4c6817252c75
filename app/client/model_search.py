"""Searching the model catalogue: the closest names first.

Ranks, best first: the name itself ('gpt-4o' finds openai/gpt-4o), a name that starts with the
query (gpt-4o-mini), every word starting a part of the id ('gemini flash'), every word somewhere
in it ('mini' in gemini). Within a rank the shorter id is the closer one (gpt-4o-mini before
gpt-4o-mini-2024-07-18), then catalogue order.
"""

from __future__ import annotations

import re
from typing import Any

EXACT, PREFIX, WORDS, INSIDE = range(4)
_PARTS = re.compile(r"[/\-_.:]")


def rank(model: dict[str, Any], words: list[str]) -> int | None:
    """How closely an id matches the query words (lower is closer); None when a word is missing."""
    model_id = str(model.get("id", "")).lower()
    bare = model_id.split("/", 1)[1] if "/" in model_id else model_id
    query = " ".join(words)
    if query in (model_id, bare):
        return EXACT
    if bare.startswith(query) or model_id.startswith(query):
        return PREFIX
    parts = _PARTS.split(model_id)
    best = WORDS
    for word in words:
        if any(part.startswith(word) for part in parts) or f"/{word}" in f"/{model_id}":
            continue
        if word in model_id:
            best = INSIDE
        else:
            return None
    return best


def search(models: list[dict[str, Any]], query: str) -> list[dict[str, Any]]:
    """The models matching a query, closest first (catalogue order for an empty query)."""
    words = query.lower().split()
    if not words:
        return list(models)
    ranked = [
        (r, len(str(m.get("id", ""))), i, m)
        for i, m in enumerate(models)
        if (r := rank(m, words)) is not None
    ]
    return [m for *_, m in sorted(ranked, key=lambda t: t[:3])]
