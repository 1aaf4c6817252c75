"""Scenario `cc_body`: a real-size Claude Code request through each transport and the floor.

The body is the largest main-turn request in ../shared/fixtures/claude-code/ when that folder
exists (compact JSON, as Claude Code sends it, about 80 KB: 26 tools, system blocks, a
tool_result turn), else a synthetic body of the same shape and size built from
`tests/support/claude_code_shapes.py`. It carries Claude Code's headers and `?beta=true`.

Non-streaming (5-chunk answer) and streaming (20 chunks), every transport and the floor side by
side (`bench.sidebyside`: one request at a time, interleaved, rounds rotating the order): the
added latency (median proxy - median direct) and the proxy's CPU per request, and that CPU
against the floor's (the relay), round by round. The `.apart` mode sends the stream again with
an idle pause after each request (`APART_MS`), as a person's Claude Code does between turns:
each process then meets its request with cold caches, and the proxy's store commits each
request in a transaction of its own (its writer's batch window is shorter than the pause).

The bodies are prepared once per run in a subprocess (``python -m bench.cc_body DIR``): the
synthetic shapes import the test support (LiteLLM included), which the orchestrator should not
carry, and the OpenAI-dialect body for the direct baseline is the proxy's own translation.
"""

from __future__ import annotations

import asyncio
import copy
import os
import sys
from pathlib import Path
from typing import Any

import orjson

from bench import payloads
from bench.procs import REPO, clean_env
from bench.sidebyside import floor_ratio, side_by_side
from bench.stack import Stack
from bench.stats import Flat, diff, median

FIXTURE_DIRS = (
    REPO.parent / "shared" / "fixtures" / "claude-code",
    REPO.parent.parent / "shared" / "fixtures" / "claude-code",
)
"""Where the captured requests live: beside the repo (a clone next to shared/) or two up (a
worktree in wt/)."""
PATTERN = "main-turn-*.json"
NONSTREAM_CHUNKS = 5
STREAM_CHUNKS = 20
SESSION_ID = "00000000-0000-4000-8000-00000000bec0"
HEADERS = {
    "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14,"
    "context-management-2025-06-27,prompt-caching-scope-2026-01-05",
    "User-Agent": "claude-cli/2.1.197 (external, sdk-cli)",
    "X-Claude-Code-Session-Id": SESSION_ID,
    "x-app": "cli",
    "Accept": "application/json",
}
APART_MS = 50.0
"""The idle pause after each request of the `.apart` mode: Claude Code's turns come seconds
apart, so a user's proxy meets each request with cold caches; 50 ms is enough for that and
keeps the scenario short."""
FLOOR_RATIO = 1.5
"""The issue's target: proxy CPU per request within 1.5x of the floor's."""
Row = tuple[str, str, str, str]


def _f(value: float | int | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def fixture() -> Path | None:
    """The largest captured main-turn request, when the shared fixtures are present (and
    BENCH_CC_SYNTHETIC is not set: it asks for the synthetic body, as a fresh clone gets)."""
    if os.environ.get("BENCH_CC_SYNTHETIC"):
        return None
    for folder in FIXTURE_DIRS:
        files = sorted(folder.glob(PATTERN), key=lambda p: p.stat().st_size)
        if files:
            return files[-1]
    return None


def synthetic() -> dict[str, Any]:
    """A main-turn body of the captured shape and size, from the synthetic shapes (26 tools)."""
    # The test support imports LiteLLM (seconds of CPU): this runs in its own process, once.
    from tests.support.claude_code_shapes import SHAPES

    body = copy.deepcopy(SHAPES["main-turn-2-image-tool-result"])
    client = [t for t in body["tools"] if "input_schema" in t]
    filler = (
        "Use this tool when the task calls for it; read the parameters carefully, prefer the "
        "dedicated tools over shell commands, and report what it returned to the user. "
    )
    tools = []
    for i in range(26):
        tool = copy.deepcopy(client[i % len(client)])
        tool["name"] = f"{tool['name']}{i}"
        tool["description"] = filler * (8 + (i * 7) % 16)
        tools.append(tool)
    body["tools"] = tools
    body["system"][-1]["text"] += " " + filler * 32
    for message in body["messages"]:
        if message["role"] == "system":
            message["content"] += "\n" + filler * 32
    return body


def _with_prompt(body: dict[str, Any], chunks: int, stream: bool) -> dict[str, Any]:
    """The body asking the fake upstream for `chunks` chunks (a text block on the last turn)."""
    out = copy.deepcopy(body)
    last = out["messages"][-1]
    if isinstance(last["content"], str):
        last["content"] = [{"type": "text", "text": last["content"]}]
    last["content"].append({"type": "text", "text": payloads.prompt(chunks)})
    out.pop("stream", None)  # Claude Code's non-streaming retry has no `stream` key at all
    if stream:
        out["stream"] = True
    return out


SESSION_TURNS = 40
"""Tool turns a long Claude Code session holds before the measured requests (`session`)."""
SESSION_STEPS = 10
"""Requests of the session, each one turn longer than the one before; then it starts over."""


def _tool_turn(i: int) -> list[dict[str, Any]]:
    """One tool turn of a session: a Read call and a ~2.4 KB file in its result."""
    tool_id = f"toolu_bench{i:016d}"
    code = f"    def method_{i}(self, value: int) -> int:\n        return value * {i}  # \u2014\n"
    return [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": f"Let me read module {i}."},
                {
                    "type": "tool_use",
                    "id": tool_id,
                    "name": "Read",
                    "input": {"file_path": f"/home/user/project/src/module_{i}.py"},
                },
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool_id, "content": code * 30}],
        },
    ]


