"""A request body parsed with the parts the proxy already knows spliced in.

Claude Code sends the same tools and system blocks (`proxy.core.tools_cache`) and the
conversation so far (`proxy.core.conversation_cache`) on every request: the bytes of each known
part are cut out
and parsed as a sentinel, and the kept parsed value takes its place once the parse proves the
cut was exactly that top-level part. Anything unproved parses the whole body.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from proxy.core.conversation_cache import CONVERSATIONS, ConversationCut
from proxy.core.conversation_cache import MIN_BYTES as MESSAGES_MIN_BYTES
from proxy.core.spliced import Cut, overlap, parse_cut
from proxy.core.tools_cache import MIN_BYTES as TOOLS_MIN_BYTES
from proxy.core.tools_cache import SYSTEM, TOOLS, ToolsCut
from proxy.translate.model_swap import RawBody


class Known(NamedTuple):
    """The known parts a body was parsed with."""

    tools: ToolsCut | None = None
    messages: ConversationCut | None = None
    system: ToolsCut | None = None

    def raw_body(self, raw: bytes) -> RawBody:
        """`raw` with where the known parts sat in it, for the model swap and the checks."""
        tools, messages, system = self
        if tools is None and messages is None and system is None:
            return RawBody(raw)
        spans = [tools.span] if tools is not None else []
        if messages is not None:
            spans.append(messages.prefix.span)
        if system is not None:
            spans.append(system.span)
        return RawBody(raw, tuple(sorted(spans)), messages.prefix if messages else None)


NOTHING = Known()


SMALLEST = min(TOOLS_MIN_BYTES, MESSAGES_MIN_BYTES)
"""Smaller bodies hold no known part worth cutting out."""


def parse_known(raw: bytes, scope: str = "") -> tuple[Any, Known]:
    """`raw` (sent by `scope`) parsed with the known parts it holds, or (None, NOTHING): parse
    it whole."""
    if len(raw) < SMALLEST:
        return None, NOTHING
    messages = CONVERSATIONS.cut(raw, scope) if len(raw) >= MESSAGES_MIN_BYTES else None
    # The kept messages come first in Claude Code's bodies: the tools are looked for after.
    tools = TOOLS.cut(raw, (messages.prefix.span,) if messages is not None else ())
    if tools is not None and messages is not None and overlap(tools.cut, messages.cut):
        messages = None  # cannot both be top-level parts: keep the one proved before
    cuts: list[Cut] = [part.cut for part in (tools, messages) if part is not None]
    # Claude Code's system blocks sit between its messages and tools: searched outside both.
    system = SYSTEM.cut(raw, sorted(cuts))
    if system is not None:
        cuts.append(system.cut)
    elif not cuts:
        return None, NOTHING
    body = parse_cut(raw, cuts)
    if tools is not None and not TOOLS.adopt(body, tools):
        return None, NOTHING
    if messages is not None and not CONVERSATIONS.adopt(body, messages):
        return None, NOTHING
    if system is not None and not SYSTEM.adopt(body, system):
        return None, NOTHING
    return body, Known(tools, messages, system)


def learn_system(raw: bytes, body: Any) -> None:
    """Keep the body's system blocks (parsed from `raw`) for the next body that sends them."""
    system = body.get("system") if body.__class__ is dict else None
    if system.__class__ is not list or not system or len(raw) < SMALLEST:
        return
    try:
        json = orjson.dumps(system)
    except orjson.JSONEncodeError:
        return  # too deep: the validation says so
    SYSTEM.learn(raw, system, json)
