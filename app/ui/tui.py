"""The one factory that builds the app (CLI, tests and snapshots) and the TUI entry point."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from proxy.core.settings import ConfigError, Settings

if TYPE_CHECKING:
    from app.ui.proxy_app import ProxyApp


def attach_url(settings: Settings, attach: str | None = None) -> str | None:
    """The proxy to attach to: `--attach`, else PROXY_URL when PROXY_SERVER_ENABLED=false."""
    if attach:
        return attach.rstrip("/")
    if settings.proxy_server_enabled:
        return None
    if not settings.proxy_url:
        raise ConfigError(
            "PROXY_SERVER_ENABLED=false needs PROXY_URL: the proxy to attach to "
            "(or pass --attach URL)"
        )
    return settings.proxy_url


def make_app(
    settings: Settings,
    *,
    env_file: Path | None = None,
    first_run_prompt: bool = True,
    attach: str | None = None,
) -> ProxyApp:
    """Build the app around a new embedded proxy, or attached to the proxy at `attach`/PROXY_URL.

    Attached, PROXY_API_KEY (`settings.proxy_api_key`) is sent as x-api-key.
    """
    from app.ui.proxy_app import ProxyApp

    url = attach_url(settings, attach)
    if url is not None:
        from app.client.remote_backend import RemoteBackend

        remote = RemoteBackend(url, api_key=settings.proxy_api_key)
        return ProxyApp(remote, first_run_prompt=False)
    # LiteLLM reads this at import (in the proxy's background thread): use the bundled prices.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from app.client.local_backend import LocalBackend

    local = LocalBackend(settings, env_file=env_file or Path(".env"))
    return ProxyApp(local, first_run_prompt=first_run_prompt)


def run_tui(settings: Settings, env_file: Path | None = None, attach: str | None = None) -> int:
    """Run the full-screen app until the user quits; returns the exit code."""
    app = make_app(settings, env_file=env_file, attach=attach)
    app.run()
    return app.return_code or 0
