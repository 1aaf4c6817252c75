"""One connect line everywhere: the header, `c`, `claude-proxy env` and `code` agree, and the proxy
accepts what that line makes Claude Code send (the real CLI: tests/tui/test_connect_real_claude.py).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import anthropic
import pytest

from app.client.connect import claude_env, connect_command, export_lines
from app.client.status import Status
from tests.cli.test_launcher_doctor import clean_env, run_cli
from tests.conftest import ProxyFactory

ROOT = Path(__file__).resolve().parents[2]
URL = "http://127.0.0.1:8082"
BODY = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 8,
    "messages": [{"role": "user", "content": "x"}],
}


def test_the_line_uses_the_auth_token() -> None:
    assert (
        connect_command(URL, keyed=False)
        == f"ANTHROPIC_BASE_URL={URL} ANTHROPIC_AUTH_TOKEN=any claude"
    )
    keyed = connect_command(URL, keyed=True)
    assert keyed == f'ANTHROPIC_BASE_URL={URL} ANTHROPIC_AUTH_TOKEN="$PROXY_API_KEY" claude'


def test_the_header_shows_that_line() -> None:
    assert Status(url=URL).connect_command == connect_command(URL, keyed=False)
    assert Status(url=URL, proxy_key=True).connect_command == connect_command(URL, keyed=True)
    assert Status().connect_command == ""


@pytest.mark.parametrize("keyed", [False, True])
def test_env_exports_what_the_line_sets(keyed: bool, tmp_path: Path) -> None:
    env = clean_env(PROXY_API_KEY="proxy-secret-123456") if keyed else clean_env()
    result = run_cli(["--port", "8082", "env"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == export_lines(URL, keyed)
    assert "proxy-secret-123456" not in result.stdout
    # The exports, evaluated by a shell, give exactly the variables the one-line form sets.
    script = result.stdout + 'printf "%s\\n" "$ANTHROPIC_BASE_URL" "$ANTHROPIC_AUTH_TOKEN"'
    shell = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, check=True
    )
    line = connect_command(URL, keyed)
    assigned = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))
    expected_token = "proxy-secret-123456" if keyed else assigned["ANTHROPIC_AUTH_TOKEN"]
    assert shell.stdout.splitlines() == [assigned["ANTHROPIC_BASE_URL"], expected_token]


def test_code_sets_the_token_and_drops_the_api_key() -> None:
    base = {"ANTHROPIC_API_KEY": "sk-ant-test-real", "PATH": "/bin"}
    env = claude_env(URL, None, base)
    assert env == {"ANTHROPIC_BASE_URL": URL, "ANTHROPIC_AUTH_TOKEN": "any", "PATH": "/bin"}
    assert claude_env(URL, "proxy-secret", base)["ANTHROPIC_AUTH_TOKEN"] == "proxy-secret"


async def test_the_proxy_key_as_bearer_beside_another_x_api_key(make_proxy: ProxyFactory) -> None:
    """A shell that also exports ANTHROPIC_API_KEY makes Claude Code send both headers."""
    key = "proxy-key-abcdefghijkl"
    proxy = await make_proxy(PROXY_API_KEY=key)
    both, wrong = (
        anthropic.AsyncAnthropic(
            base_url=proxy.url,
            api_key="sk-ant-test-someone-else",
            default_headers={"Authorization": f"Bearer {token}"},
            max_retries=0,
        )
        for token in (key, "nope")
    )
    try:
        message = await both.messages.create(**BODY)  # type: ignore[arg-type]
        assert message.content[0].type == "text"
        with pytest.raises(anthropic.AuthenticationError):
            await wrong.messages.create(**BODY)  # type: ignore[arg-type]
    finally:
        await both.close()
        await wrong.close()


def test_readmes_show_the_line() -> None:
    for name in ("README.md", "README.zh-CN.md"):
        text = (ROOT / name).read_text()
        assert connect_command(URL, keyed=False) in text, name
        assert "ANTHROPIC_API_KEY=any" not in text, name
