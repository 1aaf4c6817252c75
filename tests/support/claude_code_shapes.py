"""Claude Code's request shapes, written from scratch, and the replay check both replay suites use.

The captured fixtures in ../shared/fixtures/claude-code/ are not ours to copy; these synthetic
requests reproduce the shapes its README lists (billing header block, cache_control, role:system
mid-conversation, <system-reminder> first block, $schema tools, tool_result as string / image list
/ text list, hook text after a tool_result, signed thinking echo, adaptive thinking with effort,
structured output, count_tokens, the non-streaming fallback), so a fresh clone tests them too.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import httpx2 as httpx
import orjson

from proxy.core import catalogue
from proxy.server.runner import ProxyServer
from tests.conftest import DIALECT_MODELS
from tests.support.fake_upstream import FakeUpstream, Reply, ToolCall
from tests.support.messages_support import (
    PNG_B64,
    TIMEOUT,
    all_text,
    check_openai_tool_order,
    images,
    max_tokens,
    system_text,
    tool_names,
    tool_schemas,
    turns,
)
from tests.support.stream_validator import validate_anthropic_message, validate_anthropic_stream

BILLING = "x-anthropic-billing-header: cc_version=2.1.197.{hex}; cc_entrypoint=sdk-cli;"
BETAS_MAIN = (
    "claude-code-20250219,context-1m-2025-08-07,interleaved-thinking-2025-05-14,"
    "thinking-token-count-2026-05-13,context-management-2025-06-27,"
    "prompt-caching-scope-2026-01-05,mid-conversation-system-2026-04-07,effort-2025-11-24"
)
BETAS_COUNT = (
    "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,"
    "token-counting-2024-11-01"
)
BASE_HEADERS = {
    "Accept": "application/json",  # sent on streaming requests too
    "User-Agent": "claude-cli/2.1.197 (external, sdk-cli)",
    "X-Claude-Code-Session-Id": "00000000-0000-4000-8000-000000000001",
    "X-Stainless-Lang": "js",
    "X-Stainless-Package-Version": "0.94.0",
    "X-Stainless-Retry-Count": "0",
    "anthropic-dangerous-direct-browser-access": "true",
    "anthropic-version": "2023-06-01",
    "x-api-key": "sk-ant-client-key-not-for-upstream",
    "x-app": "cli",
}
# Tools the fake upstream's answers call; Bash keeps it from starting a subagent (Agent is first).
ANSWER_TOOL = "Bash"


def _tool(name: str, properties: dict[str, Any], required: list[str] | None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required is not None:  # tools without parameters have no `required`
        schema["required"] = required
    return {"name": name, "description": f"The {name} tool. " * 20, "input_schema": schema}


TOOLS = [
    _tool("Agent", {"prompt": {"type": "string"}, "subagent_type": {"type": "string"}}, ["prompt"]),
    _tool(
        "Bash",
        {
            "command": {"type": "string"},
            "description": {"type": "string"},
            "timeout": {"type": "number", "maximum": 600000},
        },
        ["command"],
    ),
    _tool("Read", {"file_path": {"type": "string"}, "limit": {"type": "integer"}}, ["file_path"]),
    _tool(
        "Edit",
        {
            "file_path": {"type": "string"},
            "edits": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"old": {"type": "string"}, "new": {"type": "string"}},
                    "required": ["old", "new"],
                    "additionalProperties": False,
                },
            },
        },
        ["file_path", "edits"],
    ),
    _tool(
        "WebFetch",
        {
            "url": {"type": "string", "format": "uri"},
            "mode": {"type": "string", "const": "markdown"},
            "max_chars": {"type": "integer", "exclusiveMinimum": 0},
            "headers": {
                "type": "object",
                "propertyNames": {"type": "string"},
                "additionalProperties": {"type": "string"},
            },
            "retries": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None},
        },
        ["url"],
    ),
    _tool("TaskList", {}, None),
    {"type": "web_search_20250305", "name": "web_search", "max_uses": 8},
]


def _system(hex_suffix: str, subagent: bool = False) -> list[dict[str, Any]]:
    billing = BILLING.format(hex=hex_suffix) + (" cc_is_subagent=true;" if subagent else "")
    return [
        {"type": "text", "text": billing},
        {
            "type": "text",
            "text": "You are a Claude agent, built on Anthropic's Claude Agent SDK.",
            "cache_control": {"type": "ephemeral"},
        },
        {
            "type": "text",
            "text": "You are an interactive agent that helps with software engineering tasks.",
            "cache_control": {"type": "ephemeral"},
        },
    ]


def _first_user(prompt: str, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "role": "user",
        "content": [
            {
                "type": "text",
                "text": "<system-reminder>\n# currentDate\nToday's date is 2026-11-25.\n"
                "</system-reminder>",
            },
            *(extra or []),
            {"type": "text", "text": prompt, "cache_control": {"type": "ephemeral"}},
        ],
    }


AGENTS_MESSAGE = {
    "role": "system",
    "content": "Available agent types for the Agent tool:\n- Explore: read-only search\n- Plan",
}
METADATA = {"user_id": '{"device_id":"' + "d" * 64 + '","account_uuid":"","session_id":"s-0001"}'}


def _main(model: str = "claude-opus-4-8", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [_first_user("list the files here and run echo hello"), AGENTS_MESSAGE],
        "system": _system("a1b"),
        "tools": copy.deepcopy(TOOLS),
        "metadata": METADATA,
        "max_tokens": 64000,
        "thinking": {"type": "adaptive"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "high"},
        "stream": True,
    }
    body.update(extra)
    return body


def _turn_two(result: dict[str, Any], assistant: list[dict[str, Any]]) -> dict[str, Any]:
    body = _main(system=_system("c3d"))
    body["messages"] += [
        {"role": "assistant", "content": assistant},
        {"role": "user", "content": [result]},
    ]
    return body


def _bash_call(tool_id: str) -> dict[str, Any]:
    return {
        "type": "tool_use",
        "id": tool_id,
        "name": "Bash",
        "input": {"command": "ls && echo hello", "description": "List files"},
    }


def _shapes() -> dict[str, dict[str, Any]]:
    shapes: dict[str, dict[str, Any]] = {}
    shapes["main-turn-1"] = _main()
    shapes["main-turn-2-tool-result"] = _turn_two(
        {
            "type": "tool_result",
            "tool_use_id": "toolu_01",
            "content": "a.txt\nb.txt\nhello",
            "is_error": False,
            "cache_control": {"type": "ephemeral"},
        },
        [{"type": "text", "text": "I'll run that."}, _bash_call("toolu_01")],
    )
    shapes["main-turn-2-thinking-echo"] = _turn_two(
        {"type": "tool_result", "tool_use_id": "toolu_02", "content": "hello"},
        [
            {"type": "thinking", "thinking": "The user wants ls.", "signature": "EsgBCkYIBxgCKkA="},
            _bash_call("toolu_02"),
        ],
    )
    shapes["main-turn-2-image-tool-result"] = _turn_two(
        {
            "type": "tool_result",
            "tool_use_id": "toolu_03",
            "content": [
                {
                    "type": "image",
                    "source": {"type": "base64", "data": PNG_B64, "media_type": "image/png"},
                }
            ],
        },
        [
            {"type": "text", "text": "I'll read it."},
            {
                "type": "tool_use",
                "id": "toolu_03",
                "name": "Read",
                "input": {"file_path": "/r.png"},
            },
        ],
    )
    shapes["main-turn-2-error-result"] = _turn_two(
        {
            "type": "tool_result",
            "tool_use_id": "toolu_04",
            "content": "Exit code 127\nls: not found",
            "is_error": True,
        },
        [_bash_call("toolu_04")],
    )
    agent_result = _turn_two(
        {
            "type": "tool_result",
            "tool_use_id": "toolu_05",
            "content": [
                {"type": "text", "text": "The repo has 3 files."},
                {"type": "text", "text": "agentId: a1 (for resuming)"},
            ],
        },
        [{"type": "tool_use", "id": "toolu_05", "name": "Agent", "input": {"prompt": "explore"}}],
    )
    shapes["main-turn-2-agent-result"] = agent_result
    image_prompt = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}}
    ]
    shapes["main-user-image-input"] = _main(
        messages=[_first_user("what is in this image?", image_prompt), AGENTS_MESSAGE]
    )
    fallback = _main()
    del fallback["stream"]  # the retry after a dropped stream has no `stream` key at all
    shapes["main-nonstream-fallback"] = fallback
    shapes["model-sonnet-main"] = _main("claude-sonnet-5")
    haiku = _main(
        "claude-haiku-4-5-20251001",
        max_tokens=32000,
        thinking={"type": "enabled", "budget_tokens": 31999},
        messages=[_first_user("hi")],
    )
    del haiku["output_config"]
    shapes["model-haiku-main"] = haiku
    subagent = _main(
        "claude-haiku-4-5-20251001",
        max_tokens=32000,
        thinking={"type": "disabled"},
        temperature=1,
        system=_system("e5f", subagent=True),
        messages=[_first_user("Explore the repository layout")],
    )
    del subagent["output_config"]
    shapes["subagent-explore-haiku"] = subagent
    shapes["custom-model-main"] = _main("my-upstream-big", max_tokens=32000)
    shapes["custom-model-small-subagent"] = _main(
        "my-upstream-small", max_tokens=32000, thinking=None, system=_system("f00", subagent=True)
    )
    del shapes["custom-model-small-subagent"]["thinking"]
    hook = _turn_two(
        {"type": "tool_result", "tool_use_id": "toolu_06", "content": "hello"},
        [_bash_call("toolu_06")],
    )
    hook["tools"] = [t for t in hook["tools"] if t["name"] == "Bash"]
    hook["messages"] = [hook["messages"][0], *hook["messages"][2:]]
    hook["messages"][-1]["content"].append(
        {
            "type": "text",
            "text": "<system-reminder>PostToolUse hook additional context</system-reminder>",
        }
    )
    shapes["bash-only-turn-2-hook-context"] = hook
    compact = _turn_two(
        {"type": "tool_result", "tool_use_id": "toolu_07", "content": "done"},
        [_bash_call("toolu_07")],
    )
    compact["messages"].append(
        {
            "role": "user",
            "content": [{"type": "text", "text": "Your task is to create a detailed summary."}],
        }
    )
    shapes["compact-summary"] = compact
    shapes["small-title-generation"] = {
        "model": "claude-opus-4-8",
        "max_tokens": 64000,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "list the files"}]}],
        "system": [
            {"type": "text", "text": BILLING.format(hex="123")},
            {"type": "text", "text": "Generate a short title for this session."},
        ],
        "thinking": {"type": "disabled"},
        "output_config": {
            "effort": "high",
            "format": {
                "type": "json_schema",
                "schema": {
                    "type": "object",
                    "properties": {"title": {"type": "string"}},
                    "required": ["title"],
                    "additionalProperties": False,
                },
            },
        },
        "metadata": METADATA,
        "stream": True,
    }
    shapes["count-tokens-minimal"] = {
        "model": "claude-opus-4-8",
        "messages": [{"role": "user", "content": "foo"}],
        "tools": [],
    }
    shapes["count-tokens-tools"] = {
        "model": "claude-opus-4-8",
        "messages": [{"role": "user", "content": "foo"}],
        "tools": copy.deepcopy(TOOLS[:5]),
    }
    return shapes


SHAPES = _shapes()


# --------------------------------------------------------------------- replaying one request


PREFERRED = {"openai": "openai", "gemini": "google", "anthropic": "anthropic"}


def proxy_env(dialect: str, engine: str) -> dict[str, str]:
    """Settings that send every request of a replay, custom model ids too, to `dialect`."""
    big, small = DIALECT_MODELS[dialect]
    return {
        "BIG_MODEL": big,
        "SMALL_MODEL": small,
        "PREFERRED_PROVIDER": PREFERRED[dialect],
        "UPSTREAM_ENGINE": engine,
        "MAX_RETRIES": "0",
    }


def is_count(name: str) -> bool:
    """count_tokens bodies are named count-tokens-*."""
    return name.startswith("count-tokens")


def script_answer(upstream: FakeUpstream, body: dict[str, Any]) -> None:
    """What the fake model answers: a Bash call on a first turn that offers Bash, else text."""
    offered = {t.get("name") for t in body.get("tools") or []}
    last = body["messages"][-1]
    content = last.get("content")
    has_result = isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content
    )
    if (body.get("output_config") or {}).get("format"):
        upstream.script.append(Reply(text='{"title": "List files"}'))
    elif ANSWER_TOOL in offered and not has_result:
        call = ToolCall(ANSWER_TOOL, {"command": "ls && echo hello", "description": "List"})
        upstream.script.append(Reply(text="", reasoning="I will list files.", tool_calls=[call]))
    else:
        upstream.script.append(Reply(text="Here are the files: a.txt, b.txt.", reasoning="Done."))


def headers_for(name: str, body: dict[str, Any]) -> dict[str, str]:
    """Claude Code's headers for this kind of request."""
    betas = BETAS_COUNT if is_count(name) else BETAS_MAIN
    if "structured" in name or (body.get("output_config") or {}).get("format"):
        betas += ",structured-outputs-2025-12-15"
    return {**BASE_HEADERS, "anthropic-beta": betas, "content-type": "application/json"}


