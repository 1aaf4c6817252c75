"""The check every kept-part cache (tools, system blocks, conversations) must pass: a body
parses to what orjson makes of it, and broken JSON is never adopted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from proxy.core.spliced import parse_cut


def check_parses_as_orjson(cache: Any, raw: bytes, parsed: Callable[[bytes], Any]) -> None:
    """`parsed(raw)` (the body through `cache`'s cut) equals orjson's parse of `raw`; when `raw`
    is not JSON, no cut of it is adopted (the caller parses it whole and reports the error)."""
    try:
        expected = orjson.loads(raw)
    except orjson.JSONDecodeError:
        found = cache.cut(raw)
        assert found is None or not cache.adopt(parse_cut(raw, [found.cut]), found)
        return
    assert parsed(raw) == expected
