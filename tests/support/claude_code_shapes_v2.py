"""Claude Code 2.1.332's new request shapes, written from scratch, and the replay check for them.

The shapes follow what `bench.capture_claude_code` recorded from the real CLI (2.1.197 -> 2.1.332;
the captures stay outside the repo, the texts here are short placeholders of our own):

- headers: `claude-cli/2.1.332`, Stainless package 0.128.0, new betas (`advanced-tool-use`,
  `per-turn-control`, `mid-conversation-tool-changes`, `fallback-credit` on compaction);
- `thinking: {"type": "adaptive", "display": "omitted"}` on every model, subagents too;
  `output_config.effort: "medium"`; `claude-{opus,sonnet,haiku}-5-5` and `claude-fable-5-2`
  with `max_tokens: 128000` (custom ids: 32000 and effort "high"); no `temperature` on subagents;
- a `role: "system"` message after the first user message: a list of blocks with cache_control in
  a conversation's first request, a string later; a trailing `role: "system"` block list
  (`<total_tokens>`) after a tool_result in subagent turns;
- deferred tools: `DeferredToolPlaceholder` (`defer_loading: true`, no $schema) always sent, first
  with `--tools Bash`; `ToolSearch` tool_use answered by `tool_reference` blocks, then the loaded
  tool joins `tools` with `defer_loading: true`; deferred tool definitions may use `allOf`;
- background subagents: the Agent result says it launched, the end comes as a user turn holding
  a `<task-notification>`; parallel tool_use answered by tool_results in another order;
- the non-streaming fallback now sends `"stream": false` and `max_tokens: 64000`.
"""

from __future__ import annotations

import copy
from typing import Any

import httpx2 as httpx
import orjson

from proxy.core import catalogue
from tests.conftest import DIALECT_MODELS
from tests.support import claude_code_shapes as v1
from tests.support.fake_upstream import FakeUpstream, Reply, ToolCall
from tests.support.messages_support import (
    PNG_B64,
    TIMEOUT,
    all_text,
    check_openai_tool_order,
    images,
    max_tokens,
    tool_names,
    tool_results,
    tool_schemas,
    turns,
)
from tests.support.stream_validator import validate_anthropic_message, validate_anthropic_stream

VERSION = "2.1.332"
BILLING = "x-anthropic-billing-header: cc_version=" + VERSION + ".{hex}; cc_entrypoint=sdk-cli;"
_COMMON_BETAS = (
    "per-turn-control-2026-07-01",
    "mid-conversation-tool-changes-2026-07-01",
    "thinking-token-count-2026-05-13",
    "advanced-tool-use-2025-11-20",
    "effort-2025-11-24",
)
BETAS = {
    "main": ",".join(
        (
            "claude-code-20250219",
            "interleaved-thinking-2025-05-14",
            "context-management-2025-06-27",
            *_COMMON_BETAS,
        )
    ),
    # haiku-class requests list the same betas in another order
    "small": ",".join(
        (
            "interleaved-thinking-2025-05-14",
            "context-management-2025-06-27",
            "claude-code-20250219",
            *_COMMON_BETAS,
        )
    ),
    "count": "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,"
    "token-counting-2024-11-01",
    "no-experimental": "claude-code-20250219,interleaved-thinking-2025-05-14,effort-2025-11-24",
}
# `--tools Bash` drops advanced-tool-use yet still sends the placeholder with defer_loading.
BETAS["bash-only"] = BETAS["main"].replace(",advanced-tool-use-2025-11-20", "")
BETAS["compact"] = BETAS["main"] + ",fallback-credit-2026-06-01"
BETAS["custom"] = BETAS["main"].replace("per-turn-control-2026-07-01,", "")

BASE_HEADERS = {
    "Accept": "application/json",
    "User-Agent": f"claude-cli/{VERSION} (external, sdk-cli)",
    "X-Claude-Code-Session-Id": "00000000-0000-4000-8000-000000000332",
    "X-Stainless-Arch": "x64",
    "X-Stainless-Lang": "js",
    "X-Stainless-OS": "Linux",
    "X-Stainless-Package-Version": "0.128.0",
    "X-Stainless-Retry-Count": "0",
    "X-Stainless-Runtime": "node",
    "X-Stainless-Timeout": "600",
    "anthropic-dangerous-direct-browser-access": "true",
    "anthropic-version": "2023-06-01",
    "x-api-key": "sk-ant-client-key-not-for-upstream",
    "x-app": "cli",
}
PLACEHOLDER = "DeferredToolPlaceholder"
ANSWER_TOOL = "Bash"


