"""The simulator's ``dns.log``: the lookups Hubble shows as DNS responses, as Felix logs them."""

from __future__ import annotations

import gzip
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from collectors.calico.file import iter_flows
from collectors.detect import detect_source
from learner.app.pipeline import ingest, new_store, read_flows
from learner.model.config import LearnConfig
from learner.model.run_stats import CollectorStats, NormalizeStats
from learner.simulate import SimulationResult, simulate, write_hubble
from learner.simulate.calico_dns_writer import CalicoDnsWriter, logged
from learner.simulate.calico_names import generate_name
from learner.simulate.calico_writer import write_calico
from learner.simulate.hubble_writer import HubbleWriter
from tests.collectors.calico.test_dns_logs import dns_record


@pytest.fixture(scope="module")
def shop() -> SimulationResult:
    return simulate("shop", seed=1, lines=3000)


def records(result: SimulationResult, include_labels: bool = True) -> list[dict[str, Any]]:
    sink = io.BytesIO()
    writer = CalicoDnsWriter(include_labels=include_labels)
    for _ in writer.tee(result.events("learning"), sink):
        pass
    return [json.loads(line) for line in sink.getvalue().splitlines()]


def hubble_responses(result: SimulationResult) -> Counter[tuple[str, tuple[str, ...]]]:
    """(query, answers) of every DNS response the Hubble writer writes, counted."""
    writer = HubbleWriter(result.cluster)
    found: Counter[tuple[str, tuple[str, ...]]] = Counter()
    for event in result.events("learning"):
        for record in writer.records(event):
            l7 = record["flow"].get("l7") or {}
            if l7.get("type") == "RESPONSE" and "dns" in l7:
                dns = l7["dns"]
                found[dns["query"].rstrip("."), tuple(sorted(dns.get("ips", ())))] += 1
    return found


def test_every_dns_response_hubble_shows_is_logged_once(shop: SimulationResult) -> None:
    logged_lookups: Counter[tuple[str, tuple[str, ...]]] = Counter()
    for record in records(shop):
        answers = tuple(sorted(a for rrset in record["rrsets"] or () for a in rrset["rdata"]))
        logged_lookups[record["qname"], answers] += record["count"]
    expected = hubble_responses(shop)
    assert expected and logged_lookups == expected
    assert sum(logged(e) for e in shop.events("learning")) == sum(expected.values())


def test_records_have_the_dns_log_field_order_and_default_aggregation(
    shop: SimulationResult,
) -> None:
    written = records(shop)
    assert written
    keys = list(dns_record())
    pods = {pod.name: pod for pod in shop.cluster.pods}
    for record in written:
        assert list(record) == keys
        assert record["type"] == "log"
        assert (record["client_name"], record["client_ip"]) == ("-", None)
        assert record["client_name_aggr"].endswith("*") or record["client_name_aggr"] in pods
        for server in record["servers"]:
            assert server["name_aggr"] == generate_name(pods[server["name"]])
    assert {r["rcode"] for r in written} == {"NoError", "NXDomain"}
    # Lookups of one workload's pods in one interval for the same answer are one record.
    assert any(r["count"] > 1 for r in records(simulate("mixed", seed=1, lines=20_000)))


def test_labels_follow_the_include_labels_option(shop: SimulationResult) -> None:
    labelled = records(shop)[0]
    assert labelled["client_labels"]["projectcalico.org/namespace"] == labelled["client_namespace"]
    bare = records(shop, include_labels=False)[0]
    assert bare["client_labels"] is None
    assert all(server["labels"] is None for server in bare["servers"])


def test_written_beside_flows_log_read_back_as_hubbles_answers(
    shop: SimulationResult, tmp_path: Path
) -> None:
    logs = tmp_path / "calico"
    write_calico(shop, str(logs / "flows.log"), window="learning", gzip=True,
                 dns_path=str(logs / "dns.log"))  # fmt: skip
    with gzip.open(logs / "dns.log", "rt") as handle:
        assert json.loads(handle.readline())["type"] == "log"
    assert detect_source(str(logs / "dns.log")) == "calico"
    stats = CollectorStats()
    assert list(iter_flows([str(logs / "dns.log")], stats=stats)) and stats.malformed == 0

    def answers(path: Path, source: str) -> dict[str, set[str]]:
        config = LearnConfig()
        store = new_store(config)
        flows = read_flows([str(path)], source=source, stats=CollectorStats())
        ingest(flows, store, config, NormalizeStats())
        return store.dns_answers

    hubble = tmp_path / "hubble.jsonl"
    write_hubble(shop, str(hubble), window="learning")
    assert answers(logs, "auto") == answers(hubble, "hubble") != {}


def test_output_is_deterministic(shop: SimulationResult, tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_calico(shop, str(tmp_path / name / "flows.log"),
                     dns_path=str(tmp_path / name / "dns.log"))  # fmt: skip
    assert (tmp_path / "a" / "dns.log").read_bytes() == (tmp_path / "b" / "dns.log").read_bytes()
    # The flow log is what it was without DNS logs.
    write_calico(shop, str(tmp_path / "flows-only.log"))
    assert (tmp_path / "a" / "flows.log").read_bytes() == (tmp_path / "flows-only.log").read_bytes()
