"""The store stands on `proxy.core` alone: nothing else from `proxy/`, and nothing slow."""

from __future__ import annotations

import subprocess
import sys

from tests.proxy.store.support import ROOT, child_env

CHECK = """
import sys
import proxy.store.db, proxy.store.queries, proxy.store.reader, proxy.store.retention
import proxy.store.schema, proxy.store.writer
print(sorted(m for m in sys.modules
             if (m.startswith("proxy.") and not m.startswith(("proxy.store", "proxy.core")))
             or m.split(".")[0] in ("litellm", "aiohttp", "textual", "rich")))
"""


def test_the_store_imports_only_itself() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "[]"
