"""A hand-written check of the Messages fields the proxy uses, before pydantic's.

`validate.py`'s pydantic models say what a valid body is, and word every error. Running them
over every block of an 80 KB Claude Code request costs more than the rest of the request's
checks together, so this answers the common case first: True only when every field it knows
has a type and value those models accept (parsed JSON: dict, list, str, int, float, bool,
None). Anything else, and anything it is unsure of, returns False and goes to pydantic, so an
invalid body gets exactly the error it got before and the models stay the one definition.
"""

from __future__ import annotations

from typing import Any

import orjson

from proxy.core.conversation_cache import Prefix
from proxy.core.tokens import CHARS_PER_TOKEN, IMAGE_TOKENS, MEDIA, text_chars
from proxy.core.tools_cache import SYSTEM, TOOLS
from proxy.translate.json_depth import too_deep, wrapped

ROLES = frozenset({"user", "assistant", "system"})
TOOL_CHOICES = frozenset({"auto", "any", "tool", "none"})
# The fields each known block type must carry, with their classes (validate.BLOCK_FIELDS).
BLOCK_FIELDS: dict[str, tuple[tuple[str, type], ...]] = {
    "text": (("text", str),),
    "thinking": (("thinking", str),),
    "redacted_thinking": (("data", str),),
    "tool_use": (("id", str), ("name", str), ("input", dict)),
    "tool_result": (("tool_use_id", str),),
    "image": (("source", dict),),
    "document": (("source", dict),),
}
# Keys a block of each type may hold beside the one `tokens.text_chars` counts for it (a block
# with any other key is counted by that walk itself, so the two counts always agree).
TEXT_KEYS = frozenset({"type", "text", "cache_control", "citations"})
RESULT_KEYS = frozenset({"type", "tool_use_id", "content", "is_error", "cache_control"})
COUNTED_KEYS: dict[str, frozenset[str]] = {
    "thinking": frozenset({"type", "thinking", "signature"}),
    "redacted_thinking": frozenset({"type", "data"}),
    "tool_use": frozenset({"type", "id", "name", "input", "cache_control", "caller"}),
}
MESSAGE_KEYS = frozenset({"role", "content"})
SYSTEM_KEYS = frozenset({"type", "text", "cache_control"})
MEDIA_CHARS = IMAGE_TOKENS * CHARS_PER_TOKEN
TOO_DEEP = -2
"""`valid_chars`: the body nests deeper than orjson writes back (json_depth), valid or not."""
OWN_KEYS = frozenset({"messages", "system", "tools"})
"""Top-level fields whose depth the walk checks itself (tools: when they are parsed)."""
# Containers enclosing a value, counting the body: a message's field, a block's field, a field of
# an item in a tool_result's content list (json_depth.too_deep).
IN_MESSAGE, IN_BLOCK, IN_RESULT_ITEM = 3, 5, 7


def _is_str_or_none(value: Any) -> bool:
    return value is None or value.__class__ is str


def _number(value: Any, low: float, high: float | None) -> bool:
    cls = value.__class__
    if cls is not int and cls is not float:
        return False
    return bool(value >= low and (high is None or value <= high))


def _messages(messages: Any, known: int, each: list[int] | None) -> int:
    # Counts the token estimate's characters on the way (-1: not surely valid), from message
    # `known` on (those before were checked and counted on an earlier request: Prefix), and
    # appends each message's count to `each`.
    if messages.__class__ is not list:
        return -1
    chars = 0
    for message in messages[known:] if known else messages:
        if message.__class__ is not dict:
            return -1
        role = message.get("role")
        if role.__class__ is not str or role not in ROLES:
            return -1
        content = message.get("content")
        if len(message) > 2 and _fields_deep(message, IN_MESSAGE, "content"):
            return TOO_DEEP
        if content.__class__ is str:
            counted = len(content)
        elif content.__class__ is not list:
            return -1
        else:
            counted = 0
            for block in content:
                if block.__class__ is not dict:
                    return -1
                size = _block(block)
                if size < 0:
                    return size
                counted += size
        # A message with more than role and content: the estimate's own walk counts it.
        if not message.keys() <= MESSAGE_KEYS:
            counted = text_chars(message)
        chars += counted
        if each is not None:
            each.append(counted)
    return chars