async def replay(
    proxy: ProxyServer,
    upstream: FakeUpstream,
    name: str,
    body: dict[str, Any],
    headers: dict[str, str],
    dialect: str,
    engine: str,
) -> None:
    """Send one Claude Code request as is; check the answer and what the upstream received."""
    path = "/v1/messages/count_tokens" if is_count(name) else "/v1/messages"
    if not is_count(name):
        script_answer(upstream, body)
    before = len(upstream.requests)
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        response = await http.post(
            proxy.url + path + "?beta=true", content=orjson.dumps(body), headers=headers
        )
    assert response.status_code == 200, f"{name}: {response.status_code} {response.text[:500]}"
    if is_count(name):
        count = response.json()["input_tokens"]
        assert isinstance(count, int) and count > 0
        if dialect != "anthropic":
            assert len(upstream.requests) == before, "local counting never calls the upstream"
        return
    if body.get("stream") is True:
        assert response.headers["content-type"].startswith("text/event-stream")
        message = validate_anthropic_stream(response.content)
    else:
        assert response.headers["content-type"].startswith("application/json")
        message = response.json()
        validate_anthropic_message(message)
    assert message.get("type") == "message", f"{name}: {message}"
    assert message["content"], f"{name}: empty answer"
    if message["stop_reason"] == "tool_use":
        use = next(b for b in message["content"] if b["type"] == "tool_use")
        assert use["name"] == ANSWER_TOOL and use["input"]["command"] == "ls && echo hello"
    assert len(upstream.requests) == before + 1
    check_upstream(upstream.requests[-1], body, headers, dialect, engine)


