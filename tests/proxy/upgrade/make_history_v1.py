"""Run claude-proxy at 7ec1645 (history as a JSON file) through a scripted day; keep its file.

Not a test: how `history-v1.json` was made (see README.md). Run it against that checkout.
"""

from __future__ import annotations

import asyncio
import copy
import os
import sys
from pathlib import Path

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

from proxy.core.settings import load_settings
from proxy.server.runner import ProxyServer
from tests.support import claude_code_shapes
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.mgmt import ask, turn


async def main(out: Path) -> None:
    """Two sessions: a Claude Code tool round and a subagent, then five plain questions."""
    up = FakeUpstream()
    await up.start()
    env = {
        "OPENAI_API_KEY": "sk-test-openai-0000000000001234",
        "OPENAI_API_BASE": up.url + "/v1",
        "PORT": "0",
        "HOST": "127.0.0.1",
        "BIG_MODEL": "openai/gpt-4.1",
        "SMALL_MODEL": "openai/gpt-4.1-mini",
        "CONVERSATION_FILE": str(out),
        "DATA_DIR": str(out.parent / "data"),
        "STORE_ENABLED": "false",
    }
    server = ProxyServer(load_settings(environ=env))
    await server.start()
    shapes = claude_code_shapes._shapes()
    one, two = "0a1b2c3d-session-one", "9f8e7d6c-session-two"
    up.script += [
        Reply(text="I'll look at the files."),
        Reply(text="Here is what the repository holds: a.txt. Ünïcödé ✓"),
        Reply(text="Explored: a.txt"),
    ]
    for name in ("main-turn-1", "main-turn-2-tool-result", "subagent-explore-haiku"):
        await ask(server.url, copy.deepcopy(shapes[name]), session=one)
    for i in range(5):
        up.script += [Reply(text=f'answer {i} with "quotes" and\nnew lines')]
        question = turn(f"question {i}: what about `code`?", stream=i % 2 == 0)
        await ask(server.url, question, session=two)
    await server.stop()
    await up.stop()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
