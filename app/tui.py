"""The one factory that builds the app (CLI, tests and snapshots) and the TUI entry point."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from proxy.settings import Settings

if TYPE_CHECKING:
    from app.proxy_app import ProxyApp


def make_app(
    settings: Settings, *, env_file: Path | None = None, first_run_prompt: bool = True
) -> ProxyApp:
    """Build the app around a new embedded proxy for `settings` (started when the app mounts)."""
    # LiteLLM reads this at import (in the proxy's background thread): use the bundled prices.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from app.proxy_app import ProxyApp

    return ProxyApp(settings, env_file=env_file or Path(".env"), first_run_prompt=first_run_prompt)


def run_tui(settings: Settings, env_file: Path | None = None) -> int:
    """Run the full-screen app until the user quits; returns the exit code."""
    app = make_app(settings, env_file=env_file)
    app.run()
    return app.return_code or 0
