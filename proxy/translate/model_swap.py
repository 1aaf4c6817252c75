"""The client's own request bytes with only the top-level model replaced (Anthropic pass-through).

Serialising an 80 KB Claude Code body again costs CPython's UTF-8 encoding of its non-ASCII texts
plus orjson's copy; when the model is the only change, the bytes the client sent can go instead.
The swap must hit the top-level `model` and nothing else, and leave no second top-level `model`
(orjson keeps the last of duplicate keys; an upstream might keep the first), so it is made only
when that is certain from the bytes alone:

- JSON strings hold no unescaped `"`, so the bytes `"model"` occur only as a whole string token:
  a key or a value. Counted outside the kept tools and messages (all of it nested), exactly one
  such token means it is the top-level key the parsed body has (and no other key or value reads
  `model` anywhere, nested or duplicated).
- A key spelled with escapes (`"mod\\u0065l"`) also parses as `model`: any `\\u006` (the escapes of
  m, o, d, e, l all start so; JSON encoders never write them) and the swap is not made.
- The value must be written as orjson writes the parsed model (no escapes, no odd spacing inside).

Anything else returns None and the caller serialises the parsed body as before; so does an
all-ASCII body with no kept parts (orjson copies ASCII texts as they are: cheaper than the
searches here).
"""

from __future__ import annotations

from typing import NamedTuple

import orjson

from proxy.core.conversation_cache import Prefix
from proxy.core.spliced import Span

MODEL_KEY = b'"model"'
ESCAPE = b"\\u006"
"""How any escaped spelling of `model` starts (\\u006d, \\u006f, \\u0064, \\u0065, \\u006c)."""
WHITESPACE = b" \t\n\r"


class RawBody(NamedTuple):
    """The bytes a request body was parsed from, where kept parts sat in them (sorted, each
    nested in one top-level value), and the kept messages it starts with."""

    data: bytes
    kept: tuple[Span, ...] = ()
    prefix: Prefix | None = None


def _find_outside(raw: bytes, needle: bytes, kept: tuple[Span, ...], start: int = 0) -> int:
    for span in kept:
        if start < span.start:
            at = raw.find(needle, start, span.start)
            if at >= 0:
                return at
        start = max(start, span.end)
    return raw.find(needle, start)


def swapped_model(body: RawBody, old: str, new: str) -> bytes | None:
    """`body`'s bytes with the top-level model `old` written as `new`, or None when the swap
    cannot be proved to change that and only that (see the module docstring), or would not
    pay: texts all ASCII serialise at the speed of a copy, faster than the checks here unless
    kept parts (tools, messages) spare most of them."""
    raw, kept, _ = body
    if not kept and raw.isascii():
        return None
    # What the kept tools and messages hold is nested in them: never a top-level key.
    found = _find_outside(raw, MODEL_KEY, kept)
    if found < 0 or _find_outside(raw, MODEL_KEY, kept, found + 1) >= 0:
        return None
    if _find_outside(raw, ESCAPE, kept) >= 0:
        return None
    at = found + len(MODEL_KEY)
    size = len(raw)
    while at < size and raw[at] in WHITESPACE:
        at += 1
    if at >= size or raw[at] != 0x3A:  # ":"
        return None
    at += 1
    while at < size and raw[at] in WHITESPACE:
        at += 1
    written = orjson.dumps(old)
    if not raw.startswith(written, at):
        return None
    if new == old:
        return raw
    view = memoryview(raw)  # one copy of the body, not three
    return b"".join((view[:at], orjson.dumps(new), view[at + len(written) :]))
