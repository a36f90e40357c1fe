from __future__ import annotations

import gzip
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from collectors.calico.file import iter_flows
from collectors.detect import detect_source
from learner.app.console import Env
from learner.app.pipeline import build_proposal, ingest, new_store, read_flows, render_policies
from learner.cli.program import main
from learner.model.config import LearnConfig
from learner.model.errors import ExitStatus
from learner.model.flow import Direction, EndpointKind, Protocol, Verdict
from learner.model.hidden import HIDDEN_MARK
from learner.model.policy import CIDRPeer, PodPeer, Proposal
from learner.model.run_stats import CollectorStats, NormalizeStats
from learner.simulate import SimulationResult, simulate, write_hubble
from learner.simulate.calico_writer import (
    CalicoOptions,
    CalicoWriter,
    generate_name,
    network_name,
    write_calico,
)
from outputs.report.risks import collect_risks

REAL_LINE = (
    Path(__file__).parents[2]
    / "fixtures/calico/valid/observability-clinic_flows.log_deny-wep-to-wep.jsonl"
)


@pytest.fixture(scope="module")
def shop() -> SimulationResult:
    return simulate("shop", seed=1, lines=3000)


def records(result: SimulationResult, options: CalicoOptions | None = None) -> list[dict[str, Any]]:
    sink = io.BytesIO()
    CalicoWriter(result.cluster, options).write(result.events("learning"), sink)
    return [json.loads(line) for line in sink.getvalue().splitlines()]


def test_records_have_felix_field_order(shop: SimulationResult) -> None:
    real = list(json.loads(REAL_LINE.read_text()))
    for record in records(shop)[:50]:
        keys = [k for k in record if k != "dest_domains"]  # newer than the 2022 capture
        assert keys == real


def test_pod_to_pod_connections_are_reported_at_both_ends(shop: SimulationResult) -> None:
    events = [
        e
        for e in shop.events("learning")
        if e.client.pod is not None and e.server.pod is not None and e.verdict is Verdict.FORWARDED
    ]
    written = records(shop)
    wep = [r for r in written if r["source_type"] == r["dest_type"] == "wep"]
    reported = Counter(r["reporter"] for r in wep if r["action"] == "allow")
    flows: Counter[str] = Counter()
    for r in wep:
        if r["action"] == "allow":
            flows[r["reporter"]] += r["num_flows"]
    assert reported["src"] and reported["dst"]
    assert flows["src"] == flows["dst"] == len(events)


def test_level_two_hides_addresses_and_pod_names(shop: SimulationResult) -> None:
    allowed = [r for r in records(shop) if r["action"] == "allow"]
    assert all(r["source_ip"] is None and r["dest_ip"] is None for r in allowed)
    assert all(r["source_port"] is None for r in allowed)
    names = {r["source_name_aggr"] for r in allowed if r["source_type"] == "wep"}
    assert any(n.endswith("-*") for n in names)  # Deployment/DaemonSet pods: GenerateName + *
    assert all(r["source_name"] == "-" for r in allowed)
    outside = [r for r in allowed if r["dest_type"] == "net"]
    assert {r["dest_name_aggr"] for r in outside} <= {"pub", "pvt"}
    assert any(r["dest_domains"] for r in outside)


def test_denied_connections_are_level_one_at_the_denying_end(shop: SimulationResult) -> None:
    denied = [r for r in records(shop) if r["action"] == "deny"]
    assert denied
    for record in denied:
        assert record["source_ip"] and record["dest_ip"]
        assert record["source_port"] is None
    dropped = [e for e in shop.events("learning") if e.verdict is Verdict.DROPPED]
    assert sum(r["num_flows"] for r in denied) == len(dropped)


def test_labels_are_the_intersection_with_calicos_own(shop: SimulationResult) -> None:
    record = next(r for r in records(shop) if r["source_name_aggr"].startswith("frontend-"))
    labels = record["source_labels"]["labels"]
    assert "app=frontend" in labels and "projectcalico.org/namespace=shop" in labels
    assert not any(label.startswith("pod-name") for label in labels)
    unlabelled = records(shop, CalicoOptions(include_labels=False))
    assert all(r["source_labels"] is None for r in unlabelled)


def test_flush_intervals(shop: SimulationResult) -> None:
    written = records(shop)
    assert all(r["end_time"] - r["start_time"] == 300 for r in written)
    assert all(r["start_time"] % 300 == 0 for r in written)
    starts = [r["start_time"] for r in written]
    assert starts == sorted(starts)


def test_level_zero_keeps_the_five_tuple(shop: SimulationResult) -> None:
    written = records(shop, CalicoOptions(aggregation_allowed=0))
    pods = [r for r in written if r["action"] == "allow" and r["source_type"] == "wep"]
    assert all(r["source_port"] and r["source_ip"] and r["source_name"] != "-" for r in pods)


