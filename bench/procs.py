"""The benchmark's processes: the fake upstream, headless proxies and the load generator.

Each runs as its own OS process with a clean environment (no keys or base URLs from the shell,
a temporary HOME, LiteLLM's bundled cost map), so the proxy's CPU and memory can be read from
outside with psutil and nothing but the benchmark's own traffic reaches it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psutil

REPO = Path(__file__).resolve().parents[1]

# Which proxy settings make each transport; the client always asks for a Claude model (BIG_MODEL).
TRANSPORTS: dict[str, dict[str, str]] = {
    "openai": {"BIG_MODEL": "openai/gpt-4.1", "SMALL_MODEL": "openai/gpt-4.1-mini"},
    "anthropic": {
        "BIG_MODEL": "anthropic/claude-sonnet-4-5",
        "SMALL_MODEL": "anthropic/claude-haiku-4-5",
    },
    "litellm": {
        "BIG_MODEL": "openai/gpt-4.1",
        "SMALL_MODEL": "openai/gpt-4.1-mini",
        "UPSTREAM_ENGINE": "litellm",
    },
    # Not the proxy: the floor, a plain aiohttp byte relay to the Anthropic endpoint (bench.relay).
    "relay": {},
}
# The upstream dialect each transport talks: the 'direct' baseline calls the fake in it.
DIRECT_DIALECT = {
    "openai": "openai",
    "anthropic": "anthropic",
    "litellm": "openai",
    "relay": "anthropic",
}


def free_port() -> int:
    """A port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    """True when something accepts connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """A minimal environment: nothing from the developer's shell steers the process."""
    for sub in ("config", "data", "state", "cache"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "PYTHONPATH": str(REPO),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    if os.environ.get("BENCH_TOOLS"):
        env["BENCH_TOOLS"] = os.environ["BENCH_TOOLS"]  # the load generator reads it
    env.update(extra)
    return env


FOLDER_VARS = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")
"""Where the proxy and the app find their files (store, history, presets, remembered models)."""


@contextlib.contextmanager
def own_folders(home: Path) -> Iterator[None]:
    """This process's folders at `home` while it runs a proxy or the app in-process.

    The in-process tools (`request_profile`, `instructions`, `bytecodes`, `tui_keys`) build the
    service without an environment of their own, so it finds its folders in `os.environ`:
    without this they wrote their requests into the developer's store and routed by the models
    the developer last chose.
    """
    names = (*FOLDER_VARS, "DATA_DIR")
    saved = {name: os.environ.get(name) for name in names}
    env = clean_env(home)
    os.environ.pop("DATA_DIR", None)  # it would win over XDG_DATA_HOME
    os.environ.update({name: env[name] for name in FOLDER_VARS})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def proxy_env(home: Path, upstream: str, port: int, transport: str) -> dict[str, str]:
    """Environment for a headless proxy on `port` that sends `transport` traffic to `upstream`."""
    return clean_env(
        home,
        OPENAI_API_KEY="sk-bench-openai-000000000000",
        ANTHROPIC_API_KEY="bench-anthropic-000000000000",
        GEMINI_API_KEY="bench-gemini-000000000000",
        OPENAI_API_BASE=upstream + "/v1",
        ANTHROPIC_API_BASE=upstream,
        GEMINI_API_BASE=upstream + "/v1beta",
        HOST="127.0.0.1",
        PORT=str(port),
        **TRANSPORTS[transport],
        **extra_proxy_env(),
    )


def extra_proxy_env() -> dict[str, str]:
    """`BENCH_PROXY_ENV="STORE_ENABLED=false TOOL_CALL_RECOVERY=false"`: settings every proxy of
    the run gets on top of its transport's (to measure what a feature costs, on vs off)."""
    pairs = (item.partition("=") for item in os.environ.get("BENCH_PROXY_ENV", "").split())
    return {key: value for key, _, value in pairs if key}


def proxy_command(headless: bool = True) -> list[str]:
    """The installed `claude-proxy` script next to this Python, else `python -m app.cli`."""
    script = Path(sys.executable).parent / "claude-proxy"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]
    return [*cmd, "--headless"] if headless else cmd


@dataclass
class Proc:
    """A child process and its psutil handle (CPU and memory are read from outside)."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path | None = None
    url: str = ""
    port: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ps = psutil.Process(self.popen.pid)

    @property
    def pid(self) -> int:
        """The process id."""
        return self.popen.pid

    def cpu(self) -> float:
        """User + system CPU seconds so far (all threads)."""
        times = self.ps.cpu_times()
        return float(times.user + times.system)

    def cpu_snapshot(self) -> tuple[dict[int, int], float]:
        """CPU time per thread in ns (Linux schedstat, exact) and user+sys (ticks) as a fallback."""
        threads: dict[int, int] = {}
        try:
            for task in Path(f"/proc/{self.pid}/task").iterdir():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    threads[int(task.name)] = int((task / "schedstat").read_text().split()[0])
        except OSError:
            threads = {}
        return threads, self.cpu()

    def cpu_since(self, before: tuple[dict[int, int], float]) -> float:
        """CPU seconds used since `cpu_snapshot()`: exact when no thread ended in between (the
        usual case), else from the tick-based counters (10 ms steps)."""
        threads, ticks = self.cpu_snapshot()
        old = before[0]
        if old and threads and old.keys() <= threads.keys():
            return sum(threads[t] - old.get(t, 0) for t in threads) / 1e9
        return ticks - before[1]

    def cpu_sys(self) -> float:
        """System (kernel) CPU seconds so far."""
        return float(self.ps.cpu_times().system)

    def rss_mb(self) -> float:
        """Resident memory now, MB."""
        return self.ps.memory_info().rss / 1e6

    def peak_rss_mb(self) -> float | None:
        """Peak resident memory over the process' life (VmHWM), MB; None off Linux."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6
        except OSError:
            pass
        return None

    def alive(self) -> bool:
        """True while the process runs."""
        return self.popen.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        """The end of the process' log, for error messages."""
        if self.log is None or not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 8.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        for stream in (self.popen.stdout, self.popen.stdin, self.popen.stderr):
            if stream is not None:
                stream.close()


