"""Capture the requests a Claude Code version sends, offline, through a list of scenarios.

    uv run python -m bench.capture_claude_code --version 2.1.332 --out /work/captures/claude-code-2.1.332
    uv run python -m bench.capture_claude_code --version 2.1.332 --out DIR --only bash,agent
    uv run python -m bench.capture_claude_code --version 2.1.332 --out DIR --auth-probe
    uv run python -m bench.capture_claude_code --list

It installs `@anthropic-ai/claude-code@VERSION` with npm under `--cc-root` when missing, then
re-runs itself inside a network namespace that has only loopback (`unshare -n`, or `unshare -rn`
when not root), where a scripted capture server (`bench.capture_server`) and the CLI meet. Without
namespaces it falls back to loopback-only settings: HTTP(S)_PROXY point at a refusing loopback
proxy that logs every host the CLI tries. Every run gets a fresh HOME and project dir.

DIR/<scenario>/NN-<label>.json holds one request each (method, path, query, masked headers,
body), DIR/<scenario>/run.json the CLI's argv, exit code, output and the hosts it tried, and
DIR/index.json one line per request. Keys are masked; the temporary HOME and project dir are
shown as /home/user and /home/user/project, device ids as d...d, the kernel as Linux 6.8.0.
The captures hold Anthropic's prompt text: keep them OUT of the repository.

`--auth-probe` runs the interactive TUI instead (`bench.capture_tty`), once per auth environment
line in a fresh HOME, and writes DIR/auth-probe.json: which line gets a prompt to the base URL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import functools
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import capture_tty
from bench.capture_scenarios import FILES, SCENARIOS, Answer, Ctx, Scenario
from bench.capture_server import CaptureServer, Recorded, RefusingProxy, Responder

TEST_KEY = "sk-ant-test-000"
SECRET_HEADERS = {"x-api-key", "authorization", "proxy-authorization", "cookie"}
DEFAULT_ROOT = Path("/work/scratch/cc")
FAKE_HOME, FAKE_PROJECT = "/home/user", "/home/user/project"


# ------------------------------------------------------------------------------ installing


def claude_binary(root: Path, version: str) -> Path:
    """Where the CLI of `version` lives under `root`."""
    return root / version / "node_modules" / ".bin" / "claude"


def ensure_installed(root: Path, version: str) -> Path:
    """Install `version` with npm if missing; make sure the native binary runs."""
    prefix = root / version
    binary = claude_binary(root, version)
    if not binary.exists():
        prefix.mkdir(parents=True, exist_ok=True)
        package = prefix / "package.json"
        if not package.exists():
            package.write_text('{"name": "cc-capture", "version": "0.0.0", "private": true}\n')
        print(
            f"[capture] npm install @anthropic-ai/claude-code@{version} into {prefix}",
            file=sys.stderr,
        )
        subprocess.run(
            [
                "npm",
                "install",
                "--prefix",
                str(prefix),
                "--no-audit",
                "--no-fund",
                f"@anthropic-ai/claude-code@{version}",
            ],
            check=True,
            stdout=sys.stderr,
        )
    if _version_of(binary) is None:
        # A skipped postinstall leaves a stub at bin/claude.exe; install.cjs links the native binary.
        package_dir = prefix / "node_modules" / "@anthropic-ai" / "claude-code"
        subprocess.run(["node", "install.cjs"], cwd=package_dir, check=True, stdout=sys.stderr)
    found = _version_of(binary)
    if found is None or not found.startswith(version):
        raise SystemExit(f"{binary} reports {found!r}, expected {version}")
    return binary


def _version_of(binary: Path) -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=60
        )
        if done.returncode == 0:
            return done.stdout.strip()
    return None


# ------------------------------------------------------------------------------ isolation


def namespace_prefix() -> list[str] | None:
    """`unshare` arguments that give a loopback-only network namespace here, or None."""
    if shutil.which("unshare") is None:
        return None
    prefix = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-r", "-n"]
    done = subprocess.run([*prefix, "true"], capture_output=True)
    return prefix if done.returncode == 0 else None


def loopback_up() -> None:
    """Bring `lo` up (a new network namespace starts with it down)."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock, siocgifflags, request))[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sH22x", b"lo", flags | iff_up))


def isolated() -> bool:
    """True when no interface but loopback exists (we are inside the capture namespace)."""
    return {name for _, name in socket.if_nameindex()} <= {"lo"}


