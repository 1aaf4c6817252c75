"""`scrub` skips the key pattern's search when no match can exist; its answers stay the search's."""

from __future__ import annotations

import random

from proxy.core.errors import KEY_PATTERN, mask_key, scrub

PIECES = [
    "sk-",
    "AIza",
    "key=",
    "token=",
    "SK-",
    "Key=",
    "abcdEFGH1234_-",
    "x" * 20,
    " ",
    "é",
    "\n",
]


def _searched(text: str) -> str:
    return KEY_PATTERN.sub(lambda m: mask_key(m.group(0)) or "***", text)


def test_scrub_agrees_with_the_search_on_seeded_texts() -> None:
    rng = random.Random(5)
    masked = 0
    for _ in range(3000):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 12)))
        assert scrub(text) == _searched(text)
        masked += scrub(text) != text
    assert masked > 100
    assert scrub("no key here: sk_live, AIz, key:") == "no key here: sk_live, AIz, key:"
