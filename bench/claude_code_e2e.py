"""The real Claude Code CLI through this proxy to a fake upstream of each kind, offline.

    uv run python -m bench.claude_code_e2e --version 2.1.332 --out /tmp/cc-e2e.json
    uv run python -m bench.claude_code_e2e --version 2.1.332 --dialects openai --engines native --only session

For each dialect (openai, gemini, anthropic: the fake upstream speaks all three, chosen with
BIG_MODEL/SMALL_MODEL) and engine it starts `tests.support.fake_upstream` in-process and a headless proxy
(`.venv/bin/claude-proxy`) in a loopback-only network namespace (see `bench.capture_claude_code`),
then runs the CLI through these sessions and checks what the CLI reported and what happened:

- `bash`: `-p`, the upstream calls Bash once, then text;
- `tools-bash`: the same with `--tools Bash` (the deferred-tool placeholder comes first);
- `haiku`: `--model haiku`, one text answer from SMALL_MODEL;
- `session`: a scripted multi-step session with reasoning on every answer: Write hi.py, Read
  it, Edit it, run it with Bash, a parallel Bash + Read, a foreground Explore subagent on haiku
  (which runs Bash), then final text; hi.py must end up edited;
- `toolsearch`: ToolSearch `select:TaskCreate`, then TaskCreate (a deferred tool), then text.

Against Gemini every tool-call answer carries a thought signature of its own, and each must come
back on its call in every later request (the CLI echoes the proxy's thinking blocks).

It prints one line per run and writes every run (exit code, the CLI's result, upstream request
count and models, proxy log lines at WARNING or above) to --out as JSON. It changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.capture_claude_code import (
    DEFAULT_ROOT,
    cli_env,
    ensure_installed,
    isolated,
    loopback_up,
    namespace_prefix,
    run_cli,
)
from bench.capture_scenarios import ALLOWED
from tests.support.fake_upstream import FakeUpstream, Reply, ToolCall

REPO = Path(__file__).resolve().parents[1]
DIALECTS = {
    "openai": ("openai/gpt-4.1", "openai/gpt-4.1-mini", "openai"),
    "gemini": ("gemini/gemini-2.5-pro", "gemini/gemini-2.5-flash", "google"),
    "anthropic": ("anthropic/claude-sonnet-4-5", "anthropic/claude-haiku-4-5", "anthropic"),
}
UPSTREAM_KEYS = {
    "OPENAI_API_KEY": "sk-test-openai-0000000000001234",
    "GEMINI_API_KEY": "AIza-test-gemini-000000000005678",
    "ANTHROPIC_API_KEY": "sk-test-anthropic-00000009012",
}
THINK = "Thinking about the next step."


def _say(text: str) -> Reply:
    return Reply(text=text, reasoning=THINK)


def _call(*calls: tuple[str, dict[str, Any]]) -> Reply:
    return Reply(text="", reasoning=THINK, tool_calls=[ToolCall(n, a) for n, a in calls])


@dataclass
class Session:
    """One CLI run: its arguments, the upstream's script and a check of the project dir after."""

    name: str
    args: list[str]
    script: Callable[[str], list[Reply]] = lambda _project: []
    check: Callable[[str], str | None] = lambda _project: None
    env: dict[str, str] = field(default_factory=dict)
    since: str = "0"
    """The first Claude Code version that has what the session uses (ToolSearch: 2.1.332)."""


def _session_script(project: str) -> list[Reply]:
    hi = f"{project}/hi.py"
    explore = {
        "description": "Look around",
        "prompt": "List the files.",
        "subagent_type": "Explore",
        "run_in_background": False,
        "model": "haiku",
    }
    return [
        _call(("Write", {"file_path": hi, "content": "print('hi')\n"})),
        _call(("Read", {"file_path": hi})),
        _call(("Edit", {"file_path": hi, "old_string": "'hi'", "new_string": "'hi there'"})),
        _call(("Bash", {"command": "python3 hi.py", "description": "Run it"})),
        _call(("Bash", {"command": "ls", "description": "List"}), ("Read", {"file_path": hi})),
        _call(("Agent", explore)),
        _call(("Bash", {"command": "ls", "description": "List"})),  # the subagent
        _say("hi.py and hello.txt are here."),  # the subagent's answer
        _say("All done: hi.py prints hi there."),
    ]


def _edited(project: str) -> str | None:
    text = Path(project, "hi.py").read_text() if Path(project, "hi.py").exists() else "<missing>"
    return None if text == "print('hi there')\n" else f"hi.py is {text!r}"


