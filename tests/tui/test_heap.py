"""The app tunes the garbage collector while it runs and gives it back as it was when it exits."""

from __future__ import annotations

import gc
from pathlib import Path

from app.ui.heap import THRESHOLDS, HeapPolicy
from tests.support.fake_upstream import FakeUpstream
from tests.support.tui_support import build_app, isolated_tui, ready

__all__ = ["isolated_tui"]


def test_policy_freezes_and_restores() -> None:
    before = gc.get_threshold()
    policy = HeapPolicy()
    policy.settle()  # not started: nothing happens
    assert gc.get_freeze_count() == 0
    policy.start()
    try:
        assert gc.get_threshold() == THRESHOLDS
        policy.settle()
        assert policy.app_frozen and gc.get_freeze_count() > 0
    finally:
        policy.stop()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


async def test_app_restores_the_collector_on_exit(upstream: FakeUpstream, tmp_path: Path) -> None:
    before = gc.get_threshold()
    async with build_app(upstream, tmp_path).run_test(size=(80, 24)) as pilot:
        app = await ready(pilot)
        await pilot.pause(0.1)
        assert gc.get_threshold() == THRESHOLDS
        assert app.heap.app_frozen and gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