def _schema(properties: dict[str, Any], required: list[str] | None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required is not None:
        schema["required"] = required
    return schema


def _tool(name: str, properties: dict[str, Any], required: list[str] | None) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"The {name} tool.",
        "input_schema": _schema(properties, required),
    }


STRING = {"type": "string"}
AGENT = _tool(
    "Agent",
    {
        "description": STRING,
        "prompt": STRING,
        "subagent_type": STRING,
        "model": {"type": "string", "enum": ["sonnet", "opus", "haiku", "fable"]},
        "run_in_background": {"type": "boolean"},
    },
    ["description", "prompt"],
)
BASH = _tool("Bash", {"command": STRING, "run_in_background": {"type": "boolean"}}, ["command"])
READ = _tool("Read", {"file_path": STRING, "offset": {"type": "integer"}}, ["file_path"])
TOOL_SEARCH = _tool(
    "ToolSearch",
    {"query": STRING, "max_results": {"type": "number", "default": 5}},
    ["query"],
)
WRITE = _tool("Write", {"file_path": STRING, "content": STRING}, ["file_path", "content"])
# The "never call" tool: no $schema, no additionalProperties, empty properties.
DEFERRED_PLACEHOLDER = {
    "name": PLACEHOLDER,
    "description": "Placeholder that keeps deferred loading on; never call it.",
    "input_schema": {"type": "object", "properties": {}},
    "defer_loading": True,
}
TASK_CREATE = _tool(
    "TaskCreate", {"subject": STRING, "description": STRING}, ["subject", "description"]
)
# A deferred tool whose schema uses allOf (sent in full only once loaded, or without betas).
SEND_MESSAGE = _tool(
    "SendMessage",
    {
        "to": {"type": "string", "allOf": [{"pattern": "^[^\\n\\r]*$"}, {"pattern": "^.{0,300}$"}]},
        "message": {"type": "string", "default": ""},
    },
    ["to"],
)
MAIN_TOOLS = [AGENT, BASH, READ, TOOL_SEARCH, DEFERRED_PLACEHOLDER, WRITE]
SUB_TOOLS = [BASH, READ, DEFERRED_PLACEHOLDER, TOOL_SEARCH]


def _loaded(tool: dict[str, Any]) -> dict[str, Any]:
    """A deferred tool after ToolSearch loaded it: full definition plus defer_loading."""
    return {**copy.deepcopy(tool), "defer_loading": True}


def _system(hex_suffix: str, subagent: bool = False) -> list[dict[str, Any]]:
    billing = BILLING.format(hex=hex_suffix) + (" cc_is_subagent=true;" if subagent else "")
    return [
        {"type": "text", "text": billing},
        {"type": "text", "text": "You are a test agent.", "cache_control": {"type": "ephemeral"}},
        {
            "type": "text",
            "text": "You help with small software tasks in this test.",
            "cache_control": {"type": "ephemeral"},
        },
    ]


SYSTEM_MESSAGE_TEXT = (
    "# Environment\nWorking directory: /home/user/project\n\nDeferred tools, load them with "
    "ToolSearch before use:\nSendMessage\nTaskCreate\nTaskList"
)


def _system_message(first: bool, text: str = SYSTEM_MESSAGE_TEXT) -> dict[str, Any]:
    """The mid-conversation system message: blocks in a conversation's first request, then a string."""
    if first:
        return {
            "role": "system",
            "content": [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}],
        }
    return {"role": "system", "content": text}


def _first_user(prompt: str) -> dict[str, Any]:
    return {
        "role": "user",
        "content": [
            {
                "type": "text",
                "text": "<system-reminder>\nEnd commits with a test trailer.\n</system-reminder>\n",
            },
            {"type": "text", "text": prompt},
        ],
    }


