"""``generate`` on records of each Hubble event shape: what becomes a rule, what is set aside."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.hubble_records import (
    icmp,
    pod_endpoint,
    record,
    sock_trace,
    tcp,
    udp,
    write_lines,
)
from tests.learner.cli.test_generate import run_cli

WEB = pod_endpoint("shop", "web", identity=31001)
COREDNS = pod_endpoint("kube-system", "kube-dns", identity=31002, pod="coredns-5d78c9869d-abcde")


def generate(tmp_path: Path, records: list[dict[str, Any]], *args: str) -> tuple[Path, str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    flows = write_lines(tmp_path / "flows.jsonl", records)
    out = tmp_path / "out"
    status, stdout, err = run_cli("generate", str(flows), "--output-dir", str(out), *args)
    assert status == 0, err
    return out, stdout + err


def documents(out: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(out.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        found.extend(d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict))
    return found


def port_entries(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every ``ports``/``toPorts.ports`` entry written, in any dialect."""
    entries: list[dict[str, Any]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "ports" and isinstance(item, list):
                    entries.extend(p for p in item if isinstance(p, dict))
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(documents)
    return entries


def dns_lookup(source_port: int) -> dict[str, Any]:
    return record(
        WEB, COREDNS, udp(source_port, 53), source_ip="10.0.1.10", destination_ip="10.0.3.53"
    )


def reverse_translation(source_port: int) -> dict[str, Any]:
    """What kube-proxy replacement reports when the reply is translated back: the client's
    socket, with only a source port (the service port) and no destination port."""
    return sock_trace(WEB, COREDNS, udp(source_port), "SOCK_XLATE_POINT_PRE_DIRECTION_REV")


def test_socket_translation_traces_never_become_an_any_port_rule(tmp_path: Path) -> None:
    records = [dns_lookup(40000), *(reverse_translation(53) for _ in range(5))]
    for dialect in ("networkpolicy", "cilium", "calico"):
        out, summary = generate(tmp_path / dialect, records, "--format", dialect)
        for entry in port_entries(documents(out)):
            port = entry.get("port", entry.get("destination"))
            assert port not in (None, 0, "0"), f"{dialect}: any-port rule {entry}"
        assert "socket translation trace" in summary


def test_a_connection_without_destination_port_is_set_aside_and_counted(tmp_path: Path) -> None:
    # A plain L3_L4 record that lost its destination port (no direction either): not evidence.
    portless = record(WEB, COREDNS, udp(40001), direction=None, is_reply=None)
    out, summary = generate(tmp_path, [dns_lookup(40000), portless])
    for entry in port_entries(documents(out)):
        assert entry.get("port") not in (None, 0, "0"), entry
    assert "1 no destination port" in summary


DB = pod_endpoint("shop", "db", identity=31003)


def ping(family: str = "ICMPv4") -> dict[str, Any]:
    echo = 8 if family == "ICMPv4" else 128
    return record(WEB, DB, icmp(family, echo), destination_ip="10.0.2.30")


def port_unreachable() -> dict[str, Any]:
    """CoreDNS's kernel telling the client its UDP port is closed: type 3 code 3, an error
    about the DNS exchange, flowing server → client."""
    return record(COREDNS, WEB, icmp("ICMPv4", 3, 3), source_ip="10.0.3.53")


def icmp_fields(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "icmps":
                    found.extend(f for rule in item for f in rule["fields"])
                elif key == "icmp" and isinstance(item, dict):
                    found.append(item)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(documents)
    return found


def test_icmp_errors_are_never_rules_and_echo_types_are_kept(tmp_path: Path) -> None:
    records = [dns_lookup(40000), ping("ICMPv4"), ping("ICMPv6"), port_unreachable()]
    out, summary = generate(tmp_path / "cilium", records, "--format", "cilium")
    fields = icmp_fields(documents(out))
    assert {(f["family"], f["type"]) for f in fields} == {("IPv4", 8), ("IPv6", 128)}
    assert "1 ICMP error message (about another exchange)" in summary
    text = "".join(p.read_text() for p in out.rglob("*.yaml"))
    assert "echo request (ping) assumed" not in text


def test_calico_gets_the_observed_icmp_types(tmp_path: Path) -> None:
    records = [dns_lookup(40000), ping("ICMPv4"), ping("ICMPv6"), port_unreachable()]
    out, _ = generate(tmp_path / "calico", records, "--format", "calico")
    fields = icmp_fields(documents(out))
    assert {f["type"] for f in fields} == {8, 128}


def test_networkpolicy_reports_icmp_it_cannot_express(tmp_path: Path) -> None:
    out, _ = generate(tmp_path, [dns_lookup(40000), ping("ICMPv4")])
    report = (out.with_name(out.name + "-report") / "report.md").read_text()
    assert "Every observed connection they stand for was checked" not in report
    assert "would be denied once isolated" in report
    assert "shop/web" in report and "ICMPv4" in report


def unmanaged(endpoint: dict[str, Any]) -> dict[str, Any]:
    """``endpoint`` as Hubble reports a pod Cilium does not manage: identity 3, its
    namespace and pod name still known."""
    return {
        "identity": 3,
        "namespace": endpoint["namespace"],
        "labels": ["reserved:unmanaged"],
        "pod_name": endpoint["pod_name"],
    }


def selectors_and_entities(documents: list[dict[str, Any]], field: str) -> list[Any]:
    return [
        rule[field]
        for d in documents
        for rule in d["spec"].get("egress", []) + d["spec"].get("ingress", [])
        if field in rule
    ]


def test_unmanaged_coredns_is_reached_through_the_unmanaged_entity(tmp_path: Path) -> None:
    lookup = record(WEB, unmanaged(COREDNS), udp(40000, 53), destination_ip="10.0.3.53")
    out, _ = generate(tmp_path / "cilium", [lookup], "--format", "cilium")
    cilium = documents(out)
    assert ["unmanaged"] in selectors_and_entities(cilium, "toEntities")
    # No endpoint selector pretends to reach it: Cilium never matches unmanaged endpoints so.
    for selectors in selectors_and_entities(cilium, "toEndpoints"):
        for selector in selectors:
            assert "kube-system" not in str(selector), selector


def test_unmanaged_peer_in_networkpolicy_gets_a_cilium_companion(tmp_path: Path) -> None:
    lookup = record(WEB, unmanaged(COREDNS), udp(40000, 53), destination_ip="10.0.3.53")
    out, _ = generate(tmp_path, [lookup])
    found = documents(out)
    kinds = {d["kind"] for d in found}
    assert kinds == {"NetworkPolicy", "CiliumNetworkPolicy"}
    assert ["unmanaged"] in selectors_and_entities(found, "toEntities")
    for document in found:
        for rule in document["spec"].get("egress", []):
            assert "kube-system" not in str(rule.get("to")), rule


def test_unmanaged_peer_without_cilium_is_reported_not_faked(tmp_path: Path) -> None:
    lookup = record(WEB, unmanaged(COREDNS), udp(40000, 53), destination_ip="10.0.3.53")
    out, _ = generate(tmp_path, [lookup], "--cni", "generic")
    report = (out.with_name(out.name + "-report") / "report.md").read_text()
    assert "unmanaged" in report and "cannot-express" in report
    assert {d["kind"] for d in documents(out)} == {"NetworkPolicy"}


@pytest.mark.parametrize("fmt", ["calico", "calico-staged"])
def test_unmanaged_peer_in_calico_dialect_is_reported(tmp_path: Path, fmt: str) -> None:
    # What a dialect cannot express follows the dialect (outputs.base DIALECT), not the
    # --format name: staged Calico policies could no more name Cilium's entities.
    lookup = record(WEB, unmanaged(COREDNS), udp(40000, 53), destination_ip="10.0.3.53")
    out, _ = generate(tmp_path, [lookup], "--format", fmt)
    report = (out.with_name(out.name + "-report") / "report.md").read_text()
    assert "unmanaged" in report and "cannot-express" in report


def test_traffic_from_ciliums_ingress_proxy_is_allowed_from_the_ingress_entity(
    tmp_path: Path,
) -> None:
    request = record(
        {"identity": 8, "labels": ["reserved:ingress"]},
        WEB,
        tcp(41000, 8080),
        source_ip="10.0.0.99",
        direction="INGRESS",
    )
    out, _ = generate(tmp_path, [request], "--format", "cilium")
    assert ["ingress"] in selectors_and_entities(documents(out), "fromEntities")


def test_long_workload_names_are_shortened_at_word_boundaries(tmp_path: Path) -> None:
    name = "orders-reconciliation-service-database-migration-runner"
    migrator = pod_endpoint("shop", name, identity=31009, pod=f"{name}-6d4b8c7f9-x2x7q")
    out, _ = generate(tmp_path, [record(migrator, DB, tcp(40000, 5432))])
    written = {p.stem for p in (out / "shop").glob("*.yaml")}
    long_ones = [w for w in written if w.startswith("orders-")]
    assert len(long_ones) == 1, written
    (shortened,) = long_ones
    base, _, digest = shortened.rpartition("-")
    words = name.split("-")
    assert base in {"-".join(words[:k]) for k in range(1, len(words))}, shortened
    assert len(digest) == 6 and all(c in "0123456789abcdef" for c in digest), shortened


def test_only_policy_drops_are_evidence_with_include_dropped(tmp_path: Path) -> None:
    """A packet dropped by the datapath for a reason other than policy (a stray ACK after
    conntrack expired, a spoofed source...) is no connection anyone wanted."""
    denied = record(WEB, DB, tcp(40000, 5432, SYN=True), verdict="DROPPED",
                    drop_reason_desc="POLICY_DENIED", event_type={"type": 1, "sub_type": 133})  # fmt: skip
    stray = record(WEB, DB, tcp(40001, 6379, ACK=True), verdict="DROPPED",
                   drop_reason_desc="CT_MISSING_TCP_ACK_FLAG", drop_reason=136,
                   event_type={"type": 1, "sub_type": 136})  # fmt: skip
    out, summary = generate(tmp_path, [denied, stray], "--include-dropped")
    ports = {entry.get("port") for entry in port_entries(documents(out))}
    assert 5432 in ports and 6379 not in ports
    assert "1 dropped for a datapath reason, not by policy" in summary
