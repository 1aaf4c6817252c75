"""While the embedded proxy comes up, the screen says so; then the header turns ready."""

from __future__ import annotations

import threading
from pathlib import Path

from textual.widgets import Static

from app.client.local_backend import LocalBackend
from tests.support.fake_upstream import FakeUpstream
from tests.support.tui_support import build_app, isolated_tui, wait_for

__all__ = ["isolated_tui"]


async def test_the_proxy_coming_up_is_visible(upstream: FakeUpstream, tmp_path: Path) -> None:
    app = build_app(upstream, tmp_path)
    backend = app.backend
    assert isinstance(backend, LocalBackend)
    release = threading.Event()
    real_start = backend.proxy.start

    def slow_start() -> None:
        release.wait(10)
        real_start()

    backend.proxy.start = slow_start  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        notice = app.main_screen.query_one("#notice", Static)
        await wait_for(lambda: notice.display, pilot=pilot)
        assert app.status.state == "starting"
        assert "Starting the proxy" in str(notice.render())
        release.set()
        await wait_for(lambda: app.status.state == "ready", pilot=pilot)
        await wait_for(lambda: not notice.display, pilot=pilot)