METADATA = {"user_id": '{"device_id":"' + "d" * 64 + '","account_uuid":"","session_id":"s-0332"}'}


def _body(
    prompt: str,
    later: list[dict[str, Any]] | None = None,
    model: str = "claude-opus-5-5",
    tools: list[dict[str, Any]] | None = None,
    subagent: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """One request: first user turn, the system message (list before any answer), `later` turns."""
    messages = [_first_user(prompt), _system_message(first=not later), *(later or [])]
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "system": _system("e8f", subagent),
        "tools": copy.deepcopy(MAIN_TOOLS if tools is None else tools),
        "metadata": METADATA,
        "max_tokens": 128000,
        "thinking": {"type": "adaptive", "display": "omitted"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "medium"},
        "stream": True,
    }
    body.update(extra)
    return body


def _use(tool_id: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": args}


def _result(tool_id: str, content: Any, **extra: Any) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_id, "content": content, **extra}


CACHE = {"cache_control": {"type": "ephemeral"}}
LS = {"command": "ls"}


def _shapes() -> dict[str, dict[str, Any]]:
    shapes: dict[str, dict[str, Any]] = {}
    shapes["main-turn-1"] = _body("list the files")
    shapes["main-turn-2-tool-result"] = _body(
        "list the files",
        [
            {
                "role": "assistant",
                "content": [{"type": "text", "text": "On it."}, _use("toolu_1", "Bash", LS)],
            },
            {
                "role": "user",
                "content": [_result("toolu_1", "a.txt\nb.txt", is_error=False, **CACHE)],
            },
        ],
    )
    shapes["main-turn-2-thinking-echo"] = _body(
        "run ls",
        [
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "thinking",
                        "thinking": "Run ls.",
                        "signature": "EqQBCkYIBxgCKkA0000==",
                    },
                    _use("toolu_2", "Bash", LS),
                ],
            },
            {"role": "user", "content": [_result("toolu_2", "a.txt", is_error=False, **CACHE)]},
        ],
    )
    # Two calls in one answer; Claude Code returns the Read result before the Bash one.
    shapes["parallel-tool-results"] = _body(
        "run ls and read a.txt",
        [
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Both at once."},
                    _use("toolu_3", "Bash", LS),
                    _use("toolu_4", "Read", {"file_path": "/home/user/project/a.txt"}),
                ],
            },
            {
                "role": "user",
                "content": [
                    _result("toolu_4", "1\tcontent of a"),
                    _result("toolu_3", "a.txt\nb.txt", is_error=False, **CACHE),
                ],
            },
        ],
    )
    # Read of a PNG: the tool_result is a list holding one image, with a cache breakpoint.
    png = {"type": "base64", "data": PNG_B64, "media_type": "image/png"}
    shapes["read-png-tool-result"] = _body(
        "read the logo",
        [
            {
                "role": "assistant",
                "content": [_use("toolu_9", "Read", {"file_path": "/home/user/project/logo.png"})],
            },
            {
                "role": "user",
                "content": [_result("toolu_9", [{"type": "image", "source": png}], **CACHE)],
            },
        ],
    )
    search_turns = [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Loading the task tool."},
                _use("toolu_5", "ToolSearch", {"query": "select:TaskCreate", "max_results": 1}),
            ],
        },
        {
            "role": "user",
            "content": [
                _result("toolu_5", [{"type": "tool_reference", "tool_name": "TaskCreate"}]),
                {"type": "text", "text": "Tool loaded.", **CACHE},
            ],
        },
    ]
    loaded_tools = [
        AGENT,
        BASH,
        READ,
        _loaded(TASK_CREATE),
        TOOL_SEARCH,
        DEFERRED_PLACEHOLDER,
        WRITE,
    ]
    shapes["toolsearch-tool-reference"] = _body("make a task", search_turns, tools=loaded_tools)
    shapes["toolsearch-loaded-tool-call"] = _body(
        "make a task",
        [
            search_turns[0],
            {
                "role": "user",
                "content": [
                    search_turns[1]["content"][0],
                    {"type": "text", "text": "Tool loaded."},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    _use(
                        "toolu_6", "TaskCreate", {"subject": "Check", "description": "Check a.txt"}
                    )
                ],
            },
            {"role": "user", "content": [_result("toolu_6", "Task #1 created", **CACHE)]},
        ],
        tools=loaded_tools,
    )
    notification = (
        "<system-reminder>\nAutomated event, not typed by the user.\n\n"
        "<task-notification>\n<task-id>a0000000000000001</task-id>\n<tool-use-id>toolu_7</tool-use-id>\n"
        '<status>completed</status>\n<summary>Agent "Look around" finished</summary>\n'
        "<result>The project holds a.txt and b.txt.</result>\n</task-notification>\n</system-reminder>"
    )
    shapes["background-agent-task-notification"] = _body(
        "explore with a background agent",
        [
            {
                "role": "assistant",
                "content": [
                    _use(
                        "toolu_7",
                        "Agent",
                        {
                            "description": "Look around",
                            "prompt": "List files.",
                            "subagent_type": "Explore",
                            "run_in_background": True,
                        },
                    ),
                ],
            },
            {
                "role": "user",
                "content": [
                    _result(
                        "toolu_7",
                        [{"type": "text", "text": "Async agent launched. agentId: a01"}],
                        **CACHE,
                    )
                ],
            },
            {"role": "assistant", "content": [{"type": "text", "text": "Started it."}]},
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": "<system-reminder>\nTools used: Bash\n</system-reminder>\n",
                    },
                    {"type": "text", "text": notification, **CACHE},
                ],
            },
        ],
    )
    sub_kwargs: dict[str, Any] = {"model": "claude-haiku-5-5", "tools": SUB_TOOLS, "subagent": True}
    shapes["subagent-haiku-turn-1"] = _body("List the files in this project.", **sub_kwargs)
    shapes["subagent-haiku-turn-2-trailing-system"] = _body(
        "List the files in this project.",
        [
            {"role": "assistant", "content": [_use("toolu_8", "Bash", LS)]},
            {"role": "user", "content": [_result("toolu_8", "a.txt", is_error=False)]},
            {
                "role": "system",
                "content": [
                    {
                        "type": "text",
                        "text": "<total_tokens>14999880 tokens left</total_tokens>",
                        **CACHE,
                    }
                ],
            },
        ],
        **sub_kwargs,
    )
    for model in ("claude-sonnet-5-5", "claude-haiku-5-5", "claude-fable-5-2"):
        shapes[f"model-{model.split('-')[1]}-main"] = _body("say hi", model=model)
    shapes["custom-model-main"] = _body(
        "say hi", model="my-upstream-big", max_tokens=32000, output_config={"effort": "high"}
    )
    shapes["custom-model-small-subagent"] = _body(
        "List the files.", model="my-upstream-small", tools=SUB_TOOLS, subagent=True,
        max_tokens=32000, output_config={"effort": "high"},
    )  # fmt: skip
    shapes["bash-only-turn-1"] = _body("run a shell command", tools=[DEFERRED_PLACEHOLDER, BASH])
    no_betas = _body("say hi", tools=[AGENT, BASH, READ, SEND_MESSAGE, TASK_CREATE, WRITE])
    no_betas["thinking"] = {"type": "adaptive"}
    del no_betas["context_management"]
    no_betas["messages"][1] = _system_message(first=False)  # a string even in the first request
    no_betas["messages"][0]["content"][-1].update(CACHE)
    shapes["no-experimental-betas"] = no_betas
    fallback = _body("list the files", max_tokens=64000, stream=False)
    shapes["main-nonstream-fallback"] = fallback
    shapes["stream-cut-resume"] = _body(
        "list the files",
        [
            {"role": "assistant", "content": [{"type": "text", "text": "On it."}]},
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": "<system-reminder>\nYour answer was cut off; go on.\n</system-reminder>",
                        **CACHE,
                    }
                ],
            },
        ],
    )
    shapes["compact-summary"] = _body(
        "list the files",
        [
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "On it."},
                    {**_use("toolu_9", "Bash", LS), **CACHE},
                ],
            },
            {
                "role": "user",
                "content": [
                    _result("toolu_9", "a.txt", is_error=False),
                    {"type": "text", "text": "Answer with text only: summarise the conversation."},
                ],
            },
        ],
    )
    shapes["count-tokens-minimal"] = {
        "model": "claude-opus-5-5",
        "messages": [{"role": "user", "content": "foo"}],
        "tools": [],
    }
    shapes["count-tokens-deferred-tool"] = {
        "model": "claude-opus-5-5",
        "messages": [{"role": "user", "content": "foo"}],
        "tools": [copy.deepcopy(SEND_MESSAGE)],
    }
    return shapes