def _plain(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(b.get("text", "") for b in content if isinstance(b, dict))


def _system_blocks(body: dict[str, Any]) -> list[str]:
    system = body.get("system") or []
    texts = [system] if isinstance(system, str) else [b["text"] for b in system]
    return [t for t in texts if not t.startswith("x-anthropic-billing-header")]


def _count_images(body: dict[str, Any]) -> int:
    raw = orjson.dumps(body["messages"]).decode()
    return raw.count('"type":"image"')


def check_upstream(
    rec: Any, body: dict[str, Any], headers: dict[str, str], dialect: str, engine: str
) -> None:
    """The translated request is one the upstream would accept and that lost nothing vital."""
    raw = rec.raw.decode()
    client_tools = [t["name"] for t in body.get("tools") or [] if "input_schema" in t]
    prompt_texts = (
        [
            b["text"]
            for b in body["messages"][-1]["content"]
            if isinstance(b, dict) and b.get("type") == "text"
        ]
        if isinstance(body["messages"][-1]["content"], list)
        else [body["messages"][-1]["content"]]
    )
    assert rec.api_key != BASE_HEADERS["x-api-key"], "the client's key must not go upstream"
    if dialect == "anthropic" and engine == "native":
        sent = rec.body
        assert rec.query.get("beta") == "true"
        assert rec.headers["anthropic-beta"] == headers["anthropic-beta"]
        expected = {k: v for k, v in body.items() if k not in ("model", "max_tokens")}
        assert {k: v for k, v in sent.items() if k not in ("model", "max_tokens")} == expected
        limit = catalogue.max_output_tokens("anthropic/" + sent["model"]) or 10**9
        assert sent["max_tokens"] == min(body["max_tokens"], limit)
        return
    assert "$schema" not in raw, "draft-2020 $schema breaks OpenAI-style and Gemini tool parsers"
    assert "x-anthropic-billing-header" not in raw, "the billing header defeats prefix caching"
    assert tool_names(rec) == client_tools, "server tools dropped, client tools all kept"
    assert len(images(rec)) == _count_images(body)
    sent_text = orjson.dumps(rec.body).decode()
    for text in prompt_texts:
        assert orjson.dumps(text).decode()[1:-1] in sent_text, f"lost: {text[:80]!r}"
    # System prompt and mid-conversation system turns: folded into the one system prompt.
    # (LiteLLM puts it into the first user turn for Gemini model names it does not know.)
    folded = system_text(rec) if body["model"].startswith("claude") else all_text(rec)
    probes = [_system_blocks(body)[-1][:60]]
    probes += [_plain(m["content"])[:60] for m in body["messages"] if m["role"] == "system"]
    for probe in probes:
        assert probe in folded, f"system text lost: {probe!r}"
    limit = catalogue.max_output_tokens(DIALECT_MODELS[dialect][0])
    assert limit is not None and (max_tokens(rec) or 0) <= limit
    if dialect == "openai":
        messages = rec.body["messages"]
        assert messages[0]["role"] == "system"
        assert all(m["role"] != "system" for m in messages[1:]), "one system message, first"
        check_openai_tool_order(messages)
    elif dialect == "gemini":
        _check_gemini_turns(turns(rec))
        _check_gemini_schemas(tool_schemas(rec))
    else:
        _check_anthropic_turns(turns(rec))


def _check_gemini_turns(contents: list[dict[str, Any]]) -> None:
    """Function calls are answered by function responses in the very next (user) turn."""
    assert contents and contents[0].get("role", "user") == "user"
    for i, turn in enumerate(contents):
        calls = [p for p in turn.get("parts") or [] if "function_call" in p or "functionCall" in p]
        if calls:
            answers = [
                p
                for p in contents[i + 1].get("parts") or []
                if "function_response" in p or "functionResponse" in p
            ]
            assert len(answers) == len(calls), (
                f"turn {i}: {len(calls)} calls, {len(answers)} results"
            )


# What Gemini's function `parameters` (an OpenAPI subset) accepts; anything else is a 400 there.
GEMINI_SCHEMA_KEYS = frozenset(
    {
        "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
        "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
        "pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum",
        "maximum",
    }
)  # fmt: skip


def _check_gemini_schemas(schemas: dict[str, dict[str, Any]]) -> None:
    """Only keywords Gemini knows (LiteLLM must have cleaned $schema, const, propertyNames...)."""

    def walk(node: Any, where: str) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, where)
        elif isinstance(node, dict):
            unknown = set(node) - GEMINI_SCHEMA_KEYS
            assert not unknown, f"{where}: Gemini rejects {sorted(unknown)}"
            for key, value in node.items():
                if key == "properties":
                    for name, prop in value.items():
                        walk(prop, f"{where}.{name}")
                elif key in ("items", "anyOf"):
                    walk(value, f"{where}.{key}")

    for name, schema in schemas.items():
        walk(schema, name)


def _check_anthropic_turns(messages: list[dict[str, Any]]) -> None:
    """Roles alternate and every tool_use is answered in the next user message."""
    roles = [m["role"] for m in messages]
    assert all(a != b for a, b in itertools.pairwise(roles)), roles
    for i, msg in enumerate(messages):
        content = msg["content"] if isinstance(msg["content"], list) else []
        uses = {b["id"] for b in content if b.get("type") == "tool_use"}
        if uses:
            following = messages[i + 1]["content"]
            answered = {b["tool_use_id"] for b in following if b.get("type") == "tool_result"}
            assert uses == answered
