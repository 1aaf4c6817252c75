"""The Docker image builds and serves /health, where a Docker engine is available."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def docker_available() -> bool:
    """True when a Docker engine answers (the client alone is not enough)."""
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    return probe.returncode == 0


def test_compose_file_names_the_volumes_and_healthcheck() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "./conversations:" in compose and "./logs:" in compose
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "HEALTHCHECK" in dockerfile and "/health" in dockerfile
    assert "USER proxy" in dockerfile
    assert '"--headless", "--host", "0.0.0.0"' in dockerfile


@pytest.mark.skipif(not docker_available(), reason="no Docker engine on this machine")
def test_image_builds() -> None:
    result = subprocess.run(
        ["docker", "build", "-q", "-t", "claude-proxy:test", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
