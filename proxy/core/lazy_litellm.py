"""LiteLLM, imported once in a background thread (it takes several seconds) and awaited on use.

The import is shared by every request that needs it, so no request may end it: callers await it
through `asyncio.shield`, and the thread marks the future running first, so even a direct
`cancel()` cannot take it down. A failed import is logged, reported to the listeners (the debug
log of each service) and forgotten, so the next request starts a fresh one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

from proxy.core.errors import ProxyError

log = logging.getLogger(__name__)

_future: concurrent.futures.Future[Any] | None = None
_lock = threading.Lock()
_listeners: list[Callable[[str], None]] = []


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


def on_failure(listener: Callable[[str], None]) -> None:
    """Also tell `listener` (a service's debug log) when an import fails; newest few kept."""
    if listener not in _listeners:
        _listeners.append(listener)
        del _listeners[:-8]  # services come and go in tests


def start_import() -> concurrent.futures.Future[Any]:
    """Begin importing LiteLLM in a daemon thread (idempotent); returns its future."""
    global _future
    with _lock:
        if _future is None:
            future: concurrent.futures.Future[Any] = concurrent.futures.Future()
            # Running from now on: cancel() is refused, whoever asks (the import is shared).
            future.set_running_or_notify_cancel()

            def run() -> None:
                try:
                    future.set_result(_import())
                except BaseException as exc:
                    future.set_exception(exc)

            threading.Thread(target=run, name="litellm-import", daemon=True).start()
            _future = future
        return _future


def _forget(future: concurrent.futures.Future[Any], exc: BaseException) -> None:
    """Drop a failed import so the next request retries; report it once."""
    global _future
    with _lock:
        if _future is not future:
            return  # another caller reported it and a retry may be under way
        _future = None
    message = f"LiteLLM import failed: {type(exc).__name__}: {exc}"
    log.error("%s; it is tried again on the next request that needs it", message)
    for listener in list(_listeners):
        try:
            listener(message)
        except Exception:
            log.exception("LiteLLM failure listener %r failed", listener)


def is_ready() -> bool:
    """True once LiteLLM has been imported."""
    future = _future
    return future is not None and future.done() and future.exception() is None


async def get_litellm() -> Any:
    """The litellm module, waiting for the background import when needed.

    A caller that is cancelled (its client went away) stops waiting; the import goes on. A
    failed import is a 503 for this request, and the next one imports again.
    """
    future = start_import()
    try:
        return await asyncio.shield(asyncio.wrap_future(future))
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        _forget(future, exc)
        raise ProxyError(
            503,
            "api_error",
            f"LiteLLM could not be imported ({type(exc).__name__}: {exc}); "
            "it is tried again on the next request",
        ) from None