def test_both_ends_of_a_denied_connection_on_request(shop: SimulationResult) -> None:
    options = CalicoOptions(report_both_ends_of_denied=True)
    written = records(shop, options)
    dropped = [e for e in shop.events("learning") if e.verdict is Verdict.DROPPED]
    both_pods = [e for e in dropped if e.client.pod is not None and e.server.pod is not None]
    extra = sum(r["num_flows"] for r in written if r["action"] == "allow") - sum(
        r["num_flows"] for r in records(shop) if r["action"] == "allow"
    )
    assert extra == len(both_pods)


@pytest.mark.parametrize(
    ("ip", "name"),
    [("10.1.2.3", "pvt"), ("172.20.0.1", "pvt"), ("192.168.1.1", "pvt"), ("8.8.8.8", "pub"),
     ("172.32.0.1", "pub"), ("fd00::1", "pub")],
)  # fmt: skip
def test_unknown_networks(ip: str, name: str) -> None:
    assert network_name(ip) == name


def test_generate_names(shop: SimulationResult) -> None:
    by_workload = {p.workload.name: generate_name(p) for p in shop.cluster.pods}
    assert by_workload["db"] in ("db-0", "db-1")  # StatefulSet pods have no GenerateName
    assert by_workload["netshoot"] == "netshoot"
    assert by_workload["api"].startswith("api-") and by_workload["api"].endswith("-*")


def test_the_collector_reads_it_back(shop: SimulationResult, tmp_path: Path) -> None:
    path = tmp_path / "flows.log.gz"
    lines = write_calico(shop, str(path), window="learning", gzip=True)
    assert gzip.decompress(path.read_bytes()).count(b"\n") == lines
    stats = CollectorStats()
    flows = list(iter_flows([str(path)], stats=stats))
    assert stats.malformed == 0 and len(flows) == lines
    assert all(f.is_reply is False for f in flows)
    directions = Counter(f.direction for f in flows)
    assert directions[Direction.EGRESS] and directions[Direction.INGRESS]
    kinds = {f.source.kind for f in flows} | {f.destination.kind for f in flows}
    assert {EndpointKind.POD, EndpointKind.HOST, EndpointKind.WORLD} <= kinds
    assert {f.protocol for f in flows} >= {Protocol.TCP, Protocol.UDP}


def test_output_is_deterministic(shop: SimulationResult, tmp_path: Path) -> None:
    write_calico(shop, str(tmp_path / "a.log"))
    write_calico(shop, str(tmp_path / "b.log"))
    assert (tmp_path / "a.log").read_bytes() == (tmp_path / "b.log").read_bytes()


# --- the same scenario learned from Hubble and from Calico -----------------------------------


def learn(path: Path, source: str) -> tuple[dict[str, dict[str, Any]], Proposal]:
    config = LearnConfig(include_system=True)
    store = new_store(config)
    flows = read_flows([str(path)], source=source, stats=CollectorStats())
    ingest(flows, store, config, NormalizeStats())
    proposal = build_proposal(store, None, config)
    files = render_policies(proposal, config)
    documents = {
        path: yaml.safe_load(text) for path, text in files.items() if path != "kustomization.yaml"
    }
    return documents, proposal


def rule_set(document: dict[str, Any], direction: str) -> list[str]:
    """A policy's rules of one direction, order aside (rule order means nothing in
    NetworkPolicy; Hubble's kube-apiserver entity and Calico's address sort differently)."""
    return sorted(json.dumps(rule, sort_keys=True) for rule in document["spec"].get(direction, []))


def pod_rules(proposal: Proposal) -> set[tuple[str, str, str]]:
    out = set()
    for policy in proposal.policies:
        for direction, rules in (("ingress", policy.ingress), ("egress", policy.egress)):
            for rule in rules or ():
                if rule.peers and all(isinstance(p, PodPeer) for p in rule.peers):
                    peers = ";".join(p.key for p in rule.peers)
                    ports = ";".join(p.key for p in rule.ports)
                    out.add((f"{policy.key} {direction}", peers, ports))
    return out


@pytest.fixture(scope="module")
def learned(
    shop: SimulationResult, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[dict[str, dict[str, Any]], Proposal]]:
    directory = tmp_path_factory.mktemp("parity")
    write_hubble(shop, str(directory / "hubble.jsonl"), window="learning")
    for level in (0, 1, 2):
        # What a node with flow and DNS logs enabled writes: flows.log and dns.log.
        logs = directory / f"level{level}"
        write_calico(shop, str(logs / "flows.log"), window="learning",
                     options=CalicoOptions(aggregation_allowed=level),
                     dns_path=str(logs / "dns.log"))  # fmt: skip
    return {
        "hubble": learn(directory / "hubble.jsonl", "hubble"),
        "level0": learn(directory / "level0", "calico"),
        "level1": learn(directory / "level1", "calico"),
        "level2": learn(directory / "level2", "calico"),
        "level1-flows-only": learn(directory / "level1" / "flows.log", "calico"),
    }


