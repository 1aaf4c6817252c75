"""The Prometheus exposition on its own: bucket bounds (`le`), escaping, a store that is not there."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from proxy.server import prometheus
from proxy.state.events import REQUEST_FAILED, REQUEST_FINISHED, REQUEST_STARTED, ProxyEvent
from proxy.state.latency import DURATION_BUCKETS, Histogram, LatencyHistograms


def test_a_value_on_a_bound_counts_in_that_bucket() -> None:
    histogram = Histogram((0.5, 1.0))
    for value in (0.5, 0.7, 1.0, 3.0):
        histogram.observe(value)
    assert histogram.cumulative() == [(0.5, 1), (1.0, 3), (float("inf"), 4)]
    assert (histogram.count, histogram.total) == (4, 5.2)


def test_histograms_follow_ended_requests_by_provider_and_model() -> None:
    latency = LatencyHistograms()
    data = {"provider": "openai", "model": "openai/gpt-4.1", "latency": 2.0, "ttft": 0.3}
    latency.on_event(ProxyEvent(REQUEST_STARTED, "r1", {"model": "openai/gpt-4.1"}))
    latency.on_event(ProxyEvent(REQUEST_FINISHED, "r1", data))
    latency.on_event(ProxyEvent(REQUEST_FAILED, "r2", {**data, "ttft": None, "latency": 0.05}))
    key = ("openai", "openai/gpt-4.1")
    assert latency.duration[key].count == 2 and latency.ttft[key].count == 1
    assert len(latency.duration[key].counts) == len(DURATION_BUCKETS) + 1


def test_labels_are_escaped_and_the_text_parses() -> None:
    odd = 'we"ird\\model\nname'
    rows = [
        {
            "provider": "openai",
            "model": odd,
            "requests": 2,
            "errors": 1,
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
            "cost": 0.25,
        }
    ]
    histogram = Histogram((1.0,))
    histogram.observe(0.5)
    text = prometheus.render(
        rows, {("openai", odd): histogram}, {}, 3, {"state": "paused", "backlog": 7}
    )
    families = {f.name: f for f in text_string_to_metric_families(text)}
    [requests] = families["claude_proxy_requests"].samples
    assert requests.labels == {"provider": "openai", "model": odd} and requests.value == 2
    assert families["claude_proxy_cost_usd"].samples[0].value == 0.25
    assert families["claude_proxy_recording"].samples[0].value == 0
    assert families["claude_proxy_store_backlog"].samples[0].value == 7
    assert families["claude_proxy_in_flight_requests"].samples[0].value == 3
    buckets = [
        (s.labels["le"], s.value)
        for s in families["claude_proxy_request_duration_seconds"].samples
        if s.name.endswith("_bucket")
    ]
    assert buckets == [("1.0", 1), ("+Inf", 1)]
    assert text.endswith("\n")
