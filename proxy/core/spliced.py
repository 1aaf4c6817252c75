"""Parse a body with known parts of its bytes cut out (the kept tools, the conversation so far).

Each cut replaces a run of bytes with a short splice that holds a sentinel string; the caller
proves from the parsed result that the sentinel landed where the cut part belongs, then puts
the part's kept parsed value there (`proxy.core.tools_cache`, `proxy.core.conversation_cache`).
"""

from __future__ import annotations

import secrets
from typing import Any, NamedTuple

import orjson


class Span(NamedTuple):
    """A run of a body's bytes nested inside one top-level value: no top-level key is in it."""

    start: int
    end: int


class Cut(NamedTuple):
    """raw[start:end] to be parsed as `splice` instead."""

    start: int
    end: int
    splice: bytes


def sentinel(key: bytes, kind: str) -> tuple[str, bytes]:
    """A sentinel string with a per-process nonce (no client can guess it), and `key` followed by
    it: what a cut of `key`'s value is parsed as."""
    value = f"claude-proxy-{kind}-" + secrets.token_hex(12)
    return value, key + orjson.dumps(value)


def parse_cut(raw: bytes, cuts: list[Cut]) -> Any:
    """`raw` parsed with each cut's bytes replaced by its splice; None when that is not JSON.

    The cuts must not overlap (the caller drops one that does)."""
    view = memoryview(raw)
    pieces: list[Any] = []
    at = 0
    for cut in sorted(cuts):
        pieces.append(view[at : cut.start])
        pieces.append(cut.splice)
        at = cut.end
    pieces.append(view[at:])
    try:
        return orjson.loads(b"".join(pieces))
    except orjson.JSONDecodeError:
        return None


def overlap(a: Cut, b: Cut) -> bool:
    """Whether two cuts share a byte."""
    return a.start < b.end and b.start < a.end
