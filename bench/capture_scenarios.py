"""What `bench.capture_claude_code` makes Claude Code do, and what the capture server answers.

A scenario is one or more CLI runs in the same fresh HOME and project dir, plus a script of
answers. The answer to a request is picked by who asks (the main agent, a subagent, the title
generator) and by how many assistant turns its history already holds, so a retried request gets
the same answer. Past the end of a script the answer is a short final text.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.capture_server import Answer

# Claude Code refuses --dangerously-skip-permissions as root; this list allows every tool used here.
ALLOWED = "Bash,Read,Glob,Grep,Write,Edit,Agent,ToolSearch,TaskCreate,TaskList,TaskUpdate"


def _png() -> bytes:
    """A 4x4 red PNG, built here so no image file is needed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * 4 for _ in range(4))
    header = struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


FILES = {
    "hello.txt": b"hello from the capture\n",
    "notes.md": b"# Notes\n\nold line\n",
    "dot.png": _png(),
}


@dataclass
class Ctx:
    """What an answer may need: the project dir (absolute paths) and fresh tool ids."""

    project: str
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def tool(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """A tool_use block with a fresh id."""
        return {
            "type": "tool_use",
            "id": f"toolu_cap_{next(self.ids):03d}",
            "name": name,
            "input": args,
        }


Step = Callable[[Ctx], Answer]


def text(words: str) -> Step:
    """A final text answer."""
    return lambda _ctx: Answer([{"type": "text", "text": words}])


def tools(*calls: tuple[str, dict[str, Any] | Callable[[Ctx], dict[str, Any]]]) -> Step:
    """An answer of one or more tool calls (several make a parallel call), after a short text."""

    def step(ctx: Ctx) -> Answer:
        blocks: list[dict[str, Any]] = [{"type": "text", "text": "On it."}]
        for name, args in calls:
            blocks.append(ctx.tool(name, args(ctx) if callable(args) else args))
        return Answer(blocks, stop_reason="tool_use")

    return step


def thinking_then(step: Step) -> Step:
    """`step` with a signed thinking block in front (the CLI must send it back verbatim)."""

    def wrapped(ctx: Ctx) -> Answer:
        answer = step(ctx)
        block = {
            "type": "thinking",
            "thinking": "I should run the command.",
            "signature": "EqQBCkYIBxgCKkCaptureSignature000000000000000000==",
        }
        return Answer([block, *answer.blocks], answer.stop_reason)

    return wrapped


@dataclass
class Run:
    """One CLI invocation: arguments after `claude` and extra environment."""

    args: list[str]
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Scenario:
    """A named capture: CLI runs, the main agent's script and the subagents' script."""

    name: str
    doc: str
    runs: list[Run]
    main: list[Step] = field(default_factory=list)
    sub: list[Step] = field(default_factory=list)
    drop_streams: int = 0
    """Cut this many streamed answers (the first ones) with `drop_mode`."""
    drop_mode: str = "close"
    answer_model: str | None = None
    """Answer with this model id instead of echoing the requested one."""


def prompt(words: str, *extra: str) -> Run:
    """`claude -p WORDS --output-format json --allowedTools ...` plus `extra`."""
    return Run(["-p", words, "--output-format", "json", "--allowedTools", ALLOWED, *extra])


BASH = ("Bash", {"command": "ls && echo hello", "description": "List files and say hello"})
EXPLORE = {
    "description": "Look around",
    "prompt": "List the files in this project.",
    "subagent_type": "Explore",
}
# In -p mode an Agent call without run_in_background runs in the background: ask for foreground.
FOREGROUND_HAIKU = {**EXPLORE, "run_in_background": False, "model": "haiku"}
SUBAGENT = [tools(BASH), text("The project holds hello.txt and notes.md.")]


def _path(name: str) -> Callable[[Ctx], str]:
    return lambda ctx: f"{ctx.project}/{name}"


def _read(name: str) -> Callable[[Ctx], dict[str, Any]]:
    return lambda ctx: {"file_path": _path(name)(ctx)}


def _write(ctx: Ctx) -> dict[str, Any]:
    return {"file_path": _path("hi.py")(ctx), "content": "print('hi')\n"}


def _edit(ctx: Ctx) -> dict[str, Any]:
    return {"file_path": _path("hi.py")(ctx), "old_string": "'hi'", "new_string": "'hi there'"}


RUN_PY = ("Bash", {"command": "python3 hi.py", "description": "Run the script"})
BASH_ONLY = ["--tools", "Bash", "--allowedTools", "Bash"]

SCENARIOS: list[Scenario] = [
    Scenario("plain", "One text answer to `-p say hi`.", [prompt("say hi")], [text("hi")]),
    Scenario(
        "bash",
        "Bash tool turn: tool_use Bash `ls && echo hello`, then final text.",
        [prompt("list the files here and run echo hello")],
        [tools(BASH), text("Done: two files.")],
    ),
    Scenario(
        "thinking",
        "Turn 1 is a signed thinking block + Bash tool_use; turn 2 must echo the thinking back.",
        [prompt("run echo hello")],
        [thinking_then(tools(BASH)), text("Done.")],
    ),
    Scenario(
        "thinking-other-model",
        "As `thinking`, but the answers name another model (an upstream id) than was asked for.",
        [prompt("run echo hello")],
        [thinking_then(tools(BASH)), text("Done.")],
        answer_model="gpt-4.1",
    ),
    Scenario(
        "read",
        "Read of hello.txt, then final text.",
        [prompt("read hello.txt")],
        [tools(("Read", _read("hello.txt"))), text("It says hello.")],
    ),
    Scenario(
        "read-image",
        "Read of a PNG: the tool_result carries an image block.",
        [prompt("look at dot.png")],
        [tools(("Read", _read("dot.png"))), text("A dot.")],
    ),
    Scenario(
        "write-edit-run",
        "Write hi.py, Edit it, run it with Bash, final text.",
        [prompt("write hi.py, change it, run it")],
        [
            tools(("Write", _write)),
            tools(("Edit", _edit)),
            tools(RUN_PY),
            text("It prints hi there."),
        ],
    ),
    Scenario(
        "parallel",
        "One answer with two tool calls (Bash and Read); the results come back in one user turn.",
        [prompt("run ls and read hello.txt at the same time")],
        [tools(BASH, ("Read", _read("hello.txt"))), text("Both done.")],
    ),
    Scenario(
        "agent",
        "Agent starts a foreground Explore subagent on haiku (the small model): Bash, text; main ends.",
        [prompt("explore this project with a subagent")],
        [tools(("Agent", FOREGROUND_HAIKU)), text("The subagent found two files.")],
        SUBAGENT,
    ),
    Scenario(
        "agent-default",
        "Agent with only description/prompt/subagent_type Explore: which model and mode by default.",
        [prompt("explore this project with a subagent")],
        [tools(("Agent", EXPLORE)), text("Started it."), text("The subagent found two files.")],
        SUBAGENT,
    ),
    Scenario(
        "background-agent",
        "Agent with run_in_background: true; its end comes back as a <task-notification> turn.",
        [prompt("explore this project with a background subagent")],
        [
            tools(("Agent", {**EXPLORE, "run_in_background": True})),
            text("Started it."),
            text("The background subagent finished."),
        ],
        SUBAGENT,
    ),
    Scenario(
        "toolsearch",
        "ToolSearch `select:TaskCreate` loads a deferred tool (tool_reference result), then TaskCreate.",
        [prompt("make a task to check the notes")],
        [
            tools(("ToolSearch", {"query": "select:TaskCreate", "max_results": 1})),
            tools(("TaskCreate", {"subject": "Check notes", "description": "Read notes.md"})),
            text("Task created."),
        ],
    ),
    Scenario("context", "`-p /context`: count_tokens calls.", [Run(["-p", "/context"])]),
    Scenario(
        "compact",
        "A Bash turn, then `--continue -p /compact` in the same HOME.",
        [prompt("list the files here and run echo hello"), Run(["--continue", "-p", "/compact"])],
        [
            tools(BASH),
            text("<analysis>Ran ls.</analysis>\n<summary>The user listed two files.</summary>"),
        ],
    ),
    Scenario(
        "nonstream-fallback",
        "The first streaming request gets a 404; Claude Code retries it without streaming.",
        [prompt("list the files here and run echo hello")],
        [tools(BASH), text("Done: two files.")],
        drop_streams=1,
        drop_mode="404",
    ),
    Scenario(
        "stream-cut",
        "The first stream ends after one text block without message_stop (a clean EOF).",
        [prompt("list the files here and run echo hello")],
        [tools(BASH), text("Done: two files.")],
        drop_streams=1,
        drop_mode="eof",
    ),
    Scenario(
        "stream-reset",
        "The first stream's socket is closed after one text block.",
        [prompt("list the files here and run echo hello")],
        [tools(BASH), text("Done: two files.")],
        drop_streams=1,
        drop_mode="close",
    ),
    Scenario(
        "stream-error",
        "The first stream carries an `event: error` (api_error) frame after one text block.",
        [prompt("list the files here and run echo hello")],
        [tools(BASH), text("Done: two files.")],
        drop_streams=1,
        drop_mode="error",
    ),
    Scenario(
        "tools-bash",
        "`--tools Bash --allowedTools Bash`: Bash turn with the narrowed tool list.",
        [Run(["-p", "run a shell command", "--output-format", "json", *BASH_ONLY])],
        [tools(BASH), text("Done.")],
    ),
    *(
        Scenario(
            f"model-{alias}",
            f"`--model {alias}`, one text answer.",
            [prompt("say hi", "--model", alias)],
            [text("hi")],
        )
        for alias in ("haiku", "sonnet", "opus", "fable")
    ),
    Scenario(
        "custom-models",
        "ANTHROPIC_MODEL / ANTHROPIC_DEFAULT_HAIKU_MODEL custom ids, with an Explore subagent.",
        [
            Run(
                prompt("explore this project with a subagent").args,
                {
                    "ANTHROPIC_MODEL": "my-upstream-big",
                    "ANTHROPIC_DEFAULT_HAIKU_MODEL": "my-upstream-small",
                },
            )
        ],
        [tools(("Agent", FOREGROUND_HAIKU)), text("Found two files.")],
        SUBAGENT,
    ),
    Scenario(
        "nonessential",
        "Without CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: title generation and other side calls.",
        [
            Run(
                prompt("list the files here and run echo hello").args,
                {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": ""},
            )
        ],
        [tools(BASH), text("Done: two files.")],
    ),
    Scenario(
        "no-experimental-betas",
        "CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS=1, one text answer.",
        [Run(prompt("say hi").args, {"CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS": "1"})],
        [text("hi")],
    ),
    Scenario(
        "auth-token",
        "ANTHROPIC_AUTH_TOKEN instead of ANTHROPIC_API_KEY (Authorization: Bearer).",
        [
            Run(
                prompt("say hi").args,
                {"ANTHROPIC_API_KEY": "", "ANTHROPIC_AUTH_TOKEN": "sk-ant-test-000"},
            )
        ],
        [text("hi")],
    ),
    Scenario(
        "auth-none",
        "Neither ANTHROPIC_API_KEY nor ANTHROPIC_AUTH_TOKEN: what `-p` says.",
        [Run(prompt("say hi").args, {"ANTHROPIC_API_KEY": ""})],
        [text("hi")],
    ),
]
