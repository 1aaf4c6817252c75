"""Import hygiene, checked in fresh interpreters (tconbeer/harlequin's test_import_hygiene pattern).

Every module under `proxy/` and the client layer never load Textual or Rich (they run under the
UI but are not the UI); building the whole server does not import LiteLLM (seconds of CPU and
~150 MB: it is loaded in the background only when the models in force need it); and
`claude-proxy --help` / `--version` answer without loading the server, the settings or the app.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import app.client
import proxy

ROOT = Path(__file__).resolve().parents[2]
UI_LIBRARIES = {"textual", "rich"}
HEAVY = {"aiohttp", "pydantic", "textual", "rich", "litellm"}
CLIENT_MODULES = sorted(f"app.client.{m.name}" for m in pkgutil.iter_modules(app.client.__path__))
PROXY_MODULES = sorted(m.name for m in pkgutil.walk_packages(proxy.__path__, prefix="proxy."))


def imported_roots(args: list[str]) -> set[str]:
    """Top-level packages a fresh `python -X importtime ARGS` imported (its own report)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    roots = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            roots.add(name.split(".")[0])
    assert "encodings" in roots, "no -X importtime report: the check would prove nothing"
    return roots


def test_every_client_module_is_listed() -> None:
    assert len(CLIENT_MODULES) >= 10
    assert "app.client.backend" in CLIENT_MODULES


@pytest.mark.parametrize("module", CLIENT_MODULES)
def test_client_module_never_imports_the_ui_libraries(module: str) -> None:
    found = imported_roots(["-c", f"import {module}"]) & (UI_LIBRARIES | {"litellm"})
    assert not found, f"{module} imports {sorted(found)}"


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_load_nothing_heavy(flag: str) -> None:
    found = imported_roots(["-m", "app.cli.main", flag]) & HEAVY
    assert not found, f"claude-proxy {flag} imports {sorted(found)}"


def test_every_proxy_module_is_listed() -> None:
    assert len(PROXY_MODULES) > 40
    assert "proxy.server.app" in PROXY_MODULES and "proxy.upstreams.transport" in PROXY_MODULES


@pytest.mark.parametrize("module", PROXY_MODULES)
def test_proxy_module_never_imports_the_ui(module: str) -> None:
    found = imported_roots(["-c", f"import {module}"]) & (UI_LIBRARIES | {"app", "screens"})
    assert not found, f"{module} imports {sorted(found)}"


def test_building_the_server_leaves_litellm_unimported() -> None:
    statement = (
        "from proxy.core.settings import load_settings\n"
        "from proxy.state.service import ProxyService\n"
        "from proxy.server.app import create_app\n"
        "create_app(ProxyService(load_settings(env_file=None, environ={})))"
    )
    assert "litellm" not in imported_roots(["-c", statement])