async def wait_port(proc: Proc, port: int, timeout: float = 30.0) -> float:
    """Poll until the port accepts connections; seconds waited. Raises if the process died."""
    t0 = time.perf_counter()
    while not port_open(port):
        if not proc.alive():
            raise RuntimeError(
                f"{proc.name} exited with {proc.popen.returncode}:\n{proc.log_tail()}"
            )
        if time.perf_counter() - t0 > timeout:
            raise RuntimeError(f"{proc.name} did not listen within {timeout} s:\n{proc.log_tail()}")
        await asyncio.sleep(0.002)
    return time.perf_counter() - t0


async def wait_idle(proc: Proc, timeout: float = 120.0, quiet: float = 0.02) -> float:
    """Wait until the process uses < `quiet` CPU s per 0.25 s, three samples running; seconds waited.

    This is how the benchmark knows LiteLLM's background import (started by every proxy) is over
    before it measures CPU or memory.
    """
    t0 = time.perf_counter()
    calm = 0
    last = proc.cpu()
    while calm < 3 and time.perf_counter() - t0 < timeout:
        await asyncio.sleep(0.25)
        now = proc.cpu()
        calm = calm + 1 if now - last < quiet else 0
        last = now
    return time.perf_counter() - t0


def spawn(name: str, cmd: list[str], env: dict[str, str], log: Path, cwd: Path) -> Proc:
    """Start a process with stdout and stderr to `log`."""
    with log.open("wb") as out:
        popen = subprocess.Popen(
            cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    return Proc(name, popen, log)


async def start_proxy(home: Path, upstream: str, transport: str) -> Proc:
    """A headless proxy process for `transport`, listening (LiteLLM may still be importing)."""
    port = free_port()
    env = proxy_env(home, upstream, port, transport)
    cmd = proxy_command()
    if transport == "relay":
        cmd = [sys.executable, "-m", "bench.relay", "--port", str(port), "--upstream", upstream]
    t0 = time.perf_counter()
    proc = spawn(f"proxy-{transport}", cmd, env, home / f"proxy-{transport}.log", home)
    proc.port, proc.url = port, f"http://127.0.0.1:{port}"
    try:
        await wait_port(proc, port)
        proc.info["port_s"] = time.perf_counter() - t0
    except BaseException:
        proc.stop()
        raise
    return proc


async def start_upstream(home: Path, batch: int = 1) -> Proc:
    """The lean fake upstream in its own process; its URL is in `.url`."""
    cmd = [sys.executable, "-m", "bench.upstream", "--port", "0", "--batch", str(batch)]
    env = clean_env(home)
    log = home / "upstream.log"
    with log.open("wb") as err:
        popen = subprocess.Popen(
            cmd, env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err
        )
    proc = Proc("upstream", popen, log)
    assert popen.stdout is not None
    line = await asyncio.get_running_loop().run_in_executor(None, popen.stdout.readline)
    if not line.strip().isdigit():
        proc.stop()
        raise RuntimeError(f"fake upstream failed to start:\n{proc.log_tail()}")
    proc.port = int(line)
    proc.url = f"http://127.0.0.1:{proc.port}"
    return proc


class LoadGen:
    """The load-generator process, driven by one JSON command per line."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self._log: Any = None

    async def start(self) -> None:
        """Start `python -m bench.loadgen`."""
        self._log = (self.home / "loadgen.log").open("wb")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.loadgen",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._log,
            env=clean_env(self.home),
            cwd=REPO,
            limit=16 * 1024 * 1024,
        )

    def cpu(self) -> float:
        """CPU seconds the load generator has used."""
        assert self.proc is not None
        times = psutil.Process(self.proc.pid).cpu_times()
        return float(times.user + times.system)

    async def call(self, **cmd: Any) -> dict[str, Any]:
        """Send one command, wait for its answer."""
        assert self.proc is not None and self.proc.stdin and self.proc.stdout
        async with self._lock:
            self.proc.stdin.write(orjson.dumps(cmd) + b"\n")
            await self.proc.stdin.drain()
            line = await self.proc.stdout.readline()
        if not line:
            tail = (self.home / "loadgen.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"load generator died:\n{tail}")
        result: dict[str, Any] = orjson.loads(line)
        if "fatal" in result:
            raise RuntimeError(f"load generator failed on {cmd['op']}: {result['fatal']}")
        return result

    async def stop(self) -> None:
        """Ask it to quit; kill it if it does not."""
        if self.proc is not None:
            if self.proc.returncode is None:
                assert self.proc.stdin is not None
                with contextlib.suppress(ConnectionError):
                    self.proc.stdin.write(b'{"op": "quit"}\n')
                    await self.proc.stdin.drain()
                    self.proc.stdin.close()
                try:
                    await asyncio.wait_for(self.proc.wait(), 10)
                except TimeoutError:
                    self.proc.kill()
                    await self.proc.wait()
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None


def target(url: str, dialect: str) -> dict[str, Any]:
    """A load-generator target."""
    return {"url": url, "dialect": dialect}