def dns_answered(result: SimulationResult) -> set[str]:
    """Every address a DNS response in the learning window gave (what Hubble's L7 DNS records
    and Calico's DNS logs carry, and flows.log does not)."""
    return {
        address
        for event in result.events("learning")
        if event.dns is not None
        for address in event.dns.answers
    }


def cidrs(documents: dict[str, dict[str, Any]]) -> set[str]:
    return {
        peer["ipBlock"]["cidr"]
        for document in documents.values()
        for direction, side in (("ingress", "from"), ("egress", "to"))
        for rule in document["spec"].get(direction, [])
        for peer in rule.get(side, [])
        if "ipBlock" in peer
    }


@pytest.mark.parametrize("level", ["level0", "level1"])
def test_hubble_and_calico_with_addresses_give_the_same_networkpolicies(
    learned: dict[str, tuple[dict[str, dict[str, Any]], Proposal]], level: str
) -> None:
    """flows.log and dns.log together say what Hubble's flows and DNS responses say."""
    hubble, _ = learned["hubble"]
    calico, _ = learned[level]
    assert sorted(hubble) == sorted(calico)
    for path, document in hubble.items():
        other = calico[path]
        assert other["spec"]["podSelector"] == document["spec"]["podSelector"], path
        assert other["spec"]["policyTypes"] == document["spec"]["policyTypes"], path
        for direction in ("ingress", "egress"):
            assert rule_set(other, direction) == rule_set(document, direction), (path, direction)


def test_without_dns_logs_answered_addresses_never_connected_to_are_missing(
    learned: dict[str, tuple[dict[str, dict[str, Any]], Proposal]], shop: SimulationResult
) -> None:
    """What the DNS logs add: the addresses a name resolved to that no client used that day."""
    missing = cidrs(learned["level1"][0]) - cidrs(learned["level1-flows-only"][0])
    assert missing  # stripe, S3, the log intake
    assert {cidr.removesuffix("/32") for cidr in missing} <= dns_answered(shop)


HIDDEN_BLOCKS = {"0.0.0.0/0", "::/0", "10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16",
                 "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fe80::/10"}  # fmt: skip


def ip_blocks(document: dict[str, Any], direction: str) -> set[str]:
    side = "to" if direction == "egress" else "from"
    return {
        peer["ipBlock"]["cidr"]
        for rule in document["spec"].get(direction, [])
        for peer in rule.get(side, [])
        if "ipBlock" in peer
    }


def test_calico_at_level_2_allows_hidden_addresses_and_says_so(
    learned: dict[str, tuple[dict[str, dict[str, Any]], Proposal]],
) -> None:
    hubble_files, hubble = learned["hubble"]
    calico_files, calico = learned["level2"]
    assert pod_rules(calico) == pod_rules(hubble)
    assert sorted(hubble_files) == sorted(calico_files)
    # Nothing is held back any more: a hidden address becomes the space it hides in.
    assert not [
        p for p in calico.pending if "world" in (p.edge.source.kind, p.edge.destination.kind)
    ]
    differing = 0
    for path, document in hubble_files.items():
        other = calico_files[path]
        assert other["spec"]["podSelector"] == document["spec"]["podSelector"], path
        for direction in ("ingress", "egress"):
            if rule_set(other, direction) == rule_set(document, direction):
                continue
            differing += 1
            # Where they differ, Hubble had outside addresses and Calico the hidden space.
            assert ip_blocks(document, direction), (path, direction)
            assert ip_blocks(other, direction) <= HIDDEN_BLOCKS, (path, direction)
    assert differing
    hidden_rules = [
        rule
        for policy in calico.policies
        for rule in (*(policy.ingress or ()), *(policy.egress or ()))
        if any(isinstance(p, CIDRPeer) and p.cidr in HIDDEN_BLOCKS for p in rule.peers)
    ]
    assert hidden_rules
    assert all(any(HIDDEN_MARK in a for a in rule.admits) for rule in hidden_rules)
    risks = collect_risks(calico, CollectorStats(), NormalizeStats(), None)
    assert any(r.kind == "hidden-addresses" and "any public address" in r.detail for r in risks)


def test_simulate_command_writes_calico_flow_logs(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    argv = ["simulate", "--source", "calico", "--lines", "500", "--output-dir", str(tmp_path)]
    assert main(argv, env=Env(out, err)) == ExitStatus.SUCCESS, err.getvalue()
    for window in ("learning", "held-out"):
        path = tmp_path / "flows" / f"{window}.jsonl"
        assert detect_source(str(path)) == "calico"
        stats = CollectorStats()
        assert list(iter_flows([str(path)], stats=stats)) and stats.malformed == 0
        dns_log = tmp_path / "flows" / f"{window}-dns.jsonl"  # as a node with DNS logs on
        stats = CollectorStats()
        answers = [f for f in iter_flows([str(dns_log)], stats=stats) if f.dns_answers]
        assert answers and stats.malformed == 0
    truth = json.loads((tmp_path / "ground-truth.json").read_text())
    assert "flows/learning-dns.jsonl" in json.dumps(truth)
