"""Claude Code sends the same tools (and system blocks) on every request: parse, size and
translate them once.

The tools are about 80% of a Claude Code request (26 tools, ~67 KB of its ~80 KB). The first
time a tools array is seen, the bytes it was sent as (when they are what orjson would write:
compact JSON, as Claude Code sends) are kept with the parsed list. A later body holding the same
bytes is parsed without them: the array is cut out of the raw body and replaced by a sentinel
string with a per-process nonce, the rest is parsed, and only when the parsed body's own
top-level `tools` is that sentinel (so the cut was exactly the top-level array, whatever else the
body holds) does the kept list take its place. Anything else parses the whole body as before.

The kept list is shared by every request that sent those bytes, so it is read-only for everyone:
the proxy's own code never changes a body's tools in place (it builds new dicts), and the one
caller that hands them to code it does not own (LiteLLM) gives it a private copy. Values derived
from the list (its OpenAI translation, whether it is valid, its JSON for an upstream body) are
memoised with it (`memo`, `keep_json`, `json_of`), and so are lists made from it (`view`: the
tools a model may see when some are deferred).

The system blocks (~6 KB, the same within a session: even the billing line's hash is the first
prompt's) are kept the same way (`SYSTEM`): a third cut, its validation memoised.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from typing import Any, NamedTuple, TypeVar

import orjson

from proxy.core.spliced import Cut, Span, parse_cut, sentinel

T = TypeVar("T")

KEY = b'"tools":'
"""What a kept tools array follows in a body (SYSTEM's: `"system":`)."""
HEAD = 64
"""Bytes of a kept array searched for first; the whole array is then compared where they are."""
ENTRIES = 4
"""Distinct tools arrays kept: a Claude Code session alternates its main agent's tools and its
subagents' (Explore, Plan: fewer tools), and each would otherwise evict the other."""
JSON = "json"
"""The `derived` slot of the one derived value whose JSON is kept (the tools as sent upstream)."""
VIEWS = 8
"""Lists derived from one kept array kept with it (which deferred tools a session has loaded
grows one tool at a time)."""
MIN_BYTES = 512
"""Smaller arrays are not worth keeping: parsing them is as cheap as finding them."""


ToolsSpan = Span
"""Where a kept tools array sat in the bytes of the body it was cut from: everything between is
nested in the top-level `tools` (`proxy.translate.model_swap` skips it)."""


class ToolsCut(NamedTuple):
    """A kept tools array found in a body's bytes: the cut, and the array to put back."""

    cut: Cut
    entry: _Entry
    span: Span


class _View:
    """A list derived from a kept array (the tools a model may see), memoised like it."""

    __slots__ = ("derived", "tools")

    def __init__(self, tools: list[Any]) -> None:
        self.tools = tools
        self.derived: dict[str, Any] = {}


class _Entry(_View):
    """One array: the bytes it came as, the parsed list, and what was derived from it."""

    __slots__ = ("head", "json", "needle", "views")

    def __init__(self, tools: list[Any], json: bytes, key: bytes) -> None:
        super().__init__(tools)
        self.json = json
        self.needle = key + json
        self.head = self.needle[:HEAD]
        self.views: dict[Hashable, _View] = {}


class ToolsCache:
    """The newest few distinct arrays of one top-level field (`tools` unless said), newest
    first."""

    def __init__(self, entries: int = ENTRIES, field: str = "tools") -> None:
        self.size = entries
        self.field = field
        self.key = f'"{field}":'.encode()
        self._entries: tuple[_Entry, ...] = ()
        self._lock = threading.Lock()  # proxies in several threads (tests, TUI) share it
        self._sentinel, self._splice = sentinel(self.key, field)
        self.hits = 0
        """Bodies parsed with a kept array (for tests and the benchmark)."""

    def _find(self, raw: bytes, skip: Sequence[Span | Cut] = ()) -> tuple[_Entry, int] | None:
        # `skip` (sorted, apart): bytes nested in other top-level values: not searched.
        size = len(raw)
        if not skip:
            ranges: tuple[tuple[int, int], ...] = ((0, size),)
        elif len(skip) == 1:
            ranges = ((0, skip[0].start), (skip[0].end, size))
        else:
            starts = [0, *(part.end for part in skip)]
            ranges = tuple(zip(starts, [*(part.start for part in skip), size], strict=True))
        for entry in self._entries:
            needle, head = entry.needle, entry.head
            for low, high in ranges:
                at = raw.find(head, low, high)
                while at >= 0:
                    # One memcmp where the head matched; `find` with the whole 67 KB needle
                    # would spend ~90 us preparing it.
                    if raw.startswith(needle, at):
                        return entry, at
                    at = raw.find(head, at + 1, high)
        return None

    def parse(self, raw: bytes) -> dict[str, Any] | None:
        """The body parsed with a kept tools array spliced in, or None (parse it whole)."""
        parsed = self.parse_spanned(raw)
        return None if parsed is None else parsed[0]

    def parse_spanned(self, raw: bytes) -> tuple[dict[str, Any], ToolsSpan] | None:
        """`parse`, and where the kept array was in `raw`."""
        found = self.cut(raw)
        if found is None:
            return None
        body = parse_cut(raw, [found.cut])
        if not self.adopt(body, found):
            return None
        return body, found.span

    def cut(self, raw: bytes, skip: Sequence[Span | Cut] = ()) -> ToolsCut | None:
        """Where a kept array is in `raw` (outside the sorted spans or cuts `skip`), to be
        parsed as a sentinel (`parse_cut`)."""
        found = self._find(raw, skip)
        if found is None:
            return None
        entry, at = found
        end = at + len(entry.needle)
        return ToolsCut(Cut(at, end, self._splice), entry, Span(at + len(self.key), end))

    def adopt(self, body: Any, found: ToolsCut) -> bool:
        """Put the kept array in `body` (parsed with `found.cut`) if the cut was its field."""
        # Only the top-level field holding the sentinel proves the cut was that array.
        field = self.field
        if body.__class__ is not dict or body.get(field) != self._sentinel:
            return False
        body[field] = found.entry.tools
        self.hits += 1
        return True

    def learn(self, raw: bytes, tools: Any, json: bytes) -> None:
        """Keep `tools` (parsed from `raw`, serialising to `json`) if `raw` holds it as `json`."""
        if tools.__class__ is not list or len(json) < MIN_BYTES or self._has(tools):
            return
        needle = self.key + json
        head = needle[:HEAD]
        at = raw.find(head)
        while at >= 0 and not raw.startswith(needle, at):
            at = raw.find(head, at + 1)
        if at < 0:
            return  # sent in another format (spaces, escapes): never found again either
        with self._lock:
            kept = tuple(e for e in self._entries if e.json != json)
            self._entries = (_Entry(tools, json, self.key), *kept)[: self.size]

    def _has(self, tools: Any) -> bool:
        return any(entry.tools is tools for entry in self._entries)

    def _entry(self, tools: Any) -> _View | None:
        for entry in self._entries:
            if entry.tools is tools:
                return entry
            if entry.views:
                for view in entry.views.values():
                    if view.tools is tools:
                        return view
        return None

    def view(self, tools: Any, key: Hashable, build: Callable[[], list[Any]]) -> list[Any]:
        """`build()`, a list derived from `tools`, made once per kept list and `key` and then
        memoised like a kept list itself (`memo`, `keep_json`); made every time otherwise."""
        entry = self._entry(tools)
        if entry is None or not isinstance(entry, _Entry):
            return build()
        view = entry.views.get(key)
        if view is None:
            if len(entry.views) >= VIEWS:
                entry.views.pop(next(iter(entry.views)))
            view = entry.views[key] = _View(build())
        return view.tools

    def json_of(self, value: Any) -> bytes | None:
        """The JSON of a kept tools list, or of a value registered with `keep_json`."""
        for entry in self._entries:
            if entry.tools is value:
                return entry.json
            derived = entry.derived.get(JSON)
            if derived is not None and derived[0] is value:
                return derived[1]
            for view in entry.views.values():
                derived = view.derived.get(JSON)
                if derived is not None and derived[0] is value:
                    return derived[1]
        return None

    def memo(self, tools: Any, key: str, build: Callable[[], T]) -> T:
        """`build()`, computed once per kept tools list (every time for any other list)."""
        entry = self._entry(tools)
        if entry is None:
            return build()
        if key not in entry.derived:
            entry.derived[key] = build()
        return entry.derived[key]

    def keep_json(self, tools: Any, value: Any) -> None:
        """Serialise `value` (derived from the kept list `tools`) once, for `json_of`."""
        entry = self._entry(tools)
        if entry is not None and (entry.derived.get(JSON) or (None,))[0] is not value:
            entry.derived[JSON] = (value, orjson.dumps(value))

    def clear(self) -> None:
        """Forget every kept array."""
        with self._lock:
            self._entries = ()


TOOLS = ToolsCache()
"""The process' cache: bodies are parsed before anyone knows which proxy or model serves them."""
SYSTEM = ToolsCache(field="system")
"""The process' kept system block lists (a Claude Code session's main agent and subagents')."""


def tools_json_size(tools: Any) -> int | None:
    """len(orjson.dumps(tools)) when `tools` is a kept list (known without serialising it)."""
    data = TOOLS.json_of(tools)
    return len(data) if data is not None else None
