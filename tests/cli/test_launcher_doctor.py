"""`claude-proxy code`, `env` and `doctor` as a user runs them (subprocesses, real ports)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from app.cli.doctor import run_doctor
from proxy.core.settings import load_settings
from tests.conftest import FAKE_KEYS, proxy_env
from tests.support.fake_upstream import FakeUpstream, Reply

STAND_IN_CLAUDE = """#!{python}
import json, os, sys, urllib.request
base = os.environ["ANTHROPIC_BASE_URL"]
with urllib.request.urlopen(base + "/health", timeout=5) as r:
    healthy = r.status == 200
with open({record!r}, "w") as f:
    json.dump({{"env": dict(os.environ), "args": sys.argv[1:], "healthy": healthy}}, f)
sys.exit(7)
"""


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The test process' environment without provider settings, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANTHROPIC_", "OPENAI_", "GEMINI_"))
    }
    env.update(extra)
    return env


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `claude-proxy ARGS` in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_env_prints_exports_without_the_key(tmp_path: Path) -> None:
    result = run_cli(
        ["--port", "9123", "env"], clean_env(PROXY_API_KEY="proxy-secret-123456"), tmp_path
    )
    assert result.returncode == 0
    assert "export ANTHROPIC_BASE_URL=http://127.0.0.1:9123" in result.stdout
    assert "proxy-secret-123456" not in result.stdout + result.stderr
    assert "PROXY_API_KEY" in result.stdout


def test_code_starts_a_proxy_and_runs_claude_against_it(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "record.json"
    claude = bin_dir / "claude"
    claude.write_text(STAND_IN_CLAUDE.format(python=sys.executable, record=str(record)))
    claude.chmod(0o755)
    port = free_port()
    env = clean_env(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **FAKE_KEYS)
    env["ANTHROPIC_AUTH_TOKEN"] = "should-be-replaced"
    result = run_cli(["--port", str(port), "code", "-p", "hello there"], env, tmp_path)
    assert result.returncode == 7, result.stderr
    seen = json.loads(record.read_text())
    # The user's arguments, after the statusLine settings `code` adds (tests/cli/test_statusline.py).
    assert seen["args"][-2:] == ["-p", "hello there"]
    assert seen["healthy"] is True
    assert seen["env"]["ANTHROPIC_BASE_URL"] == f"http://127.0.0.1:{port}"
    # Claude Code must not get the real Anthropic key: it only talks to the proxy, with the
    # token of the connect line (app/client/connect.py).
    assert "ANTHROPIC_API_KEY" not in seen["env"]
    assert seen["env"]["ANTHROPIC_AUTH_TOKEN"] == "any"
    with socket.socket() as sock:
        # The headless proxy it started is gone again (SO_REUSEADDR: TIME_WAIT is not a listener).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


def test_code_without_claude_on_path(tmp_path: Path) -> None:
    result = run_cli(["--port", str(free_port()), "code"], clean_env(PATH=str(tmp_path)), tmp_path)
    assert result.returncode == 127
    assert "npm install" in result.stderr


async def test_doctor_reports_a_failing_upstream(upstream: FakeUpstream, capsys: object) -> None:
    settings = load_settings(environ=proxy_env(upstream, PORT=str(free_port())))
    upstream.script = [Reply(status=401, error_message="bad key")]
    code = await _in_thread(run_doctor, settings, {})
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert code == 1
    assert "openai upstream answered 401 (check the key)" in out
    assert "gemini upstream reachable" in out and "anthropic upstream reachable" in out
    for key in FAKE_KEYS.values():
        assert key not in out


async def test_doctor_detects_a_loop(upstream: FakeUpstream, capsys: object) -> None:
    settings = load_settings(environ=proxy_env(upstream, PORT=str(free_port())))
    code = await _in_thread(run_doctor, settings, {"ANTHROPIC_BASE_URL": upstream.url})
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert code == 1
    assert "is also the" in out and "requests would loop" in out


async def _in_thread(fn: object, *args: object) -> int:
    """Run the (blocking, asyncio.run-using) doctor off the test's loop."""
    import asyncio

    return await asyncio.to_thread(fn, *args)  # type: ignore[arg-type]
