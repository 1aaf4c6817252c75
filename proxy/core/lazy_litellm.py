"""LiteLLM, imported once in a background thread (it takes several seconds) and awaited on use."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import time
import warnings
from typing import Any

log = logging.getLogger(__name__)

_future: concurrent.futures.Future[Any] | None = None
_lock = threading.Lock()


def _import() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    # Otherwise the first Anthropic call fetches a beta-header table from GitHub (and waits on it
    # when offline); the copy bundled with the pinned LiteLLM is the one it was tested with.
    os.environ.setdefault("LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS", "True")
    started = time.perf_counter()
    # LiteLLM's import trips pydantic and deprecation warnings that are not ours to fix (and that
    # a test run with warnings-as-errors would turn into a failed import).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import litellm

    litellm.drop_params = True
    litellm.suppress_debug_info = True
    litellm.telemetry = False
    log.info("LiteLLM ready (imported in %.1f s)", time.perf_counter() - started)
    return litellm


def start_import() -> concurrent.futures.Future[Any]:
    """Begin importing LiteLLM in a daemon thread (idempotent); returns its future."""
    global _future
    with _lock:
        if _future is None:
            future: concurrent.futures.Future[Any] = concurrent.futures.Future()

            def run() -> None:
                try:
                    future.set_result(_import())
                except BaseException as exc:
                    future.set_exception(exc)

            threading.Thread(target=run, name="litellm-import", daemon=True).start()
            _future = future
        return _future


def is_ready() -> bool:
    """True once LiteLLM has been imported."""
    return _future is not None and _future.done() and _future.exception() is None


async def get_litellm() -> Any:
    """The litellm module, waiting for the background import when needed."""
    return await asyncio.wrap_future(start_import())