SHAPES = _shapes()


def headers_for(name: str, body: dict[str, Any]) -> dict[str, str]:
    """Claude Code 2.1.332's headers for this kind of request."""
    if v1.is_count(name):
        betas = BETAS["count"]
    elif name.startswith("bash-only"):
        betas = BETAS["bash-only"]
    elif name.startswith("compact"):
        betas = BETAS["compact"]
    elif name.startswith("no-experimental"):
        betas = BETAS["no-experimental"]
    elif name.startswith("custom"):
        betas = BETAS["custom"]
    elif "haiku" in body["model"]:
        betas = BETAS["small"]
    else:
        betas = BETAS["main"]
    headers = {**BASE_HEADERS, "anthropic-beta": betas, "content-type": "application/json"}
    if body.get("stream") is False:
        headers["X-Stainless-Timeout"] = "300"
    return headers


# --------------------------------------------------------------------- replaying one request


def script_answer(upstream: FakeUpstream, body: dict[str, Any]) -> None:
    """A Bash call when Bash is offered and the last user turn answers nothing, else text."""
    offered = {t.get("name") for t in body.get("tools") or []}
    answered = any(
        isinstance(m.get("content"), list)
        and any(b.get("type") == "tool_result" for b in m["content"])
        for m in body["messages"][-2:]
    )
    if ANSWER_TOOL in offered and not answered and body["messages"][-1]["role"] != "assistant":
        call = ToolCall(ANSWER_TOOL, {"command": "ls"})
        upstream.script.append(Reply(text="", reasoning="List files.", tool_calls=[call]))
    else:
        upstream.script.append(Reply(text="Two files.", reasoning="Done."))