def session(body: dict[str, Any], chunks: int, stream: bool) -> list[bytes]:
    """A long session's requests: `body` and SESSION_TURNS + step tool turns, for each of
    SESSION_STEPS steps. As Claude Code resends it: the turns so far byte for byte but the
    newest message (here it holds the prompt), and one turn more each time."""
    out = []
    for step in range(SESSION_STEPS):
        turns = [m for i in range(SESSION_TURNS + step) for m in _tool_turn(i)]
        grown = {**body, "messages": [*body["messages"], *turns]}
        out.append(orjson.dumps(_with_prompt(grown, chunks, stream)))
    return out


def prepare(folder: Path) -> dict[str, Any]:
    """Write the four bodies (anthropic / openai, streaming or not) into `folder`; their facts."""
    from proxy.routing.model_map import Target
    from proxy.translate.to_openai import to_openai

    path = fixture()
    body = orjson.loads(path.read_bytes()) if path else synthetic()
    target_ = Target(
        str(body["model"]), "openai/gpt-4.1", "openai", "gpt-4.1", "openai", "http://x", "sk-x"
    )
    sizes = {}
    for stream, chunks in ((False, NONSTREAM_CHUNKS), (True, STREAM_CHUNKS)):
        anthropic = _with_prompt(body, chunks, stream)
        openai = to_openai(anthropic, target_, [])
        suffix = "-stream" if stream else ""
        for dialect, data in (("anthropic", anthropic), ("openai", openai)):
            raw = orjson.dumps(data)
            (folder / f"cc-{dialect}{suffix}.json").write_bytes(raw)
            sizes[f"{dialect}{suffix}"] = len(raw)
        steps = session(body, chunks, stream)  # a body per line: compact JSON has no newline
        translated = [orjson.dumps(to_openai(orjson.loads(s), target_, [])) for s in steps]
        (folder / f"cc-session-anthropic{suffix}.jsonl").write_bytes(b"\n".join(steps))
        (folder / f"cc-session-openai{suffix}.jsonl").write_bytes(b"\n".join(translated))
        sizes[f"anthropic-session{suffix}"] = len(steps[0])
    return {"source": path.name if path else "synthetic", "bytes": sizes}


def _synthetic_flag() -> dict[str, str]:
    flag = os.environ.get("BENCH_CC_SYNTHETIC")
    return {"BENCH_CC_SYNTHETIC": flag} if flag else {}


async def prepared(stack: Stack) -> dict[str, Any]:
    """The bodies for this run (prepared once, in a subprocess); `prefix` is for the loadgen."""
    if stack.cc is None:
        folder = stack.home / "cc"
        folder.mkdir(exist_ok=True)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.cc_body",
            str(folder),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=clean_env(stack.home, **_synthetic_flag()),
            cwd=REPO,
        )
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"preparing the Claude Code bodies failed:\n{err.decode()[-2000:]}")
        stack.cc = {**orjson.loads(out), "prefix": str(folder / "cc")}
    return stack.cc


