"""Repair a tool call's arguments and name so Claude Code accepts them.

Valid JSON whose values already fit the schema passes untouched (`Repair.kinds` empty); broken
JSON goes through `json-repair`, then every value is coerced to the type the tool's schema
declares. Nothing here invents a key the model did not send.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

_INT = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_TRUE = frozenset({"true", "yes"})
_FALSE = frozenset({"false", "no"})
# Model-side decorations of a tool name: OpenAI-style namespaces, Kimi's "functions.X:0".
_NAME_PREFIXES = ("functions.", "function.", "tools.", "tool.")
_NAME_INDEX = re.compile(r":\d+$")


@dataclass(frozen=True, slots=True)
class Repair:
    """The outcome of repairing one tool call's arguments."""

    input: dict[str, Any]
    """The arguments to send as the tool_use block's `input`."""
    kinds: tuple[str, ...] = ()
    """What was done, e.g. `json_repair`, `double_encoded`, `truncated`, `coerced:integer`."""
    ok: bool = True
    """False when no object could be recovered or a required key is missing."""


def repair_arguments(raw: str, schema: dict[str, Any] | None) -> Repair:
    """Parse (and if need be repair and coerce) a tool call's argument text against its schema."""
    kinds: list[str] = []
    text = raw.strip()
    if not text:
        return _finish({}, kinds, schema)
    try:
        value: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = repair_json_text(text, kinds)
    if isinstance(value, str):
        # A JSON string holding JSON: some models (Granite, small Qwens) encode twice.
        inner = value.strip()
        if inner[:1] in ("{", "["):
            kinds.append("double_encoded")
            try:
                value = orjson.loads(inner)
            except orjson.JSONDecodeError:
                value = repair_json_text(inner, kinds)
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        kinds.append("unwrapped_list")
        value = value[0]
    if not isinstance(value, dict):
        kinds.append("not_an_object")
        return Repair({}, tuple(kinds), False)
    return _finish(value, kinds, schema)


def repair_input(arguments: str | dict[str, Any], schema: dict[str, Any] | None) -> Repair:
    """`repair_arguments` for argument text, coercion alone for an already-parsed object."""
    if isinstance(arguments, str):
        return repair_arguments(arguments, schema)
    return _finish(arguments, [], schema)


def _finish(value: dict[str, Any], kinds: list[str], schema: dict[str, Any] | None) -> Repair:
    if schema:
        value, coerced = coerce_to_schema(value, schema)
        kinds.extend(coerced)
    required = (schema or {}).get("required") or ()
    missing = [key for key in required if isinstance(key, str) and key not in value]
    if missing:
        kinds.append("missing:" + ",".join(missing))
    return Repair(value, tuple(dict.fromkeys(kinds)), not missing)


def repair_json_text(text: str, kinds: list[str]) -> Any:
    """json-repair's reading of broken JSON; appends `json_repair` (and `truncated`) to kinds."""
    import json_repair  # imported on first use: the fast path never needs it

    kinds.append("json_repair")
    if is_truncated_json(text):
        kinds.append("truncated")
    return json_repair.loads(text)


def is_truncated_json(text: str) -> bool:
    """True when brackets or a string are still open at the end (cut off at max_tokens)."""
    depth = 0
    in_string = False
    escaped = False
    quote = ""
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                in_string = False
        elif char in "\"'":
            in_string, quote = True, char
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
    return in_string or depth > 0


# -- schema coercion -----------------------------------------------------------------------------
def coerce_to_schema(value: Any, schema: dict[str, Any]) -> tuple[Any, list[str]]:
    """Convert values to the JSON types the schema declares; return the value and what changed.

    Handles booleans, integers and numbers written as strings, a single value where an array is
    declared, JSON text where an object or array is declared, nested objects and array items.
    Keys the model did not send are never added.
    """
    kinds: list[str] = []
    return _coerce(value, schema, kinds), kinds


def _types(schema: dict[str, Any]) -> list[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return [declared]
    if isinstance(declared, list):
        return [t for t in declared if isinstance(t, str)]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list):
            found: list[str] = []
            for option in options:
                if isinstance(option, dict):
                    found.extend(_types(option))
            return found
    if "properties" in schema:
        return ["object"]
    return []