async def replay(
    proxy: Any,
    upstream: FakeUpstream,
    name: str,
    body: dict[str, Any],
    headers: dict[str, str],
    dialect: str,
    engine: str,
) -> list[str]:
    """Send one request as Claude Code would; hard-check the answer, return what is still wrong."""
    count = v1.is_count(name)
    path = "/v1/messages/count_tokens" if count else "/v1/messages"
    if not count:
        script_answer(upstream, body)
    before = len(upstream.requests)
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        response = await http.post(
            proxy.url + path + "?beta=true", content=orjson.dumps(body), headers=headers
        )
    assert response.status_code == 200, f"{name}: {response.status_code} {response.text[:500]}"
    if count:
        tokens = response.json()["input_tokens"]
        assert isinstance(tokens, int) and tokens > 0
        return []
    if body.get("stream") is True:
        assert response.headers["content-type"].startswith("text/event-stream")
        message = validate_anthropic_stream(response.content)
    else:
        assert response.headers["content-type"].startswith("application/json")
        message = response.json()
        validate_anthropic_message(message)
    assert message["content"], f"{name}: empty answer"
    assert len(upstream.requests) == before + 1
    problems = check_upstream(upstream.requests[-1], body, headers, dialect, engine)
    if message["model"] != body["model"]:
        # Claude Code keeps a turn's thinking only when the answer names the model it asked for.
        problems.append(f"answer names {message['model']!r}, not {body['model']!r}")
    return problems


def _prompt_texts(body: dict[str, Any]) -> list[str]:
    """Every text block of the last user turn (task notifications, reminders, prompts)."""
    last = next(m for m in reversed(body["messages"]) if m["role"] == "user")
    content = last["content"]
    if isinstance(content, str):
        return [content]
    return [b["text"] for b in content if b.get("type") == "text"]


def _system_message_texts(body: dict[str, Any]) -> list[str]:
    out = []
    for message in body["messages"]:
        if message["role"] == "system":
            content = message["content"]
            out.append(content if isinstance(content, str) else content[0]["text"])
    return out