def _bash_script(_project: str) -> list[Reply]:
    # Scripted, not the fake's auto-tool: 2.1.332 ends its first request with a role "system"
    # message, which the auto-tool (it wants a plain user turn last) does not answer.
    return [_call(("Bash", {"command": "echo hello", "description": "Say hello"})), _say("Done.")]


def _toolsearch_script(_project: str) -> list[Reply]:
    return [
        _call(("ToolSearch", {"query": "select:TaskCreate", "max_results": 1})),
        _call(("TaskCreate", {"subject": "Check notes", "description": "Read hello.txt"})),
        _say("Task created."),
    ]


def _p(prompt: str, *extra: str) -> list[str]:
    return ["-p", prompt, "--output-format", "json", *extra]


SESSIONS = [
    Session("bash", _p("run echo hello", "--allowedTools", ALLOWED), _bash_script),
    Session(
        "tools-bash",
        _p("run echo hello", "--tools", "Bash", "--allowedTools", "Bash"),
        _bash_script,
    ),
    Session("haiku", _p("say hi", "--model", "haiku")),
    Session(
        "session",
        _p("write, read, edit and run hi.py, then explore", "--allowedTools", ALLOWED),
        _session_script,
        check=_edited,
    ),
    Session(
        "toolsearch",
        _p("make a task", "--allowedTools", ALLOWED),
        _toolsearch_script,
        since="2.1.332",
    ),
]


def _thinking_lost(up: FakeUpstream) -> int:
    """Assistant turns sent back without the thinking the upstream answered with (pass-through)."""
    lost = 0
    for rec in up.requests:
        for message in (rec.body or {}).get("messages") or []:
            content = message.get("content")
            if message.get("role") == "assistant" and isinstance(content, list):
                lost += not any(block.get("type") == "thinking" for block in content)
    return lost


def _sign_calls(script: list[Reply]) -> set[str]:
    """Give every scripted tool-call answer a Gemini thought signature of its own (base64 with
    + / =, as real ones are); the proxy must hand each back on its call."""
    issued = set()
    for i, reply in enumerate(script):
        if reply.tool_calls:
            reply.thought_signature = f"Q2xhdWRlIENvZGUg+/{i:03d}/" + "c2lnbmF0dXJl" * 40 + "=="
            issued.add(reply.thought_signature)
    return issued


def _signatures_lost(up: FakeUpstream, issued: set[str]) -> int:
    """Gemini model turns with function calls sent back without their thought signature."""
    lost = 0
    for rec in up.requests:
        for turn in (rec.body or {}).get("contents") or []:
            calls = [
                part
                for part in turn.get("parts") or []
                if "functionCall" in part or "function_call" in part
            ]
            if turn.get("role") == "model" and calls:
                signature = calls[0].get("thoughtSignature") or calls[0].get("thought_signature")
                lost += signature not in issued
    return lost


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _start_proxy(
    up: FakeUpstream, dialect: str, engine: str, home: str
) -> tuple[subprocess.Popen[bytes], int, Path]:
    """A headless proxy on a free port pointed at `up`; its log goes to a file."""
    big, small, preferred = DIALECTS[dialect]
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "XDG_CONFIG_HOME": f"{home}/.config",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        **UPSTREAM_KEYS,
        "OPENAI_API_BASE": up.url + "/v1",
        "GEMINI_API_BASE": up.url + "/v1beta",
        "ANTHROPIC_API_BASE": up.url,
        "BIG_MODEL": big,
        "SMALL_MODEL": small,
        "PREFERRED_PROVIDER": preferred,
        "UPSTREAM_ENGINE": engine,
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    log = Path(home, "proxy.log")
    Path(home, ".env").write_text("")  # nothing from a developer's .env
    proc = subprocess.Popen(
        [str(REPO / ".venv" / "bin" / "claude-proxy"), "--headless", "--env-file", f"{home}/.env"],
        cwd=home,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    for _ in range(300):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return proc, port, log
        if proc.poll() is not None:
            break
        await asyncio.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"proxy did not start: {log.read_text()[-2000:]}")


