from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from learner.app.metrics import LearnerMetrics, MetricsServer, parse_listen_address, registry_for
from learner.model.errors import UsageError


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_metrics_are_read_at_scrape_time_and_probes_answer() -> None:
    state = {"received": 5, "ready": False}
    registry = registry_for(
        lambda: LearnerMetrics(
            flows_received=state["received"],
            flows_skipped={"reply": 2},
            workloads={"Stable": 3, "Learning": 1},
            connected=True,
        )
    )
    server = MetricsServer(
        "127.0.0.1:0", registry, healthy=lambda: True, ready=lambda: bool(state["ready"])
    ).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        state["received"] = 9
        status, text = get(base + "/metrics")
        assert status == 200
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        assert samples[("netpol_learner_flows_received_total", ())] == 9
        assert samples[("netpol_learner_flows_skipped_total", (("reason", "reply"),))] == 2
        assert samples[("netpol_learner_workloads", (("status", "Stable"),))] == 3
        assert samples[("netpol_learner_source_connected", ())] == 1
        assert get(base + "/healthz") == (200, "ok\n")
        assert get(base + "/readyz") == (503, "not ok\n")
        state["ready"] = True
        assert get(base + "/readyz") == (200, "ok\n")
        assert get(base + "/other")[0] == 404
    finally:
        server.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [(":9090", ("", 9090)), ("127.0.0.1:80", ("127.0.0.1", 80)), ("[::1]:9090", ("::1", 9090))],
)
def test_listen_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen_address(text) == expected


@pytest.mark.parametrize("text", ["9090", ":http", "host:70000"])
def test_bad_listen_addresses(text: str) -> None:
    with pytest.raises(UsageError, match="--metrics-addr"):
        parse_listen_address(text)