def _block(block: dict[str, Any]) -> int:
    # The characters tokens.estimate_input_tokens counts for this block (-1: not surely valid),
    # without its walk when the block holds only the keys its type is known for.
    kind = block.get("type")
    if kind == "text":  # the common types first, each checked and counted in one go
        text = block.get("text")
        if text.__class__ is not str:
            return -1
        if len(block) > 2 and _fields_deep(block, IN_BLOCK):
            return TOO_DEEP
        return len(text) if block.keys() <= TEXT_KEYS else text_chars(block)
    if kind == "tool_result":
        if block.get("tool_use_id").__class__ is not str:
            return -1
        content = block.get("content")
        if content.__class__ is str:
            chars = len(content)
        elif content.__class__ is list or content is None:
            if content and _result_items_deep(content):
                return TOO_DEEP
            chars = text_chars(content)
        else:
            return -1
        if len(block) > 2 and _fields_deep(block, IN_BLOCK, "content"):
            return TOO_DEEP
        return chars if block.keys() <= RESULT_KEYS else text_chars(block)
    if kind.__class__ is not str:
        return -1
    for name, cls in BLOCK_FIELDS.get(kind, ()):
        if block.get(name).__class__ is not cls:
            return -1
    if kind == "tool_use":
        if _fields_deep(block, IN_BLOCK, "input"):
            return TOO_DEEP
        try:  # the input's own size is counted: one serialisation checks its depth too
            size = len(orjson.dumps(wrapped(block["input"], IN_BLOCK))) - 2 * IN_BLOCK
        except orjson.JSONEncodeError:
            return TOO_DEEP
        if not block.keys() <= COUNTED_KEYS["tool_use"]:
            return text_chars(block)
        return size
    if _fields_deep(block, IN_BLOCK):
        return TOO_DEEP
    if kind in MEDIA:
        return MEDIA_CHARS  # its source was checked to be an object
    known = COUNTED_KEYS.get(kind)
    if known is None or not block.keys() <= known:
        return text_chars(block)
    if kind == "thinking":
        return len(block["thinking"])
    return 0  # redacted_thinking: nothing counted


def _fields_deep(container: dict[str, Any], enclosing: int, skip: str = "") -> bool:
    # The dict's own fields but `skip` (checked by the caller), each inside `enclosing`.
    for key, value in container.items():
        cls = value.__class__
        if (cls is dict or cls is list) and key != skip and too_deep(value, enclosing):
            return True
    return False


def _result_items_deep(content: list[Any]) -> bool:
    # A tool_result's content items: blocks whose texts need no serialising to bound them.
    for item in content:
        if item.__class__ is dict:
            if _fields_deep(item, IN_RESULT_ITEM):
                return True
        elif item.__class__ is list and too_deep(item, IN_RESULT_ITEM - 1):
            return True
    return False


def _thinking(thinking: Any) -> bool:
    if thinking is None:
        return True
    if thinking.__class__ is not dict or thinking.get("type").__class__ is not str:
        return False
    budget = thinking.get("budget_tokens")
    return budget is None or (budget.__class__ is int and budget >= 0)


def _output_config(config: Any) -> bool:
    if config is None:
        return True
    if config.__class__ is not dict:
        return False
    fmt = config.get("format")
    return _is_str_or_none(config.get("effort")) and (fmt is None or fmt.__class__ is dict)


def _system(system: Any) -> int:
    # Counts the token estimate's characters on the way (-1: not surely valid).
    if system is None:
        return 0
    if system.__class__ is str:
        return len(system)
    if system.__class__ is not list:
        return -1
    chars = 0
    for block in system:
        if block.__class__ is not dict:
            return -1
        text = block.get("text")
        if text.__class__ is not str:
            return -1
        if "type" in block and block["type"].__class__ is not str:
            return -1
        if len(block) > 1 and _fields_deep(block, IN_MESSAGE):
            return TOO_DEEP
        chars += len(text) if block.keys() <= SYSTEM_KEYS else text_chars(block)
    return chars


