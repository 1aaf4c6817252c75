"""GET /usage (JSON, CSV), /metrics (parsed by prometheus_client) and /stats on the store, and
one test that every number agrees across /stats, /usage, /metrics and `claude-proxy usage`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.cli.main import main
from tests.conftest import DIALECT_MODELS, ProxyFactory
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.mgmt import SESSION, ask, call, turn
from tests.support.usage_data import write_known

BIG, SMALL = DIALECT_MODELS["openai"]
KEYS = (
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost",
)


def metrics_of(text: str) -> dict[str, Any]:
    """Families by name, as prometheus_client's parser reads them."""
    return {family.name: family for family in text_string_to_metric_families(text)}


async def test_usage_json_on_a_known_data_set(
    make_proxy: ProxyFactory, upstream: FakeUpstream, tmp_path: Path
) -> None:
    write_known(tmp_path)
    proxy = await make_proxy(DATA_DIR=str(tmp_path))
    by_day = (await call(proxy.url, "GET", "/usage")).json
    assert by_day["by"] == "day" and by_day["since"] is None
    assert [(r["day"], r["requests"], r["errors"]) for r in by_day["rows"]] == [
        ("2025-03-01", 3, 0),
        ("2025-03-02", 3, 1),
    ]
    assert by_day["rows"][1] == {
        "day": "2025-03-02",
        "requests": 3,
        "errors": 1,
        "input_tokens": 2100,
        "output_tokens": 1400,
        "cache_read_tokens": 5000,
        "cache_write_tokens": 1000,
        "cost": 0.02505,
        "avg_duration": pytest.approx((2.0 + 0.25 + 2.0) / 3),
        "avg_ttft": 0.5,
    }
    assert by_day["totals"]["requests"] == 6 and by_day["totals"]["cost"] == 0.03673
    by_model = (await call(proxy.url, "GET", "/usage?by=model&since=2025-03-02")).json
    assert [(r["model"], r["requests"], r["cost"]) for r in by_model["rows"]] == [
        ("anthropic/claude-sonnet-4-5", 2, 0.01305),
        ("openai/gpt-4.1", 1, 0.012),
    ]
    by_session = (await call(proxy.url, "GET", "/usage?by=session")).json
    assert [(r["session"], r["requests"]) for r in by_session["rows"]] == [
        ("sess-b", 2),
        ("sess-a", 3),
        (None, 1),
    ]
    by_preset = (await call(proxy.url, "GET", "/usage?by=preset&since=2025-03-03")).json
    assert by_preset["rows"] == [] and by_preset["totals"]["requests"] == 0


async def test_usage_csv_on_a_known_data_set(
    make_proxy: ProxyFactory, upstream: FakeUpstream, tmp_path: Path
) -> None:
    write_known(tmp_path)
    proxy = await make_proxy(DATA_DIR=str(tmp_path))
    answer = await call(proxy.url, "GET", "/usage?by=preset&format=csv")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/csv")
    assert "claude-proxy-usage-by-preset.csv" in answer.headers["Content-Disposition"]
    assert answer.text == (
        "preset,requests,errors,input_tokens,output_tokens,cache_read_tokens,"
        "cache_write_tokens,cost,avg_duration,avg_ttft\n"
        "openai_premium,4,0,6500,1350,2000,0,0.02368,2.0,0.5\n"
        "anthropic_pure,2,1,100,400,5000,1000,0.01305,1.125,0.5\n"
    )


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("by=week", "by: must be one of day, model, session, preset, provider"),
        ("since=March", "since: expected a date as YYYY-MM-DD"),
        ("format=xml", "format: must be json or csv"),
    ],
)
async def test_usage_refuses_bad_parameters(
    make_proxy: ProxyFactory, upstream: FakeUpstream, query: str, words: str
) -> None:
    proxy = await make_proxy()
    answer = await call(proxy.url, "GET", f"/usage?{query}")
    assert answer.status == 400 and words in answer.error


async def test_metrics_parse_as_prometheus_text(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, MAX_RETRIES=0)
    upstream.script += [
        Reply(prompt_tokens=100, completion_tokens=10),
        Reply(prompt_tokens=200, completion_tokens=20, cached_tokens=50),
        Reply(status=500, error_message="down"),
        Reply(prompt_tokens=30, completion_tokens=3),
    ]
    await ask(proxy.url, turn("a"))
    await ask(proxy.url, turn("b", stream=True))
    assert (await call(proxy.url, "POST", "/v1/messages", turn("c"))).status == 502
    await ask(proxy.url, turn("d", "claude-haiku-4-5"))
    answer = await call(proxy.url, "GET", "/metrics")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = metrics_of(answer.text)

    def value(name: str, **labels: str) -> float:
        [sample] = [
            s
            for s in families["claude_proxy_" + name.removesuffix("_total")].samples
            if s.name == f"claude_proxy_{name}" and all(s.labels[k] == v for k, v in labels.items())
        ]
        return float(sample.value)

    assert families["claude_proxy_requests"].type == "counter"
    big = {"provider": "openai", "model": BIG}
    assert value("requests_total", **big) == 3
    assert value("errors_total", **big) == 1
    assert value("requests_total", provider="openai", model=SMALL) == 1
    assert value("tokens_total", kind="input", **big) == 100 + 150
    assert value("tokens_total", kind="cache_read", **big) == 50
    assert value("tokens_total", kind="output", **big) == 30
    stats = (await call(proxy.url, "GET", "/stats")).json
    assert value("cost_usd_total", **big) == pytest.approx(stats["models"][BIG]["cost"], abs=1e-6)

    duration = families["claude_proxy_request_duration_seconds"]
    assert duration.type == "histogram"
    buckets = [
        s for s in duration.samples if s.name.endswith("_bucket") and s.labels["model"] == BIG
    ]
    counts = [s.value for s in buckets]
    assert counts == sorted(counts) and buckets[-1].labels["le"] == "+Inf" and counts[-1] == 3
    [count] = [
        s for s in duration.samples if s.name.endswith("_count") and s.labels["model"] == BIG
    ]
    assert count.value == 3
    ttft = families["claude_proxy_time_to_first_token_seconds"]
    assert {s.labels["model"] for s in ttft.samples} == {BIG, SMALL}
    assert families["claude_proxy_recording"].samples[0].value == 1
    assert families["claude_proxy_in_flight_requests"].samples[0].value == 0


