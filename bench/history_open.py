"""`uv run python -m bench.history_open`: how long the History view takes to open on 100,000 turns.

Seeds a store file with `--turns` turns (tests/support/history_data.py), starts the real app
headless (embedded proxy, `App.run_test`) on that data folder, then `--runs` times: run the
action of the `h` key and time until the first page is in the view (the status line says `50 of N
turns`; the terminal's paint is not included), then Escape.
Prints JSON: the median and the slowest open in ms, and the store's first-page query alone; the
same for a store of one page (50 turns), so what the store's size adds is the difference.
Target (issue 15): under 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from proxy.store import db, queries
from tests.support.history_data import seed_turns


def page_query_ms(path: Path, runs: int = 20) -> float:
    """Median time of `queries.history_page(limit=50)` on a fresh reader connection each run."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        conn = db.open_reader(path)
        queries.history_page(conn, 50)
        conn.close()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def open_times(folder: Path, runs: int) -> list[float]:
    """Milliseconds from pressing `h` to the first page shown, `runs` times."""
    from app.ui.tui import make_app
    from proxy.core.lazy_litellm import start_import
    from proxy.core.settings import load_settings
    from screens.history import PAGE, HistoryScreen

    environ = {
        "OPENAI_API_KEY": "sk-test-bench-0000000000000000",
        "OPENAI_API_BASE": "http://127.0.0.1:9/v1",
        "HOST": "127.0.0.1",
        "PORT": "0",
        "DATA_DIR": str(folder),
        "PRESETS_FILE": str(folder / "presets.toml"),
    }
    app = make_app(load_settings(environ=environ), env_file=folder / ".env", first_run_prompt=False)
    times: list[float] = []
    async with app.run_test(size=(160, 48)) as pilot:
        while app.state != "ready":
            await pilot.pause(0.02)
        # The steady state: LiteLLM's background import (a thread of this process) done.
        await asyncio.wrap_future(start_import())
        await pilot.pause(0.2)
        for _ in range(runs):
            # The action the `h` key runs, called directly: pilot.press also waits for the app to
            # go idle, which is not what a user waits for.
            started = time.perf_counter()
            app.action_history()
            while True:
                screen = app.screen
                # A view shown again still shows its last page until this visit's is fetched
                # (`page_shown`; a view built anew each time has no such flag).
                if (
                    isinstance(screen, HistoryScreen)
                    and getattr(screen, "page_shown", True)
                    and screen.query("#history-status")
                ):
                    status = str(screen.query_one("#history-status").render())
                    if status.startswith(f"{PAGE} of"):
                        break
                await asyncio.sleep(0.001)
            times.append((time.perf_counter() - started) * 1000)
            await pilot.press("escape")
            await pilot.pause(0.1)
        await pilot.press("q")
    return times


def measure(turns: int, runs: int) -> dict[str, Any]:
    """Seed a fresh data folder with `turns` turns and time the opens."""
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        folder = Path(tmp)
        os.environ["XDG_CONFIG_HOME"] = str(folder / "config")
        seed_turns(folder / "claude-proxy.db", turns)
        query = page_query_ms(folder / "claude-proxy.db")
        times = asyncio.run(open_times(folder, runs))
    return {
        "turns": turns,
        "open_ms_median": round(statistics.median(times), 1),
        "open_ms_max": round(max(times), 1),
        # The first open builds the view; later ones show the same view again (fetching anew).
        "first_open_ms": round(times[0], 1),
        "reopen_ms_median": round(statistics.median(times[1:]), 1) if len(times) > 1 else None,
        "first_page_query_ms": round(query, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.history_open", description=__doc__)
    parser.add_argument("--turns", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    # The same view on a store of one page: what the open costs whatever the store's size.
    result = {
        "runs": args.runs,
        "load_average": round(os.getloadavg()[0], 2),
        "store": measure(args.turns, args.runs),
        "one_page_store": measure(50, args.runs),
    }
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
