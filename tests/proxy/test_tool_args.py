"""Argument repair, schema coercion and tool-name matching."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.translate.tool_args import (
    coerce_to_schema,
    is_truncated_json,
    match_tool_name,
    repair_arguments,
    repair_input,
)

BASH: dict[str, Any] = {
    "type": "object",
    "properties": {
        "command": {"type": "string"},
        "timeout": {"type": "number"},
        "description": {"type": "string"},
        "run_in_background": {"type": "boolean"},
    },
    "required": ["command"],
}
OFFERED = ["Bash", "Read", "Edit", "TodoWrite", "WebFetch", "mcp__github__create_issue"]


# -- repair_arguments -----------------------------------------------------------------------------
def test_valid_json_that_fits_passes_untouched() -> None:
    repair = repair_arguments('{"command": "ls -la", "timeout": 5000}', BASH)
    assert repair.input == {"command": "ls -la", "timeout": 5000}
    assert repair.kinds == ()
    assert repair.ok


def test_valid_json_without_schema_passes_untouched() -> None:
    repair = repair_arguments('{"anything": ["goes", 1]}', None)
    assert (repair.input, repair.kinds, repair.ok) == ({"anything": ["goes", 1]}, (), True)


@pytest.mark.parametrize(
    ("raw", "expected", "kinds"),
    [
        ('{"command": "ls",}', {"command": "ls"}, {"json_repair"}),
        ("{'command': 'ls', 'run_in_background': True}", None, {"json_repair"}),
        ('{command: "ls", description: None}', None, {"json_repair"}),
        ('{"command": "echo hi", "timeout": 10', None, {"json_repair", "truncated"}),
        ('{"command": "echo \\"unfinished', None, {"json_repair", "truncated"}),
        ('"{\\"command\\": \\"ls\\"}"', {"command": "ls"}, {"double_encoded"}),
        ('"{\\"command\\": \\"ls\\",}"', {"command": "ls"}, {"double_encoded", "json_repair"}),
        ('[{"command": "ls"}]', {"command": "ls"}, {"unwrapped_list"}),
        ('{"command": "cat\na.txt"}', {"command": "cat\na.txt"}, {"json_repair"}),
    ],
)
def test_broken_json_is_repaired(
    raw: str, expected: dict[str, Any] | None, kinds: set[str]
) -> None:
    repair = repair_arguments(raw, BASH)
    assert repair.ok
    assert kinds <= set(repair.kinds)
    assert repair.input["command"].startswith(("ls", "echo", "cat"))
    if expected is not None:
        assert repair.input == expected


def test_python_literals_become_json_values() -> None:
    repair = repair_arguments(
        "{'command': 'ls', 'run_in_background': True, 'description': None}", BASH
    )
    assert repair.input == {"command": "ls", "run_in_background": True, "description": None}


def test_empty_arguments_are_an_empty_object() -> None:
    assert repair_arguments("", None).input == {}
    assert repair_arguments("  ", {"type": "object", "properties": {}}).ok


@pytest.mark.parametrize("raw", ["not json at all", "42", "[1, 2]", "null"])
def test_arguments_that_are_no_object_fail(raw: str) -> None:
    repair = repair_arguments(raw, BASH)
    assert not repair.ok
    assert repair.input == {}
    assert "not_an_object" in repair.kinds


def test_missing_required_key_fails_and_says_which() -> None:
    repair = repair_arguments('{"timeout": 5}', BASH)
    assert not repair.ok
    assert "missing:command" in repair.kinds
    assert repair.input == {"timeout": 5}


def test_repair_input_coerces_parsed_objects() -> None:
    repair = repair_input({"command": "ls", "timeout": "30"}, BASH)
    assert repair.input == {"command": "ls", "timeout": 30}
    assert repair.kinds == ("coerced:number",)


def test_truncation_detector() -> None:
    assert is_truncated_json('{"a": [1, 2')
    assert is_truncated_json('{"a": "b')
    assert not is_truncated_json('{"a": "}{"}')
    assert not is_truncated_json('{"a": 1,}')


# -- coerce_to_schema -----------------------------------------------------------------------------
def test_strings_become_the_declared_scalars() -> None:
    schema = {
        "type": "object",
        "properties": {
            "flag": {"type": "boolean"},
            "off": {"type": "boolean"},
            "count": {"type": "integer"},
            "whole": {"type": "integer"},
            "ratio": {"type": "number"},
            "label": {"type": "string"},
        },
    }
    value = {"flag": "true", "off": "False", "count": "5", "whole": 3.0, "ratio": "0.5", "label": 7}
    out, kinds = coerce_to_schema(value, schema)
    assert out == {"flag": True, "off": False, "count": 5, "whole": 3, "ratio": 0.5, "label": "7"}
    assert set(kinds) == {"coerced:boolean", "coerced:integer", "coerced:number", "coerced:string"}
    assert value["flag"] == "true"  # the input is not changed in place


def test_an_object_where_a_string_is_declared_becomes_json_text() -> None:
    schema = {"type": "object", "properties": {"content": {"type": "string"}}}
    out, kinds = coerce_to_schema({"content": {"debug": True}}, schema)
    assert out == {"content": '{"debug":true}'}
    assert kinds == ["coerced:string"]


def test_a_single_value_becomes_an_array_of_one() -> None:
    schema = {
        "type": "object",
        "properties": {"paths": {"type": "array", "items": {"type": "string"}}},
    }
    assert coerce_to_schema({"paths": "a.py"}, schema)[0] == {"paths": ["a.py"]}
    assert coerce_to_schema({"paths": '["a.py", "b.py"]'}, schema)[0] == {"paths": ["a.py", "b.py"]}


def test_nested_objects_and_array_items_are_coerced() -> None:
    schema = {
        "type": "object",
        "properties": {
            "todos": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "status": {"type": "string", "enum": ["pending", "completed"]},
                        "priority": {"type": "integer"},
                    },
                },
            },
            "options": {"type": "object", "properties": {"deep": {"type": "boolean"}}},
        },
    }
    value = {
        "todos": '[{"status": "Completed", "priority": "2"}]',
        "options": {"deep": "yes"},
    }
    out, kinds = coerce_to_schema(value, schema)
    assert out == {"todos": [{"status": "completed", "priority": 2}], "options": {"deep": True}}
    assert {"coerced:array", "coerced:enum", "coerced:integer", "coerced:boolean"} <= set(kinds)


def test_nullable_any_of_and_type_lists() -> None:
    schema = {
        "type": "object",
        "properties": {
            "limit": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
            "offset": {"type": ["integer", "null"]},
        },
    }
    out, _ = coerce_to_schema({"limit": "10", "offset": None}, schema)
    assert out == {"limit": 10, "offset": None}


def test_coercion_never_invents_keys_and_leaves_unknown_keys_alone() -> None:
    out, kinds = coerce_to_schema({"command": "ls", "extra": "1"}, BASH)
    assert out == {"command": "ls", "extra": "1"}
    assert kinds == []


def test_values_that_cannot_be_read_as_the_type_stay_as_they_are() -> None:
    out, kinds = coerce_to_schema({"command": "ls", "timeout": "soon"}, BASH)
    assert out == {"command": "ls", "timeout": "soon"}
    assert kinds == []


def test_fitting_values_come_back_as_the_same_object() -> None:
    value = {"command": "ls", "timeout": 1}
    assert coerce_to_schema(value, BASH)[0] is value


# -- match_tool_name ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Bash", "Bash"),
        ("bash", "Bash"),
        ("BASH", "Bash"),
        ("functions.Read", "Read"),
        ("Read:0", "Read"),
        ("functions.Edit:3", "Edit"),
        (" Read ", "Read"),
        ("todo_write", "TodoWrite"),
        ("web-fetch", "WebFetch"),
        ("mcp__github__create_issue", "mcp__github__create_issue"),
        ("Delete", None),
        ("", None),
    ],
)
def test_names_match_the_offered_tool(raw: str, expected: str | None) -> None:
    assert match_tool_name(raw, OFFERED) == expected


def test_an_ambiguous_fuzzy_name_matches_nothing() -> None:
    assert match_tool_name("read", ["Read", "READ"]) is None
    assert match_tool_name("Read", ["Read", "READ"]) == "Read"