async def test_metrics_without_a_readable_store(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy(STORE_ENABLED="false")
    await ask(proxy.url, turn("a"))
    families = metrics_of((await call(proxy.url, "GET", "/metrics")).text)
    assert "claude_proxy_requests" not in families
    assert families["claude_proxy_recording"].samples[0].value == 0
    assert families["claude_proxy_request_duration_seconds"].samples


async def test_every_number_agrees(
    make_proxy: ProxyFactory,
    upstream: FakeUpstream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """/stats (memory and store), /usage, /metrics and `claude-proxy usage` on the same data."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, MAX_RETRIES=0)
    upstream.script += [
        Reply(prompt_tokens=1200, completion_tokens=80, cached_tokens=200),
        Reply(prompt_tokens=900, completion_tokens=40),
        Reply(status=429, error_message="slow down"),
        Reply(prompt_tokens=50, completion_tokens=5),
        Reply(prompt_tokens=70, completion_tokens=7),
    ]
    await ask(proxy.url, turn("one"), session="s1")
    await ask(proxy.url, turn("two", stream=True), session="s1")
    assert (await call(proxy.url, "POST", "/v1/messages", turn("three"))).status == 429
    await ask(proxy.url, turn("four", "claude-haiku-4-5"), session="s2")
    await call(
        proxy.url,
        "POST",
        "/v1/messages",
        turn("probe", "claude-haiku-4-5"),
        headers={"x-claude-proxy-origin": "probe", SESSION: "probe"},
    )

    stats = (await call(proxy.url, "GET", "/stats")).json
    usage = (await call(proxy.url, "GET", "/usage?by=model")).json
    families = metrics_of((await call(proxy.url, "GET", "/metrics")).text)
    assert main(["usage", "--by", "model", "--json"]) == 0
    cli = orjson.loads(capsys.readouterr().out)

    memory = stats["totals"]
    expected = {
        "requests": 5,
        "errors": 1,
        "input_tokens": 1000 + 900 + 50 + 70,
        "output_tokens": 80 + 40 + 5 + 7,
    }
    assert {k: memory[k] for k in expected} == expected
    for view in (stats["totals_since_start"], stats["today"], stats["all_time"]):
        assert {k: view[k] for k in expected} == expected
        assert view["cache_read_tokens"] == 200
        assert view["cost"] == pytest.approx(memory["cost"], abs=1e-6)
    assert usage["totals"] == stats["all_time"] == cli["totals"]
    assert usage["rows"] == cli["rows"]
    for row in usage["rows"]:
        model = stats["models"][row["model"]]
        assert (row["requests"], row["errors"]) == (model["requests"], model["errors"])
        assert (row["input_tokens"], row["output_tokens"]) == (
            model["input_tokens"],
            model["output_tokens"],
        )
        assert row["cost"] == pytest.approx(model["cost"], abs=1e-6)

    def metric_sum(family: str, **labels: str) -> float:
        return sum(
            s.value
            for s in families[family].samples
            if all(s.labels.get(k) == v for k, v in labels.items())
        )

    totals = usage["totals"]
    assert metric_sum("claude_proxy_requests") == totals["requests"]
    assert metric_sum("claude_proxy_errors") == totals["errors"]
    for kind in ("input", "output", "cache_read", "cache_write"):
        assert metric_sum("claude_proxy_tokens", kind=kind) == totals[f"{kind}_tokens"]
    assert metric_sum("claude_proxy_cost_usd") == pytest.approx(totals["cost"], abs=1e-6)
    durations = [
        s
        for s in families["claude_proxy_request_duration_seconds"].samples
        if s.name.endswith("_count")
    ]
    assert sum(s.value for s in durations) == totals["requests"]
    # The same through the CLI's table: its Total row.
    assert main(["usage", "--by", "model"]) == 0
    total_line = capsys.readouterr().out.splitlines()[-1].split()
    assert total_line[:3] == ["Total", str(totals["requests"]), f"{totals['input_tokens']:,}"]
    assert total_line[-1] == f"${totals['cost']:,.4f}"
    assert os.environ["DATA_DIR"] == str(tmp_path)
