"""Import hygiene of the headless side, checked in fresh interpreters (tconbeer/harlequin style).

Every module under `proxy/` imports without Textual or Rich, and building the whole server does
not import LiteLLM (seconds of CPU and ~150 MB): it is loaded in the background only when the
models in force need it.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import proxy

ROOT = Path(__file__).resolve().parents[2]
PROXY_MODULES = sorted(info.name for info in pkgutil.walk_packages(proxy.__path__, prefix="proxy."))


def imported_after(statement: str) -> set[str]:
    """Top-level package names in sys.modules after running `statement` in a new interpreter."""
    code = f"{statement}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return set(result.stdout.split())


def test_every_proxy_module_is_listed() -> None:
    assert len(PROXY_MODULES) > 40
    assert "proxy.server.app" in PROXY_MODULES and "proxy.upstreams.transport" in PROXY_MODULES


@pytest.mark.parametrize("module", PROXY_MODULES)
def test_proxy_module_never_imports_the_ui(module: str) -> None:
    loaded = imported_after(f"import {module}")
    assert not loaded & {"textual", "rich", "app", "screens"}, module


def test_building_the_server_leaves_litellm_unimported() -> None:
    statement = (
        "from proxy.core.settings import load_settings\n"
        "from proxy.state.service import ProxyService\n"
        "from proxy.server.app import create_app\n"
        "create_app(ProxyService(load_settings(env_file=None, environ={})))"
    )
    assert "litellm" not in imported_after(statement)
