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

from proxy.core.tools_cache import TOOLS

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
TOOL_RESULT_CONTENT = (str, list, type(None))


def _is_str_or_none(value: Any) -> bool:
    return value is None or value.__class__ is str


def _number(value: Any, low: float, high: float | None) -> bool:
    cls = value.__class__
    if cls is not int and cls is not float:
        return False
    return bool(value >= low and (high is None or value <= high))


def _messages(messages: Any) -> bool:
    if messages.__class__ is not list:
        return False
    for message in messages:
        if message.__class__ is not dict:
            return False
        role = message.get("role")
        if role.__class__ is not str or role not in ROLES:
            return False
        content = message.get("content")
        if content.__class__ is str:
            continue
        if content.__class__ is not list:
            return False
        for block in content:
            if block.__class__ is not dict or not _block(block):
                return False
    return True


def _block(block: dict[str, Any]) -> bool:
    kind = block.get("type")
    if kind.__class__ is not str:
        return False
    for name, cls in BLOCK_FIELDS.get(kind, ()):
        if block.get(name).__class__ is not cls:
            return False
    return kind != "tool_result" or block.get("content").__class__ in TOOL_RESULT_CONTENT


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


def _system(system: Any) -> bool:
    if system is None or system.__class__ is str:
        return True
    if system.__class__ is not list:
        return False
    for block in system:
        if block.__class__ is not dict or block.get("text").__class__ is not str:
            return False
        if "type" in block and block["type"].__class__ is not str:
            return False
    return True


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
    model = body.get("model")
    if model.__class__ is not str or not model:
        return False
    if not (
        _messages(body.get("messages"))
        and _system(body.get("system"))
        and _tools(body.get("tools"))
        and _tool_choice(body.get("tool_choice"))
        and _thinking(body.get("thinking"))
    ):
        return False
    if not messages_request:
        return True
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