async def cc_body(stack: Stack, transports: list[str]) -> Flat:
    """Added latency and proxy CPU per Claude Code request, per transport, streamed and not."""
    info = await prepared(stack)
    c = stack.counts
    out: Flat = {
        "cc.kb": info["bytes"]["anthropic"] / 1000,
        "cc.fixture": 0 if info["source"] == "synthetic" else 1,
    }
    out["cc.session_kb"] = info["bytes"]["anthropic-session"] / 1000
    for mode, stream, body, n, gap in (
        ("", False, info["prefix"], c.cc_n, 0.0),
        (".stream", True, info["prefix"], c.cc_n, 0.0),
        (".session", False, info["prefix"] + "-session", c.cc_n, 0.0),
        (".apart", True, info["prefix"], c.cc_apart_n, APART_MS),
    ):
        sides = await side_by_side(
            stack,
            transports,
            n=n,
            warmup=c.cc_warmup,
            rounds=c.latency_rounds,
            stream=stream,
            chunks=STREAM_CHUNKS if stream else NONSTREAM_CHUNKS,
            body=body,
            headers=HEADERS,
            query="?beta=true",
            gap_ms=gap,
        )
        for transport, side in sides.items():
            prefix = f"cc.{transport}{mode}"
            out[f"{prefix}.direct.median_ms"] = median(side.direct)
            out[f"{prefix}.proxy.median_ms"] = median(side.proxy)
            out[f"{prefix}.added_ms"] = diff(median(side.proxy), median(side.direct))
            if stream:
                out[f"{prefix}.added_ttft_ms"] = diff(
                    median(side.proxy_ttft), median(side.direct_ttft)
                )
            out[f"{prefix}.cpu_ms"] = median(side.cpu_ms)
            out[f"{prefix}.cpu_x_floor"] = floor_ratio(sides, transport)
            out[f"{prefix}.errors"] = side.errors
            stack.note_errors(prefix, side.error_samples)
    return out


def rows(fig: Flat) -> list[Row]:
    """The table rows: per transport and mode, added latency and CPU per request vs the floor."""
    if "cc.kb" not in fig:
        return []
    source = "captured" if fig.get("cc.fixture") else "synthetic"
    out: list[Row] = []
    kb = _f(fig.get("cc.kb"), 0)
    request = f"Claude Code request ({kb} KB, {source})"
    streamed = f"{request}, {STREAM_CHUNKS}-chunk stream"
    for suffix, label in (
        ("", f"{request}, non-streaming"),
        (".stream", streamed),
        (
            ".session",
            f"Claude Code session {SESSION_TURNS}+ tool turns in "
            f"({_f(fig.get('cc.session_kb'), 0)} KB, a turn more each request)",
        ),
        (".apart", f"{streamed}, {APART_MS:g} ms apart"),
    ):
        for t in ("openai", "anthropic", "litellm", "relay"):
            p = f"cc.{t}{suffix}"
            if f"{p}.cpu_ms" not in fig:
                continue
            cpu = fig.get(f"{p}.cpu_ms")
            x = fig.get(f"{p}.cpu_x_floor")
            ok = None
            if x is not None and t in ("openai", "anthropic"):
                ok = x <= FLOOR_RATIO and fig.get(f"{p}.errors") == 0
            ttft = fig.get(f"{p}.added_ttft_ms")
            out.append(
                (
                    f"7 {label} [{t}]",
                    f"CPU {_f(cpu)} ms/request"
                    + (f" = {_f(x)}x floor" if x is not None else "")
                    + f"; added {_f(fig.get(f'{p}.added_ms'))} ms"
                    + (f" (TTFT {_f(ttft)})" if ttft is not None else "")
                    + f"; errors {fig.get(f'{p}.errors')}",
                    f"CPU <= {FLOOR_RATIO}x floor"
                    if t in ("openai", "anthropic")
                    else "floor"
                    if t == "relay"
                    else "report",
                    "" if ok is None else "PASS" if ok else "FAIL",
                )
            )
    return out


def main(argv: list[str]) -> int:
    """``python -m bench.cc_body DIR``: write the bodies, print their facts as JSON."""
    sys.stdout.buffer.write(orjson.dumps(prepare(Path(argv[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