# ------------------------------------------------------------------------------ scrubbing


class Scrubber:
    """Replaces the machine's paths, device id and kernel version with fixed stand-ins."""

    def __init__(self, home: str, project: str) -> None:
        pairs = []
        for real, fake in ((project, FAKE_PROJECT), (home, FAKE_HOME)):
            for path in {real, os.path.realpath(real)}:
                pairs.append((path, fake))
                pairs.append(
                    (re.sub(r"[^A-Za-z0-9]", "-", path), re.sub(r"[^A-Za-z0-9]", "-", fake))
                )
        self.pairs = sorted(pairs, key=lambda p: -len(p[0]))  # longest first: project before home
        self.kernel = re.compile(re.escape(os.uname().release))

    def text(self, value: str) -> str:
        """Scrub one string."""
        for real, fake in self.pairs:
            value = value.replace(real, fake)
        value = re.sub(r"\b[0-9a-f]{64}\b", "d" * 64, value)  # device_id in metadata.user_id
        value = self.kernel.sub("6.8.0", value)
        return value

    def tree(self, value: Any) -> Any:
        """Scrub every string in a JSON value."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.tree(v) for v in value]
        if isinstance(value, dict):
            return {self.text(k): self.tree(v) for k, v in value.items()}
        return value


def masked_headers(rec: Recorded) -> dict[str, str]:
    """Headers in arrival order; credentials replaced unless they are the test key."""
    out: dict[str, str] = {}
    for name, value in rec.headers:
        if name.lower() in SECRET_HEADERS and TEST_KEY not in value:
            value = "<masked>"
        out[name] = value
    return out


# ------------------------------------------------------------------------------ labelling


def is_subagent(body: dict[str, Any]) -> bool:
    """Subagents say `cc_is_subagent=true` in the billing-header system block."""
    return "cc_is_subagent=true" in json.dumps(body.get("system") or "")


def assistant_turns(body: dict[str, Any]) -> int:
    """How many assistant messages the history already holds."""
    return sum(1 for m in body.get("messages") or [] if m.get("role") == "assistant")


def label(rec: Recorded) -> str:
    """A short file label: count-tokens, structured, main-t2, sub-t1, ... (-nonstream when so)."""
    body = rec.body()
    if rec.path.endswith("/count_tokens"):
        return "count-tokens"
    if not isinstance(body, dict) or not rec.path.endswith("/messages"):
        return "other"
    if (body.get("output_config") or {}).get("format"):
        name = "structured"
    else:
        who = "sub" if is_subagent(body) else "main"
        name = f"{who}-t{assistant_turns(body) + 1}"
    return name if body.get("stream") is True else name + "-nonstream"


def responder(scenario: Scenario, ctx: Ctx) -> Responder:
    """The capture server's answer function for `scenario`."""
    dropped: list[bool] = []

    def answer(body: dict[str, Any]) -> Answer:
        if (body.get("output_config") or {}).get("format"):
            return Answer([{"type": "text", "text": '{"title": "Capture session"}'}])
        script = scenario.sub if is_subagent(body) else scenario.main
        turn = assistant_turns(body)
        reply = (
            script[turn](ctx) if turn < len(script) else Answer([{"type": "text", "text": "Done."}])
        )
        if body.get("stream") is True and len(dropped) < scenario.drop_streams:
            dropped.append(True)
            reply.drop_stream = scenario.drop_mode
        reply.model = scenario.answer_model
        return reply

    return answer


# ------------------------------------------------------------------------------ running


