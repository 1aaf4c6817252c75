"""Run the proxy: on the current loop (headless, tests) or in its own thread (the TUI)."""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future
from typing import Any

from aiohttp import web

from proxy.core.catalogue import catalogue
from proxy.core.lazy_litellm import start_import
from proxy.core.settings import Settings
from proxy.routing.model_map import needs_litellm
from proxy.server.app import create_app
from proxy.server.connections import runner_for
from proxy.state.service import ProxyService
from proxy.upstreams.wire import tls_context

log = logging.getLogger("proxy")

SHUTDOWN_GRACE = 3.0


def _warm_up() -> None:
    # On a worker thread from the moment the port opens: the model catalogue's parse (40-70 ms)
    # and the TLS context's CAs (~25 ms), which the first request needs and the port need not.
    try:
        catalogue()
        tls_context()
    except Exception:  # the request that needs them reports the error
        log.debug("warm-up failed", exc_info=True)


class PortInUseError(OSError):
    """The listen address is taken; the message says which and what to do."""


class ProxyServer:
    """The aiohttp server around one service, started and stopped on the running loop."""

    def __init__(self, settings: Settings, service: ProxyService | None = None) -> None:
        self.settings = settings
        self.service = service or ProxyService(settings)
        self.runner: web.AppRunner | None = None
        self.port: int = settings.port

    @property
    def url(self) -> str:
        """Base URL clients use (`ANTHROPIC_BASE_URL`)."""
        host = self.settings.host
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Bind and serve; raises PortInUseError with a readable message when the port is taken."""
        app = create_app(self.service)
        runner = runner_for(
            app,
            self.settings.keepalive_timeout,
            handler_cancellation=True,
            shutdown_timeout=SHUTDOWN_GRACE,
            access_log=None,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.settings.host, self.settings.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise PortInUseError(
                exc.errno,
                f"cannot listen on {self.settings.host}:{self.settings.port}: {exc.strerror}. "
                "Another proxy may be running; stop it or pick another port with --port.",
            ) from None
        self.runner = runner
        for address in runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                self.port = int(address[1])
                break
        # LiteLLM takes seconds of CPU and ~150 MB to import: only start it now when the models
        # in force need it (a switch to such models starts it then).
        if needs_litellm(self.service.pair, self.settings):
            start_import()
        asyncio.get_running_loop().run_in_executor(None, _warm_up)
        log.info("listening on %s", self.url)

    async def stop(self) -> None:
        """Stop accepting, give streams in flight a short grace, release the port."""
        if self.runner is not None:
            runner, self.runner = self.runner, None
            await runner.cleanup()


class ProxyThread:
    """The proxy on its own thread and event loop, so the UI thread never waits for it."""

    def __init__(self, settings: Settings, service: ProxyService | None = None) -> None:
        self.server = ProxyServer(settings, service)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self._ready: Future[None] = Future()
        self._stopped: asyncio.Event | None = None

    @property
    def service(self) -> ProxyService:
        """The management service living on the proxy loop."""
        return self.server.service

    def start(self, timeout: float = 10.0) -> None:
        """Start the thread and wait until the port is bound (raises what start raised)."""
        self.thread = threading.Thread(target=self._run, name="proxy", daemon=True)
        self.thread.start()
        self._ready.result(timeout)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        finally:
            # As asyncio.run does: cancel what is left (LiteLLM's logging worker), so no task is
            # destroyed pending when the next proxy in this process gets LiteLLM's singletons.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _main(self) -> None:
        self._stopped = asyncio.Event()
        try:
            await self.server.start()
        except BaseException as exc:
            self._ready.set_exception(exc)
            return
        self._ready.set_result(None)
        await self._stopped.wait()
        await self.server.stop()

    def call(self, coro: Any) -> Future[Any]:
        """Schedule a coroutine on the proxy loop from another thread."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self, timeout: float = SHUTDOWN_GRACE + 2.0) -> None:
        """Ask the loop to shut the server down and wait for the thread to end."""
        if self.loop is None or self._stopped is None or self.thread is None:
            return
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self._stopped.set)
        self.thread.join(timeout)


async def serve_forever(settings: Settings) -> None:
    """Headless mode: serve until cancelled (Ctrl-C, SIGTERM)."""
    server = ProxyServer(settings)
    await server.start()
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()
