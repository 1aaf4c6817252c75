"""The one way to point Claude Code at the proxy: the header's line, `c`, `claude-proxy env`,
`claude-proxy code` and the README all come from here.

Claude Code gets the proxy's address in ANTHROPIC_BASE_URL and a token in ANTHROPIC_AUTH_TOKEN
(sent as `Authorization: Bearer`). Not ANTHROPIC_API_KEY: for someone never logged in, Claude
Code 2.1.197 and 2.1.332 first check that api.anthropic.com is reachable (a dead end offline)
and then ask whether to use that key, with "No" preselected; with AUTH_TOKEN neither happens.
Checked with the real CLI and a fresh HOME (tests/tui/test_connect_real_claude.py).
"""

from __future__ import annotations

from collections.abc import Mapping

TOKEN_VAR = "ANTHROPIC_AUTH_TOKEN"
LOCAL_TOKEN = "any"
"""The token when the proxy asks for none: any value works, it never leaves the proxy."""
KEY_REFERENCE = '"$PROXY_API_KEY"'
"""With PROXY_API_KEY set the token must be that key; lines show the variable, never the value."""


def token_value(keyed: bool) -> str:
    """What ANTHROPIC_AUTH_TOKEN is set to in a shell line (a reference when a key is needed)."""
    return KEY_REFERENCE if keyed else LOCAL_TOKEN


def connect_command(url: str, keyed: bool) -> str:
    """The one shell line that runs Claude Code against the proxy at `url`."""
    return f"ANTHROPIC_BASE_URL={url} {TOKEN_VAR}={token_value(keyed)} claude"


def export_lines(url: str, keyed: bool) -> list[str]:
    """The same settings as `export` lines (`eval "$(claude-proxy env)"`)."""
    token = '"${PROXY_API_KEY:?set PROXY_API_KEY to the proxy key}"' if keyed else LOCAL_TOKEN
    return [f"export ANTHROPIC_BASE_URL={url}", f"export {TOKEN_VAR}={token}"]


def claude_env(url: str, proxy_key: str | None, base: Mapping[str, str]) -> dict[str, str]:
    """The environment for a Claude Code process the proxy launches (`claude-proxy code`).

    ANTHROPIC_API_KEY is dropped: beside the token Claude Code would send it too, warn that both
    are set, and the proxy would see two credentials.
    """
    env = dict(base)
    env["ANTHROPIC_BASE_URL"] = url
    env[TOKEN_VAR] = proxy_key or LOCAL_TOKEN
    env.pop("ANTHROPIC_API_KEY", None)
    return env