def cli_env(home: str, base_url: str, proxy_url: str, extra: dict[str, str]) -> dict[str, str]:
    """A clean environment: nothing from the caller's shell but PATH and the locale."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "TERM": "xterm-256color",
        "HOME": home,
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": TEST_KEY,
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "NO_PROXY": "127.0.0.1,localhost,::1",
        "no_proxy": "127.0.0.1,localhost,::1",
    }
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        env[name] = proxy_url
    for name, value in extra.items():
        if value == "":
            env.pop(name, None)  # an empty value in a scenario means "unset it"
        else:
            env[name] = value
    return env


async def run_cli(
    binary: Path, args: list[str], cwd: str, env: dict[str, str], timeout: float
) -> dict[str, Any]:
    """Run the CLI once with stdin from /dev/null; its exit code and output."""
    proc = await asyncio.create_subprocess_exec(
        str(binary),
        *args,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
        rc: int | None = proc.returncode
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        out, err = await proc.communicate()
        rc = None
    return {
        "args": args,
        "exit_code": rc,
        "timed_out": rc is None,
        "stdout": out.decode("utf-8", "replace")[-20000:],
        "stderr": err.decode("utf-8", "replace")[-5000:],
    }


async def capture(
    scenario: Scenario, binary: Path, out: Path, timeout: float
) -> list[dict[str, Any]]:
    """Run one scenario in a fresh HOME and project dir; write its requests under out/NAME."""
    root = tempfile.mkdtemp(prefix="cc-capture-")
    home, project = f"{root}/home", f"{root}/project"
    os.makedirs(home)
    os.makedirs(project)
    for name, content in FILES.items():
        Path(project, name).write_bytes(content)
    ctx = Ctx(project=project)
    server = CaptureServer(responder(scenario, ctx))
    refusing = RefusingProxy()
    port = await server.start()
    proxy_port = await refusing.start()
    runs = []
    try:
        for run in scenario.runs:
            env = cli_env(
                home, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{proxy_port}", run.env
            )
            result = await run_cli(binary, run.args, project, env, timeout)
            result["env"] = {k: v for k, v in run.env.items()}
            runs.append(result)
            print(
                f"[capture] {scenario.name}: {' '.join(run.args[:2])} -> exit {result['exit_code']}, "
                f"{len(server.requests)} requests so far",
                file=sys.stderr,
            )
    finally:
        await server.stop()
        await refusing.stop()
    scrub = Scrubber(home, project)
    folder = out / scenario.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    index = []
    for rec in server.requests:
        body = rec.body()
        name = f"{rec.seq:02d}-{label(rec)}.json"
        record = {
            "seq": rec.seq,
            "method": rec.method,
            "path": rec.path,
            "query": rec.query,
            "headers": masked_headers(rec),
            "body": body,
        }
        (folder / name).write_text(
            json.dumps(scrub.tree(record), indent=2, ensure_ascii=False) + "\n"
        )
        index.append(_summary(scenario.name, name, rec, body))
    report = {
        "scenario": scenario.name,
        "doc": scenario.doc,
        "runs": runs,
        "proxy_attempts": refusing.attempts,
        "requests": [i["file"] for i in index],
    }
    (folder / "run.json").write_text(
        json.dumps(scrub.tree(report), indent=2, ensure_ascii=False) + "\n"
    )
    shutil.rmtree(root, ignore_errors=True)
    return index


def _summary(scenario: str, name: str, rec: Recorded, body: Any) -> dict[str, Any]:
    info: dict[str, Any] = {
        "scenario": scenario,
        "file": name,
        "path": rec.path,
        "bytes": len(rec.raw),
    }
    if isinstance(body, dict):
        info |= {
            "model": body.get("model"),
            "stream": body.get("stream", "<absent>"),
            "max_tokens": body.get("max_tokens"),
            "thinking": body.get("thinking"),
            "tools": [t.get("name") for t in body.get("tools") or []],
            "messages": len(body.get("messages") or []),
        }
    return info


ONBOARDED = "_seed_onboarded_home"  # not an env var: write ~/.claude.json with onboarding done
# Environment lines a user might paste in front of `claude`; "" unsets (the probe's HOME is fresh).
AUTH_VARIANTS = {
    "no key": {"ANTHROPIC_API_KEY": ""},
    "ANTHROPIC_API_KEY": {"ANTHROPIC_API_KEY": TEST_KEY},
    "ANTHROPIC_AUTH_TOKEN": {"ANTHROPIC_API_KEY": "", "ANTHROPIC_AUTH_TOKEN": TEST_KEY},
    "both": {"ANTHROPIC_API_KEY": TEST_KEY, "ANTHROPIC_AUTH_TOKEN": TEST_KEY},
    # A HOME that finished onboarding before (an existing Claude Code user) with only the key.
    "ANTHROPIC_API_KEY+onboarded": {"ANTHROPIC_API_KEY": TEST_KEY, ONBOARDED: "1"},
    "no key+onboarded": {"ANTHROPIC_API_KEY": "", ONBOARDED: "1"},
}


def _asked(server: CaptureServer) -> bool:
    """A messages request reached the capture server."""
    return any(r.path.endswith("/messages") for r in server.requests)


async def auth_probe(binary: Path, out: Path, only: list[str]) -> int:
    """The interactive TUI with a fresh HOME per auth variant: does a prompt reach the base URL?"""
    rows = []
    for name, extra in AUTH_VARIANTS.items():
        if only and name not in only:
            continue
        root = tempfile.mkdtemp(prefix="cc-probe-")
        home, project = f"{root}/home", f"{root}/project"
        os.makedirs(home)
        os.makedirs(project)
        extra = dict(extra)
        if extra.pop(ONBOARDED, None):
            Path(home, ".claude.json").write_text('{"hasCompletedOnboarding": true}\n')
        server = CaptureServer(lambda _body: Answer([{"type": "text", "text": "hi from capture"}]))
        refusing = RefusingProxy()
        port = await server.start()
        proxy_port = await refusing.start()
        env = cli_env(home, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{proxy_port}", extra)
        for quiet in (
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
            "DISABLE_TELEMETRY",
            "DISABLE_AUTOUPDATER",
            "DISABLE_ERROR_REPORTING",
        ):
            env.pop(quiet)  # as a user would run it; the refusing proxy still keeps it offline
        try:
            result = await capture_tty.drive(
                binary,
                project,
                env,
                30,
                functools.partial(_asked, server),
            )
        finally:
            await server.stop()
            await refusing.stop()
        scrub = Scrubber(home, project)
        auth = sorted(
            {
                f"{k}: {v}"
                for r in server.requests
                for k, v in masked_headers(r).items()
                if k.lower() in ("x-api-key", "authorization")
            }
        )
        row = {
            "variant": name,
            "env": extra,
            "onboarded_home": ONBOARDED in AUTH_VARIANTS[name],
            "outcome": result.outcome,
            "requests": len(server.requests),
            "auth_headers": auth,
            "proxy_attempts": refusing.attempts,
            "steps": scrub.tree(result.steps),
        }
        rows.append(row)
        print(
            f"[auth-probe] {name:22} {result.outcome} ({len(server.requests)} requests, "
            f"{', '.join(auth) or 'no auth header'})",
            file=sys.stderr,
        )
        shutil.rmtree(root, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "auth-probe.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    return 0


async def capture_all(args: argparse.Namespace, binary: Path) -> int:
    """Every selected scenario in turn; DIR/index.json at the end."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only.split(",")]
    index_path = out / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else []
    for scenario in chosen:
        rows = await capture(scenario, binary, out, args.timeout)
        index = [row for row in index if row["scenario"] != scenario.name] + rows
    index_path.write_text(json.dumps(index, indent=1) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, install, enter the namespace, capture."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", help="Claude Code version, e.g. 2.1.332")
    parser.add_argument("--out", help="output directory (keep it outside the repository)")
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--cc-root", default=str(DEFAULT_ROOT), help="install root: ROOT/VERSION")
    parser.add_argument("--timeout", type=float, default=240, help="seconds per CLI run")
    parser.add_argument(
        "--no-namespace", action="store_true", help="skip unshare (loopback env only)"
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument(
        "--auth-probe",
        action="store_true",
        help="instead of scenarios: run the interactive TUI with a fresh HOME per auth env line",
    )
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.list:
        for scenario in SCENARIOS:
            print(f"{scenario.name:22} {scenario.doc}")
        return 0
    if not args.version or not args.out:
        parser.error("--version and --out are required")
    binary = ensure_installed(Path(args.cc_root), args.version)
    if not args.inside and not args.no_namespace:
        prefix = namespace_prefix()
        if prefix is not None:
            inner = [
                *prefix,
                "--",
                sys.executable,
                "-m",
                "bench.capture_claude_code",
                *(argv if argv is not None else sys.argv[1:]),
                "--inside",
            ]
            return subprocess.run(inner, cwd=Path(__file__).resolve().parents[1]).returncode
        print(
            "[capture] no network namespace here: loopback-only env and a refusing proxy",
            file=sys.stderr,
        )
    if args.inside:
        loopback_up()
        if not isolated():
            raise SystemExit("expected a loopback-only network namespace")
    if args.auth_probe:
        return asyncio.run(
            auth_probe(binary, Path(args.out), [n for n in args.only.split(",") if n])
        )
    return asyncio.run(capture_all(args, binary))


if __name__ == "__main__":
    sys.exit(main())
