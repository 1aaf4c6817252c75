"""`claude-proxy usage`: the table and JSON on a known data set, straight from the store file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from app.cli.main import main
from proxy.store import db
from tests.support.usage_data import write_known

ROOT = Path(__file__).resolve().parents[2]

BY_DAY = """\
Usage by day, all time

Day         Requests  Input  Output  Cache write  Cache read  Total tokens  Cost (USD)
----------  --------  -----  ------  -----------  ----------  ------------  ----------
2025-03-01         3  4,500     350            0       2,000         6,850     $0.0117
2025-03-02         3  2,100   1,400        1,000       5,000         9,500     $0.0250
----------  --------  -----  ------  -----------  ----------  ------------  ----------
Total              6  6,600   1,750        1,000       7,000        16,350     $0.0367
"""

BY_MODEL = """\
Usage by model, all time

Model                        Requests  Input  Output  Cache write  Cache read  Total tokens  Cost (USD)
---------------------------  --------  -----  ------  -----------  ----------  ------------  ----------
openai/gpt-4.1                      3  6,000   1,300            0       2,000         9,300     $0.0234
anthropic/claude-sonnet-4-5         2    100     400        1,000       5,000         6,500     $0.0131
openai/gpt-4.1-mini                 1    500      50            0           0           550     $0.0003
---------------------------  --------  -----  ------  -----------  ----------  ------------  ----------
Total                               6  6,600   1,750        1,000       7,000        16,350     $0.0367
"""

BY_SESSION_SINCE = """\
Usage by session, since 2025-03-02

Session  Requests  Input  Output  Cache write  Cache read  Total tokens  Cost (USD)
-------  --------  -----  ------  -----------  ----------  ------------  ----------
sess-b          2    100     400        1,000       5,000         6,500     $0.0131
(none)          1  2,000   1,000            0           0         3,000     $0.0120
-------  --------  -----  ------  -----------  ----------  ------------  ----------
Total           3  2,100   1,400        1,000       5,000         9,500     $0.0250
"""


@pytest.fixture
def known(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The known data set in DATA_DIR; the working folder has no .env."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return write_known(tmp_path / "data")


def test_table_by_day_and_by_model(known: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["usage"]) == 0
    assert capsys.readouterr().out == BY_DAY
    assert main(["usage", "--by", "model"]) == 0
    assert capsys.readouterr().out == BY_MODEL


def test_table_by_session_since_a_day(known: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The rows add up to the total: requests without a session are one `(none)` row."""
    assert main(["usage", "--by", "session", "--since", "2025-03-02"]) == 0
    assert capsys.readouterr().out == BY_SESSION_SINCE


def test_json(known: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["usage", "--by", "preset", "--json"]) == 0
    report = orjson.loads(capsys.readouterr().out)
    assert report["by"] == "preset" and report["since"] is None
    assert [(r["preset"], r["requests"], r["errors"]) for r in report["rows"]] == [
        ("openai_premium", 4, 0),
        ("anthropic_pure", 2, 1),
    ]
    assert report["totals"]["requests"] == 6 and report["totals"]["errors"] == 1
    assert report["totals"]["cost"] == pytest.approx(0.03673)
    assert report["totals"]["cache_write_tokens"] == 1000


def test_nothing_recorded_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.chdir(tmp_path)
    assert main(["usage"]) == 0
    assert capsys.readouterr().out.startswith("No requests recorded (all time) in ")
    assert main(["usage", "--json"]) == 0
    report = orjson.loads(capsys.readouterr().out)
    assert report["rows"] == [] and report["totals"]["requests"] == 0


def test_a_damaged_store_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / db.DB_NAME).write_bytes(b"this is not a database" * 100)
    monkeypatch.setenv("DATA_DIR", str(folder))
    monkeypatch.chdir(tmp_path)
    assert main(["usage"]) == 1
    err = capsys.readouterr().err
    assert "claude-proxy usage:" in err and "damaged" in err and str(folder) in err


def test_bad_arguments_are_refused(known: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["usage", "--since", "yesterday"])
    assert exit_info.value.code == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_the_installed_command(known: Path, tmp_path: Path) -> None:
    """The real entry point, in its own process, reading the store another process wrote."""
    script = Path(sys.executable).with_name("claude-proxy")
    result = subprocess.run(
        [str(script), "usage", "--by", "model"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "DATA_DIR": str(tmp_path / "data")},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == BY_MODEL


def test_the_verb_loads_no_ui_no_server_no_litellm(known: Path, tmp_path: Path) -> None:
    """`claude-proxy usage` is a quick look: no Textual, Rich, aiohttp or LiteLLM is imported."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "app.cli.main", "usage", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT)},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    roots = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "sqlite3" in roots
    assert not roots & {"textual", "rich", "aiohttp", "litellm"}
    assert orjson.loads(result.stdout)["totals"]["requests"] == 6


def test_no_store_turns_recording_off_for_one_run(tmp_path: Path) -> None:
    from app.cli.main import _settings, build_parser

    off = _settings(build_parser().parse_args(["--no-store", "--env-file", str(_env(tmp_path))]))
    on = _settings(build_parser().parse_args(["--env-file", str(_env(tmp_path))]))
    assert off.store_enabled is False and on.store_enabled is True


def _env(folder: Path) -> Path:
    path = folder / "test.env"
    path.write_text("PORT=0\n")
    return path