def _branch(schema: dict[str, Any], kind: str) -> dict[str, Any]:
    """The sub-schema of an anyOf/oneOf that declares `kind` (the schema itself otherwise)."""
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list):
            for option in options:
                if isinstance(option, dict) and kind in _types(option):
                    return option
    return schema


def _fits(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "null":
        return value is None
    return True


def _coerce(value: Any, schema: dict[str, Any], kinds: list[str]) -> Any:
    types = _types(schema)
    if not types:
        return value
    for kind in types:
        if _fits(value, kind):
            return _descend(value, _branch(schema, kind), kind, kinds)
    for kind in types:
        converted = _convert(value, kind)
        if converted is not _NO:
            kinds.append("coerced:" + kind)
            return _descend(converted, _branch(schema, kind), kind, kinds)
    return value


def _descend(value: Any, schema: dict[str, Any], kind: str, kinds: list[str]) -> Any:
    if kind == "object" and isinstance(value, dict):
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            return value
        out = value
        for key, item in value.items():
            sub = properties.get(key)
            if isinstance(sub, dict):
                fixed = _coerce(item, sub, kinds)
                if fixed is not item:
                    if out is value:
                        out = dict(value)
                    out[key] = fixed
        return out
    if kind == "array" and isinstance(value, list):
        items = schema.get("items")
        if not isinstance(items, dict):
            return value
        fixed_items = [_coerce(item, items, kinds) for item in value]
        changed = any(a is not b for a, b in zip(fixed_items, value, strict=True))
        return fixed_items if changed else value
    if kind == "string" and isinstance(value, str):
        return _enum(value, schema, kinds)
    return value


def _enum(value: str, schema: dict[str, Any], kinds: list[str]) -> str:
    options = schema.get("enum")
    if not isinstance(options, list) or value in options:
        return value
    folded = value.strip().lower()
    for option in options:
        if isinstance(option, str) and option.lower() == folded:
            kinds.append("coerced:enum")
            return option
    return value


class _Missing:
    pass


_NO: Any = _Missing()


def _convert(value: Any, kind: str) -> Any:
    """`value` as a `kind`, or _NO when it cannot be read as one."""
    if kind == "boolean":
        if isinstance(value, str):
            folded = value.strip().lower()
            if folded in _TRUE:
                return True
            if folded in _FALSE:
                return False
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        return _NO
    if kind in ("integer", "number"):
        if isinstance(value, str):
            text = value.strip()
            if _INT.fullmatch(text):
                return int(text)
            if _NUMBER.fullmatch(text):
                number = float(text)
                if kind == "integer":
                    return int(number) if number.is_integer() else _NO
                return number
            return _NO
        if kind == "integer" and isinstance(value, float) and value.is_integer():
            return int(value)
        return _NO
    if kind == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        if isinstance(value, dict | list):
            return orjson.dumps(value).decode()
        return _NO
    if kind in ("array", "object"):
        expected = list if kind == "array" else dict
        if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
            try:
                parsed = orjson.loads(value)
            except orjson.JSONDecodeError:
                parsed = None
            if isinstance(parsed, expected):
                return parsed
        if kind == "array" and value is not None:
            return [value]
        return _NO
    return _NO


# -- tool names ----------------------------------------------------------------------------------
def match_tool_name(name: str, offered: Iterable[str]) -> str | None:
    """The offered tool a model meant by `name`, or None when it names no offered tool.

    Tries the exact name, then without `functions.` / `:N` decorations, then case-insensitively,
    then ignoring `_` and `-` (`todo_write` for `TodoWrite`); a fuzzy match must be unique.
    """
    names = offered if isinstance(offered, set | frozenset | dict) else set(offered)
    if name in names:
        return name
    bare = name.strip().strip("\"'`")
    for prefix in _NAME_PREFIXES:
        if bare.startswith(prefix):
            bare = bare[len(prefix) :]
            break
    bare = _NAME_INDEX.sub("", bare)
    if bare in names:
        return bare
    for fold in (str.lower, _squash):
        key = fold(bare)
        found = [offered_name for offered_name in names if fold(offered_name) == key]
        if len(found) == 1:
            return found[0]
    return None


def _squash(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")
