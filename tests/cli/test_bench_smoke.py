"""Smoke test of the benchmark (`python -m bench`): every scenario runs end to end, tiny.

No timing is asserted: the point is that the bench code keeps working as the proxy and the TUI
change. It runs `python -m bench --tiny` (a few requests per scenario, no waiting for LiteLLM's
background import, the LiteLLM engine left out, the floor relay in) in a subprocess, as a user would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import render, table_rows
from bench.stats import combine, percentile

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = [
    "startup",
    "memory",
    "tui_paint",
    "latency",
    "stream",
    "cpu",
    "concurrency",
    "cc_body",
    "tui_keys",
]


def test_stats_helpers() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert percentile([1.0, 2.0], 95) == pytest.approx(1.95)
    assert percentile([], 95) is None
    combined = combine([{"a.ms": 1.0, "a.errors": 1}, {"a.ms": 3.0, "a.errors": 0}, {"a.ms": 2.0}])
    assert combined == {"a.ms": 2.0, "a.errors": 1}


def user_folders(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A developer's own folders (empty) and an environment that names them, as a shell does."""
    user = tmp_path / "user"
    env = dict(os.environ)
    env.pop("DATA_DIR", None)
    for name, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data")):
        (user / sub).mkdir(parents=True)
        env[name] = str(user / sub)
    return user, env


def written(folder: Path) -> list[str]:
    """The files under `folder`."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_bench_runs_every_scenario_tiny(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    # Nothing of the developer's is read or written: the in-process TUI scenario once wrote its
    # requests into their store.
    user, env = user_folders(tmp_path)
    cmd = [
        sys.executable,
        "-m",
        "bench",
        "--tiny",
        "--transports",
        "openai,anthropic,relay",
        "--only",
        ",".join(SCENARIOS),
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert written(user) == []
    result = json.loads(out.read_text())
    assert result["failures"] == {}
    figures = result["figures"]
    errors = {k: v for k, v in figures.items() if k.endswith(".errors") and v}
    assert errors == {}, result["error_samples"]
    for key in (
        "latency.openai.added_ms",
        "latency.anthropic.added_ms",
        "stream.openai.added_ttft_ms",
        "stream.openai.paced.added_ttft_ms",
        "cpu.openai.us_per_chunk",
        "cpu.anthropic.paced.us_per_chunk",
        "concurrency.openai.5x20.ratio",
        "concurrency.relay.5x20.ratio",
        "cpu.relay.us_per_chunk",
        "startup.port_s",
        "memory.rss_after_last_mb",
        "tui_paint.paint_s",
        "tui_keys.load_p95_ms",
        "tui_keys.paced_p95_ms",
        "latency.openai.cpu_x_floor",
        "cc.openai.cpu_ms",
        "cc.anthropic.stream.cpu_x_floor",
        "cc.relay.stream.added_ms",
        "cc.openai.apart.cpu_x_floor",
    ):
        assert isinstance(figures.get(key), (int, float)), key
    rows = table_rows(figures)
    assert {r[0][0] for r in rows} == set("1234567")
    assert "figure" in render(rows)
    assert "proxy CPU per streamed chunk" in proc.stdout


def test_request_profile_leaves_the_developers_folders_alone(tmp_path: Path) -> None:
    user, env = user_folders(tmp_path)
    cmd = [sys.executable, "-m", "bench.request_profile", "--load", "small", "-n", "3"]
    cmd += ["--warmup", "1", "--top", "5"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "3 requests (small, openai)" in proc.stdout
    assert written(user) == []