def _tools(tools: Any) -> bool:
    if tools is None:
        return True
    # Claude Code's tools are the same list object while they are the same bytes (TOOLS).
    return TOOLS.memo(tools, "valid", lambda: _each_tool(tools))


def _each_tool(tools: Any) -> bool:
    if tools.__class__ is not list:
        return False
    for tool in tools:
        if tool.__class__ is not dict or tool.get("name").__class__ is not str:
            return False
        schema = tool.get("input_schema")
        if schema is not None and schema.__class__ is not dict:
            return False
        if not (_is_str_or_none(tool.get("description")) and _is_str_or_none(tool.get("type"))):
            return False
    return True


def _tool_choice(choice: Any) -> bool:
    if choice is None:
        return True
    if choice.__class__ is not dict:
        return False
    kind = choice.get("type")
    if kind.__class__ is not str or kind not in TOOL_CHOICES:
        return False
    disable = choice.get("disable_parallel_tool_use")
    return _is_str_or_none(choice.get("name")) and (disable is None or disable.__class__ is bool)


def looks_valid(body: dict[str, Any], *, messages_request: bool) -> bool:
    """True when pydantic's MessagesRequest (or CountTokensRequest) surely accepts `body`."""
    return valid_chars(body, messages_request=messages_request) >= 0


def valid_chars(
    body: dict[str, Any],
    *,
    messages_request: bool,
    prefix: Prefix | None = None,
    each: list[int] | None = None,
) -> int:
    """`looks_valid`, and on the same walk the characters the token estimate counts.

    -1 when the body is not surely valid; else what `tokens.text_chars` gives for its system
    plus its messages (`tokens.tokens_from_chars` adds the tools). `prefix`: the body's first
    messages, checked and counted before; `each` gets the count of every message after them.
    """
    model = body.get("model")
    if model.__class__ is not str or not model:
        return -1
    if prefix is None:
        chars = _messages(body.get("messages"), 0, each)
    else:
        chars = _messages(body.get("messages"), prefix.known, each)
        if chars >= 0:
            chars += prefix.chars
    if chars < 0:
        return chars
    blocks = body.get("system")
    # A kept list (SYSTEM: the same bytes as an earlier body's) was walked once.
    system = (
        SYSTEM.memo(blocks, "chars", lambda: _system(blocks))
        if blocks.__class__ is list
        else _system(blocks)
    )
    if system == TOO_DEEP:
        return TOO_DEEP
    if system < 0 or not (
        _tools(body.get("tools"))
        and _tool_choice(body.get("tool_choice"))
        and _thinking(body.get("thinking"))
    ):
        return -1
    chars += system
    if not messages_request or _other_fields(body):
        for key, value in body.items():  # what the walk did not bound: tools are checked apart
            cls = value.__class__
            if (cls is dict or cls is list) and key not in OWN_KEYS and too_deep(value, 1):
                return TOO_DEEP
        return chars
    return -1


def _other_fields(body: dict[str, Any]) -> bool:
    metadata = body.get("metadata")
    if not (metadata is None or metadata.__class__ is dict) or not _output_config(
        body.get("output_config")
    ):
        return False
    max_tokens = body.get("max_tokens")
    if max_tokens.__class__ is not int or max_tokens < 1:
        return False
    stream = body.get("stream")
    if stream is not None and stream.__class__ is not bool:
        return False
    for key, low, high in (("temperature", 0, 2), ("top_p", 0, 1)):
        value = body.get(key)
        if value is not None and not _number(value, low, high):
            return False
    top_k = body.get("top_k")
    if top_k is not None and (top_k.__class__ is not int or top_k < 0):
        return False
    stops = body.get("stop_sequences")
    if stops is not None:
        if stops.__class__ is not list:
            return False
        for stop in stops:
            if stop.__class__ is not str:
                return False
    return True