def _references(body: dict[str, Any]) -> dict[str, list[str]]:
    """tool_use id -> the tool names its tool_result loads through tool_reference blocks."""
    out: dict[str, list[str]] = {}
    for message in body["messages"]:
        for block in message["content"] if isinstance(message["content"], list) else []:
            if block.get("type") == "tool_result" and isinstance(block.get("content"), list):
                names = [
                    b["tool_name"] for b in block["content"] if b.get("type") == "tool_reference"
                ]
                if names:
                    out[block["tool_use_id"]] = names
    return out


def check_upstream(
    rec: Any, body: dict[str, Any], headers: dict[str, str], dialect: str, engine: str
) -> list[str]:
    """What is wrong with the translated request: each check that fails, not just the first."""
    problems: list[str] = []

    def need(ok: bool, problem: str) -> None:
        if not ok:
            problems.append(problem)

    raw = rec.raw.decode()
    need(rec.api_key != BASE_HEADERS["x-api-key"], "the client's key went upstream")
    if dialect == "anthropic" and engine == "native":
        # Pass-through: only model and max_tokens may change; betas (advanced-tool-use) kept.
        need(rec.headers.get("anthropic-beta") == headers["anthropic-beta"], "betas changed")
        sent = rec.body
        expected = {k: v for k, v in body.items() if k not in ("model", "max_tokens")}
        changed = sorted(
            k for k in set(sent) | set(expected) - {"model", "max_tokens"}
            if k not in ("model", "max_tokens") and sent.get(k) != expected.get(k)
        )  # fmt: skip
        need(not changed, f"pass-through changed {changed}")
        limit = catalogue.max_output_tokens("anthropic/" + sent["model"]) or 10**9
        need(sent["max_tokens"] == min(body["max_tokens"], limit), "max_tokens not clamped")
        return problems
    # Elsewhere the placeholder is a tool no model may call: drop it; loaded tools stay.
    client_tools = [
        t["name"]
        for t in body.get("tools") or []
        if "input_schema" in t and t["name"] != PLACEHOLDER
    ]
    need(PLACEHOLDER not in tool_names(rec), f"{PLACEHOLDER} offered upstream")
    missing = [n for n in client_tools if n not in tool_names(rec)]
    need(not missing, f"tools lost: {missing}")
    need("defer_loading" not in raw, "defer_loading sent upstream")
    need('"tool_reference"' not in raw, "tool_reference block sent upstream as is")
    need("$schema" not in raw, "$schema sent upstream")
    need("x-anthropic-billing-header" not in raw, "billing header sent upstream")
    sent_text = orjson.dumps(rec.body).decode()
    for text in _prompt_texts(body):
        need(orjson.dumps(text).decode()[1:-1] in sent_text, f"lost: {text[:60]!r}")
    for probe in _system_message_texts(body):
        need(probe[:40] in all_text(rec), f"system message lost: {probe[:40]!r}")
    # A tool_result made of tool_reference blocks still answers its call, naming what it loaded.
    results = {r["id"]: r["text"] for r in tool_results(rec)}
    for tool_id, names in _references(body).items():
        key = tool_id if dialect != "gemini" else "ToolSearch"
        if key not in results:
            problems.append(f"tool_result {tool_id} (tool_reference) dropped")
        else:
            need(all(n in results[key] for n in names), f"tool_reference: got {results[key]!r}")
    target_limit = catalogue.max_output_tokens(DIALECT_MODELS[dialect][0])
    need((max_tokens(rec) or 0) <= (target_limit or 0), "max_tokens above the target's limit")
    need(len(images(rec)) == v1._count_images(body), "images lost")
    try:
        if dialect == "openai":
            messages = rec.body["messages"]
            need(messages[0]["role"] == "system", "openai: first message not system")
            need(all(m["role"] != "system" for m in messages[1:]), "openai: later system message")
            check_openai_tool_order(messages)
        elif dialect == "gemini":
            v1._check_gemini_turns(turns(rec))
            v1._check_gemini_schemas(tool_schemas(rec))
        else:
            v1._check_anthropic_turns(turns(rec))
    except AssertionError as exc:
        problems.append(f"{dialect}: {str(exc).splitlines()[0]}")
    return problems