async def run_one(
    binary: Path, dialect: str, engine: str, session: Session, timeout: float, dump: str
) -> dict[str, Any]:
    """One session through a fresh proxy and fake upstream; what the CLI and the upstream saw."""
    root = tempfile.mkdtemp(prefix="cc-e2e-")
    home, project, proxy_home = f"{root}/home", f"{root}/project", f"{root}/proxy"
    for path in (home, project, proxy_home):
        os.makedirs(path)
    Path(project, "hello.txt").write_text("hello\n")
    up = FakeUpstream()
    await up.start()
    up.script.extend(session.script(project))
    issued = _sign_calls(up.script) if dialect == "gemini" else set()
    up.default = _say("Hello from the fake upstream.")
    proc, port, log = await _start_proxy(up, dialect, engine, proxy_home)
    try:
        env = cli_env(home, f"http://127.0.0.1:{port}", "http://127.0.0.1:9", session.env)
        env["CLAUDE_CODE_MAX_RETRIES"] = "1"
        out = await run_cli(binary, session.args, project, env, timeout)
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        await up.stop()
    result: dict[str, Any] = {}
    with contextlib.suppress(ValueError):
        result = json.loads(out["stdout"].strip().splitlines()[-1])
    problems = []
    if out["exit_code"] != 0 or result.get("is_error") is not False:
        problems.append(
            f"exit {out['exit_code']}, is_error {result.get('is_error')}: {result.get('result') or out['stderr'][-300:]!r}"
        )
    if up.script:
        problems.append(f"{len(up.script)} scripted answers unused")
    if result.get("permission_denials"):
        problems.append(f"permission denials: {result['permission_denials']}")
    if dialect == "anthropic" and engine == "native" and (lost := _thinking_lost(up)):
        problems.append(f"thinking blocks missing from {lost} echoed assistant turns")
    if issued and (lost := _signatures_lost(up, issued)):
        problems.append(f"thought signatures missing from {lost} function-call turns sent back")
    if (bad := session.check(project)) is not None:
        problems.append(bad)
    log_lines = [
        line
        for line in log.read_text(errors="replace").splitlines()
        if any(level in line for level in ("WARNING", "ERROR", "CRITICAL", "Traceback"))
    ]
    shutil.rmtree(root, ignore_errors=True)
    if dump:
        folder = Path(dump, f"{dialect}-{engine}-{session.name}")
        folder.mkdir(parents=True, exist_ok=True)
        for i, rec in enumerate(up.requests, 1):
            record = {"path": rec.path, "dialect": rec.dialect, "body": rec.body}
            (folder / f"{i:02d}.json").write_text(json.dumps(record, indent=1) + "\n")
    return {
        "dialect": dialect,
        "engine": engine,
        "session": session.name,
        "ok": not problems,
        "problems": problems,
        "result": result.get("result"),
        "num_turns": result.get("num_turns"),
        "upstream_requests": len(up.requests),
        "upstream_models": sorted({str(r.model) for r in up.requests}),
        "proxy_log": log_lines[-20:],
    }


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".") if p.isdigit())


async def run_all(args: argparse.Namespace, binary: Path) -> int:
    """Every dialect x engine x session; a JSON report and one line each on stderr."""
    rows = []
    for dialect in args.dialects.split(","):
        for engine in args.engines.split(","):
            for session in SESSIONS:
                if args.only and session.name not in args.only.split(","):
                    continue
                if _version(args.version) < _version(session.since):
                    continue
                row = await run_one(binary, dialect, engine, session, args.timeout, args.dump)
                rows.append(row)
                verdict = "ok" if row["ok"] else "BROKEN: " + " | ".join(row["problems"])
                print(
                    f"[e2e] {dialect:9} {engine:7} {session.name:11} {row['upstream_requests']:2} req  {verdict}",
                    file=sys.stderr,
                    flush=True,
                )
    Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(r["ok"] for r in rows) else 1


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, install the CLI, enter the namespace, run."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", required=True)
    parser.add_argument("--out", required=True, help="JSON report")
    parser.add_argument("--dialects", default="openai,gemini,anthropic")
    parser.add_argument("--engines", default="native,litellm")
    parser.add_argument("--only", default="", help="comma-separated session names")
    parser.add_argument("--cc-root", default=str(DEFAULT_ROOT))
    parser.add_argument("--timeout", type=float, default=240)
    parser.add_argument("--no-namespace", action="store_true")
    parser.add_argument(
        "--dump", default="", help="write what the upstream got under DUMP/ (outside the repo)"
    )
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    binary = ensure_installed(Path(args.cc_root), args.version)
    if not args.inside and not args.no_namespace and (prefix := namespace_prefix()) is not None:
        inner = [
            *prefix,
            "--",
            sys.executable,
            "-m",
            "bench.claude_code_e2e",
            *(argv if argv is not None else sys.argv[1:]),
            "--inside",
        ]
        return subprocess.run(inner, cwd=REPO).returncode
    if args.inside:
        loopback_up()
        if not isolated():
            raise SystemExit("expected a loopback-only network namespace")
    return asyncio.run(run_all(args, binary))


if __name__ == "__main__":
    sys.exit(main())
