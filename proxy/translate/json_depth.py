"""Whether a parsed body nests too deep for orjson to serialise it again (events, detail, upstream).

orjson writes at most 254 nested containers (dicts and lists alike) and raises past that. A body
is refused at the door when it could not be written back, so nothing later (the request detail,
the store, a translated upstream body) meets one it cannot serialise. Serialising the whole body
to find out costs CPython's UTF-8 encoding of every non-ASCII text in it; a body whose messages
and system the validation walk has already checked block by block needs only the values that
walk does not bound (tool inputs, cache_control, citations, unknown fields) serialised, each
wrapped in as many lists as enclose it in the body.
"""

from __future__ import annotations

from typing import Any

import orjson

from proxy.core.errors import ProxyError
from proxy.core.tools_cache import TOOLS

MAX_DEPTH = 254
"""Nested containers orjson serialises (one more raises JSONEncodeError)."""
MIN_DEEP_BODY = 2 * MAX_DEPTH
"""A body must be at least this many bytes to nest that deep: shorter ones skip every check."""


def wrapped(value: Any, enclosing: int) -> Any:
    """`value` inside `enclosing` one-item lists: it serialises iff it does at that depth."""
    for _ in range(enclosing):
        value = [value]
    return value


def too_deep(value: Any, enclosing: int) -> bool:
    """True when `value`, inside `enclosing` containers of a body, nests past MAX_DEPTH."""
    cls = value.__class__
    if cls is dict:
        if enclosing < MAX_DEPTH:
            for item in value.values():
                if item.__class__ is dict or item.__class__ is list:
                    break
            else:
                return False  # one level (cache_control, an image's source): nothing to write
    elif cls is not list:
        return False
    try:
        orjson.dumps(wrapped(value, enclosing))
    except orjson.JSONEncodeError:
        return True
    return False


def deep_error() -> ProxyError:
    """The 400 for a body nesting deeper than orjson can write back."""
    return ProxyError(
        400,
        "invalid_request_error",
        f"request body nests JSON deeper than {MAX_DEPTH} levels; flatten it",
    )


def check_tools_depth(raw: bytes, body: Any, known_tools: bool) -> None:
    """Raise JSONEncodeError when the body's tools nest too deep; keep them for the next body.

    Tools are serialised on their own (`[tools]` nests as deep as the body's tools) and kept
    (`TOOLS`) with that JSON; a kept list passed this test already.
    """
    tools = body.get("tools") if body.__class__ is dict else None
    if tools.__class__ is not list or not tools or known_tools:
        return
    wrapped_tools = orjson.dumps([tools])
    TOOLS.learn(raw, tools, wrapped_tools[1:-1])


def check_rest_depth(body: Any) -> None:
    """Raise JSONEncodeError when `body` (its tools apart, when a list) nests too deep.

    The one exact test: serialise it (C, ~30 us for 80 KB) instead of a Python walk over every
    node (~600 us); the validation walk's own checks (validate_fast) spare even that.
    """
    tools = body.get("tools") if body.__class__ is dict else None
    if tools.__class__ is not list or not tools:
        orjson.dumps(body)
        return
    rest = dict(body)  # a copy in C, then the one key out: the same dict, in the same order
    del rest["tools"]
    orjson.dumps(rest)


def check_depth(raw: bytes, body: Any, known_tools: bool) -> None:
    """Raise JSONEncodeError when `body` nests too deep for orjson to serialise it again."""
    check_tools_depth(raw, body, known_tools)
    check_rest_depth(body)
