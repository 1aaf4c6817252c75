"""The `claude-proxy` command: the TUI by default, `--headless` for the proxy alone, `--attach`
for the TUI driving a proxy that runs elsewhere.

`--help` and `--version` answer before anything heavy loads: settings (pydantic), the server
(aiohttp) and the app (Textual) are imported inside the functions that need them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from proxy.core.settings import Settings

log = logging.getLogger("claude-proxy")


def package_version() -> str:
    """The installed version of claude-proxy."""
    try:
        return version("claude-proxy")
    except PackageNotFoundError:
        return "0.0.0+local"


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = argparse.ArgumentParser(
        prog="claude-proxy",
        description="Anthropic-compatible proxy with a terminal UI: point Claude Code at it and "
        "use OpenAI, Gemini, Anthropic or any LiteLLM model.",
        epilog="subcommands: `claude-proxy code [claude args...]` runs Claude Code against the "
        "proxy (starting a headless one when none runs); `claude-proxy env` prints the export "
        "lines for a shell; `claude-proxy doctor` checks keys, upstreams, the port and loops; "
        "`claude-proxy usage [--by day|model|session|preset] [--since DATE] [--json]` prints "
        "tokens and cost from the store.",
    )
    parser.add_argument("--headless", action="store_true", help="run the proxy without the TUI")
    parser.add_argument("--host", help="listen address (default 127.0.0.1, env HOST)")
    parser.add_argument("--port", type=int, help="listen port (default 8082, env PORT)")
    parser.add_argument(
        "--env-file", type=Path, default=None, help="read settings from this file (default ./.env)"
    )
    parser.add_argument(
        "--attach",
        metavar="URL",
        help="open the TUI on a proxy that runs elsewhere (Docker, a server) instead of embedding "
        "one (env PROXY_SERVER_ENABLED=false + PROXY_URL)",
    )
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help="that proxy's PROXY_API_KEY, sent as x-api-key; prefer env PROXY_API_KEY or "
        "--api-key-file (a key on the command line is visible to other users in `ps`)",
    )
    parser.add_argument(
        "--api-key-file",
        metavar="PATH",
        type=Path,
        help="read that proxy's PROXY_API_KEY from this file (first line)",
    )
    parser.add_argument(
        "--no-store", action="store_true", help="do not record requests in the store this run"
    )
    parser.add_argument("--version", action="version", version=f"claude-proxy {package_version()}")
    return parser


def _settings(args: argparse.Namespace, listen_checks: bool = True) -> Settings:
    from proxy.core.settings import ConfigError, load_settings

    env_file = args.env_file
    if env_file is None:
        env_file = Path(".env")
    elif not env_file.is_file():
        raise ConfigError(f"--env-file {env_file}: no such file")
    return load_settings(
        env_file=env_file,
        listen_checks=listen_checks,
        host=args.host,
        port=args.port,
        proxy_api_key=api_key(args),
        proxy_url=args.attach,
        store_enabled=False if args.no_store else None,
    )


def api_key(args: argparse.Namespace) -> str | None:
    """The proxy key from --api-key or --api-key-file (None: PROXY_API_KEY from env or .env)."""
    from proxy.core.settings import ConfigError

    if args.api_key_file is None:
        return args.api_key or None
    if args.api_key:
        raise ConfigError("give --api-key or --api-key-file, not both")
    try:
        lines = args.api_key_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--api-key-file {args.api_key_file}: cannot read: {exc}") from None
    key = lines[0].strip() if lines else ""
    if not key:
        raise ConfigError(f"--api-key-file {args.api_key_file}: the first line is empty")
    return key


def attach_target(args: argparse.Namespace, settings: Settings) -> str | None:
    """The URL the TUI attaches to, None when it embeds the proxy (`--headless` always serves)."""
    from proxy.core.settings import ConfigError

    if args.headless:
        if args.attach:
            raise ConfigError("--attach opens the TUI on another proxy; it cannot be --headless")
        return None
    from app.ui.tui import attach_url

    return attach_url(settings, args.attach)


def run_headless(settings: Settings) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit code."""
    from proxy.server.runner import PortInUseError, serve_forever

    async def main() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, task.cancel)  # type: ignore[union-attr]
        with contextlib.suppress(asyncio.CancelledError):
            await serve_forever(settings)

    try:
        asyncio.run(main())
    except PortInUseError as exc:
        log.error("%s", exc.strerror)
        return 1
    log.info("stopped")
    return 0


SUBCOMMANDS = ("code", "env", "doctor", "usage")


def run_subcommand(argv: list[str]) -> int:
    """`code [claude args...]`, `env`, `doctor`, `usage`: the proxy's options go before the name."""
    name = next(a for a in argv if a in SUBCOMMANDS)
    split = argv.index(name)
    args = build_parser().parse_args(argv[:split])
    from proxy.core.settings import ConfigError

    rest = argv[split + 1 :]
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"claude-proxy: {exc}", file=sys.stderr)
        return 2
    if name == "env":
        from app.cli.launcher import env_lines

        print("\n".join(env_lines(settings)))
        return 0
    if name == "doctor":
        from app.cli.doctor import run_doctor

        return run_doctor(settings)
    if name == "usage":
        from app.cli.usage import run_usage

        return run_usage(rest, settings)
    from app.cli.launcher import run_code

    env_file = str(args.env_file) if args.env_file else None
    return run_code(settings, rest, env_file)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `claude-proxy`."""
    argv = sys.argv[1:] if argv is None else argv
    if any(a in SUBCOMMANDS for a in argv):
        return run_subcommand(argv)
    args = build_parser().parse_args(argv)
    from proxy.core.logs import setup_logging
    from proxy.core.settings import ConfigError, check_bind, check_no_loop

    try:
        # Listen checks wait until we know whether this process listens at all.
        settings = _settings(args, listen_checks=False)
        attach = attach_target(args, settings)
        if attach is None:
            check_no_loop(settings)
            check_bind(settings)
    except ConfigError as exc:
        print(f"claude-proxy: {exc}", file=sys.stderr)
        return 2
    if attach is not None:
        if not sys.stdout.isatty():
            print("claude-proxy: --attach opens the TUI; it needs a terminal", file=sys.stderr)
            return 2
        from app.ui.tui import run_tui

        return run_tui(settings, env_file=args.env_file, attach=attach)
    headless = args.headless
    if not headless and not sys.stdout.isatty():
        setup_logging(settings.log_level)
        log.info("stdout is not a terminal: running headless (use a terminal for the TUI)")
        headless = True
    if headless:
        setup_logging(settings.log_level)
        return run_headless(settings)
    from app.ui.tui import run_tui

    return run_tui(settings, env_file=args.env_file)


if __name__ == "__main__":
    sys.exit(main())
