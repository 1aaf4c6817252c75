"""The attached TUI's proxy key comes from the environment or a file, not only the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli.main import _settings, build_parser, main
from proxy.core.settings import ConfigError


def settings_for(argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """The proxy key the CLI would use for these arguments (no .env of the developer's)."""
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(argv)
    return _settings(args, listen_checks=False).proxy_api_key


def test_key_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROXY_API_KEY", raising=False)
    key_file = tmp_path / "proxy.key"
    key_file.write_text("key-from-a-file-123456\nignored second line\n")
    argv = ["--attach", "http://127.0.0.1:9", "--api-key-file", str(key_file)]
    assert settings_for(argv, tmp_path, monkeypatch) == "key-from-a-file-123456"


def test_key_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROXY_API_KEY", "key-from-the-env-123456")
    assert settings_for(["--attach", "http://127.0.0.1:9"], tmp_path, monkeypatch) == (
        "key-from-the-env-123456"
    )


def test_bad_key_files_are_clear_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.key"
    empty.write_text("\n")
    for argv, needle in (
        (["--api-key-file", str(tmp_path / "missing.key")], "cannot read"),
        (["--api-key-file", str(empty)], "first line is empty"),
        (["--api-key-file", str(empty), "--api-key", "x"], "not both"),
    ):
        with pytest.raises(ConfigError, match=needle):
            settings_for(["--attach", "http://127.0.0.1:9", *argv], tmp_path, monkeypatch)
    assert main(["--headless", "--api-key-file", str(tmp_path / "missing.key")]) == 2
    assert "cannot read" in capsys.readouterr().err
