from __future__ import annotations

import gzip
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from collectors.calico.file import iter_flows
from collectors.calico.model import AGGREGATED_NAME_LABEL, WARN_NAME_LABEL, workload_name
from learner.ingest.normalize import normalize
from learner.model.config import NormalizeOptions
from learner.model.edges import EdgeStore
from learner.model.errors import InputError
from learner.model.flow import Direction, EndpointKind, Flow, Protocol, Verdict
from learner.model.run_stats import CollectorStats, NormalizeStats

CALICO = Path(__file__).parents[2] / "fixtures" / "calico"
VALID = sorted((CALICO / "valid").iterdir())
INVALID = sorted((CALICO / "invalid").iterdir())
SHOP = CALICO / "valid" / "handwritten_enterprise-level2-shop.jsonl"
T0 = 1767225600


def read(*paths: Path | str, strict: bool = False) -> tuple[list[Flow], CollectorStats]:
    stats = CollectorStats()
    flows = list(iter_flows([str(p) for p in paths], strict=strict, stats=stats))
    return flows, stats


def record(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "start_time": T0,
        "end_time": T0 + 300,
        "source_type": "wep",
        "source_namespace": "shop",
        "source_name": "-",
        "source_name_aggr": "web-7c9d8f5b4d-*",
        "source_labels": {"labels": ["app=web"]},
        "dest_type": "wep",
        "dest_namespace": "shop",
        "dest_name": "-",
        "dest_name_aggr": "api-6b4f9c7d8b-*",
        "dest_labels": {"labels": ["app=api"]},
        "dest_port": 8080,
        "proto": "tcp",
        "action": "allow",
        "reporter": "src",
        "num_flows": 1,
        "num_flows_started": 1,
    }
    base.update(fields)
    return base


def write_lines(path: Path, *records: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def one_flow(tmp_path: Path, **fields: Any) -> Flow:
    flows, stats = read(write_lines(tmp_path / "flows.log", record(**fields)), strict=True)
    assert len(flows) == 1, stats
    return flows[0]


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_every_valid_sample_parses_without_errors(path: Path) -> None:
    flows, stats = read(path)
    assert stats.malformed == 0, stats.errors
    assert flows
    assert stats.flows == len(flows)
    assert all(f.origin.source == str(path) and f.origin.line > 0 for f in flows)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("tigera-docs_datatypes-example-elasticsearch-doc.NOT-VALID-JSON.txt", ":44: invalid JSON"),
        (
            "tigera-docs_host-forwarded-traffic_2-examples.pretty-concatenated.txt",
            ":1: no end_time, start_time or @timestamp",
        ),
    ],
)
def test_invalid_samples_are_rejected_with_file_line_and_reason(name: str, reason: str) -> None:
    flows, stats = read(CALICO / "invalid" / name)
    assert flows == []
    assert stats.malformed >= 1
    assert reason in str(stats.errors[0])
    with pytest.raises(InputError, match=reason):
        read(CALICO / "invalid" / name, strict=True)


def test_real_enterprise_line_maps_every_field() -> None:
    (flow,), _ = read(CALICO / "valid" / "observability-clinic_flows.log_deny-wep-to-wep.jsonl")
    assert flow.time == 1659621842.0  # end_time
    assert flow.verdict is Verdict.DROPPED
    assert flow.direction is Direction.INGRESS  # reporter dst
    assert flow.is_reply is False
    assert (flow.protocol, flow.port, flow.count) == (Protocol.TCP, 5050, 1)
    assert flow.source.kind is EndpointKind.POD
    assert (flow.source.namespace, flow.source.pod) == ("default", "multitool")
    assert flow.source.labels == (("run", "multitool"),)
    assert flow.source.ip == "10.48.116.157"
    assert flow.destination.workload_name == "checkoutservice"
    assert flow.destination.pod == "checkoutservice-598d5b586d-wsvmz"
    assert ("tenant", "hipstershop") in flow.destination.labels
    # Entries are unordered in the log; evaluation order is by their index.
    assert flow.policies == (
        "security.tenant-histershop",
        "hipstershop/app-hipstershop.checkoutservice",
    )


def test_level2_aggregated_records_keep_workload_identity() -> None:
    flows, stats = read(SHOP)
    first = flows[0]
    assert first.source.workload_name == "frontend"
    assert first.source.pod == "" and first.source.ip == ""
    assert first.source.labels == (("app", "frontend"), ("pod-template-hash", "7c9d8f5b4d"))
    assert first.source.service_account == "frontend"  # from projectcalico.org/serviceaccount
    statefulset = flows[2].destination
    assert (statefulset.workload_name, statefulset.pod) == ("postgres", "postgres-0")
    unlabelled = flows[6].source
    assert unlabelled.labels == ((AGGREGATED_NAME_LABEL, "worker"),)
    assert stats.warnings[WARN_NAME_LABEL] == 1


def test_endpoint_types_map_to_kinds() -> None:
    flows, _ = read(SHOP)
    external = flows[4].destination
    assert (external.kind, external.workload_name) == (EndpointKind.WORLD, "pub")
    assert flows[4].dns_names == ("api.stripe.com",)
    host = flows[7].source
    assert (host.kind, host.ip, host.workload_name) == (EndpointKind.HOST, "10.0.0.11", "node-1")
    network_set = flows[8].destination
    assert network_set.kind is EndpointKind.WORLD
    assert (network_set.workload_kind, network_set.workload_name) == (
        "GlobalNetworkSet",
        "partners",
    )
    assert flows[9].protocol is Protocol.ICMPV4 and flows[9].port == 0


def test_both_reports_of_a_connection_count_once_on_the_edge() -> None:
    flows, _ = read(SHOP)
    store = EdgeStore()
    for flow in normalize(flows, NormalizeOptions(), NormalizeStats()):
        store.add(flow)
    by_edge = {
        (dict(k.source.labels).get("app", k.source.kind), k.port): s for k, s in store.edges.items()
    }
    frontend_api = by_edge[("frontend", 8080)]
    # Both ends reported 12 (plus one level-0 record seen at the source only).
    assert (frontend_api.egress_count, frontend_api.ingress_count) == (13, 12)
    assert frontend_api.count == 13
    postgres = by_edge[("api", 5432)]
    assert (postgres.egress_count, postgres.ingress_count, postgres.count) == (5, 4, 5)
    nodeport = by_edge[("world", 8443)]
    # Seen at the forwarding node ("fwd") and at the pod ("dst, fwd"): one set of connections.
    assert (nodeport.egress_count, nodeport.ingress_count, nodeport.count) == (6, 6, 6)


def test_unsupported_protocols_are_counted_not_errors() -> None:
    _, stats = read(SHOP)
    assert stats.non_flow == {"protocol ipip (no policy port)": 1}
    assert stats.malformed == 0


@pytest.mark.parametrize(
    ("reporter", "direction"),
    [
        ("src", Direction.EGRESS),
        ("dst", Direction.INGRESS),
        ("fwd", Direction.EGRESS),
        ("dst, fwd", Direction.INGRESS),
        ("out", Direction.EGRESS),
        ("", Direction.UNKNOWN),
    ],
)
def test_reporter_sets_the_observation_point(
    tmp_path: Path, reporter: str, direction: Direction
) -> None:
    assert one_flow(tmp_path, reporter=reporter).direction is direction


@pytest.mark.parametrize(
    ("proto", "expected"),
    [
        ("tcp", Protocol.TCP),
        ("6", Protocol.TCP),
        (17, Protocol.UDP),
        ("sctp", Protocol.SCTP),
        ("icmp6", Protocol.ICMPV6),
        ("58", Protocol.ICMPV6),
    ],
)
def test_protocol_names_and_numbers(tmp_path: Path, proto: object, expected: Protocol) -> None:
    assert one_flow(tmp_path, proto=proto).protocol is expected


@pytest.mark.parametrize(
    ("started", "total", "count"),
    [(7, 9, 7), (0, 3, 3), (None, 4, 4), (0, 0, 1)],
)
def test_count_is_connections_started_then_flows(
    tmp_path: Path, started: int | None, total: int, count: int
) -> None:
    fields: dict[str, Any] = {"num_flows": total, "num_flows_started": started}
    assert one_flow(tmp_path, **fields).count == count


def test_calico_label_keys_are_not_pod_labels(tmp_path: Path) -> None:
    labels = ["app=web", "projectcalico.org/namespace=shop", "projectcalico.org/orchestrator=k8s"]
    flow = one_flow(tmp_path, source_labels={"labels": labels})
    assert flow.source.labels == (("app", "web"),)


def test_empty_label_intersection_falls_back_to_the_name(tmp_path: Path) -> None:
    flow = one_flow(tmp_path, dest_labels={"labels": []})
    assert flow.destination.labels == ((AGGREGATED_NAME_LABEL, "api"),)


def test_deny_is_dropped_and_unknown_actions_are_unknown(tmp_path: Path) -> None:
    assert one_flow(tmp_path, action="deny").verdict is Verdict.DROPPED
    assert one_flow(tmp_path, action="allow").verdict is Verdict.FORWARDED


def test_time_falls_back_from_end_to_start_to_es_timestamp(tmp_path: Path) -> None:
    assert one_flow(tmp_path, end_time=None).time == T0
    es = one_flow(tmp_path, end_time=None, start_time=None, **{"@timestamp": 1597166383000})
    assert es.time == 1597166383.0


def test_elasticsearch_search_response(tmp_path: Path) -> None:
    flows, stats = read(CALICO / "valid" / "handwritten_elasticsearch-search-response.json")
    assert stats.records == 2 and stats.malformed == 0
    assert [f.node for f in flows] == ["node-1", "node-2"]
    assert [f.time for f in flows] == [T0 + 300, T0 + 300]
    # Records inside one JSON value point at the line where that value starts.
    assert [f.origin.line for f in flows] == [1, 1]


def test_es_hit_wrappers_one_per_line(tmp_path: Path) -> None:
    hits = [
        {"_index": "flows", "_id": str(i), "_source": record(dest_port=80 + i)} for i in range(3)
    ]
    flows, _ = read(write_lines(tmp_path / "hits.jsonl", *hits), strict=True)
    assert [f.port for f in flows] == [80, 81, 82]


def test_pretty_printed_objects_resume_after_an_invalid_one(tmp_path: Path) -> None:
    good = json.dumps(record(dest_port=1), indent=2)
    bad = json.dumps(record(dest_port=2), indent=2).replace('"proto": "tcp",', '"proto": "tcp",,')
    also_good = json.dumps(record(dest_port=3), indent=2)
    path = tmp_path / "pretty.json"
    path.write_text(f"{good}\n{bad}\n{also_good}\n")
    flows, stats = read(path)
    assert [f.port for f in flows] == [1, 3]
    bad_line = good.count("\n") + 2 + bad.split("\n").index('  "proto": "tcp",,')
    assert stats.errors[0].line == bad_line
    assert "skipping to the next value" in stats.errors[0].reason
    assert flows[1].origin.line == good.count("\n") + bad.count("\n") + 3


def test_json_array_of_records(tmp_path: Path) -> None:
    path = tmp_path / "array.json"
    path.write_text(json.dumps([record(dest_port=1), record(dest_port=2)], indent=1))
    flows, _ = read(path, strict=True)
    assert [f.port for f in flows] == [1, 2]


def test_gzip_and_directories(tmp_path: Path) -> None:
    directory = tmp_path / "logs"
    directory.mkdir()
    with gzip.open(directory / "flows.log.1.gz", "wt") as handle:
        handle.write(json.dumps(record(dest_port=1)) + "\n")
    write_lines(directory / "flows.log", record(dest_port=2))
    flows, stats = read(directory, strict=True)
    assert sorted(f.port for f in flows) == [1, 2]
    assert stats.files == 2


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    data = (json.dumps(record(dest_port=9)) + "\n").encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(data))))
    flows, _ = read("-", strict=True)
    assert [f.port for f in flows] == [9]


def test_whisker_server_sent_events() -> None:
    flows, stats = read(CALICO / "valid" / "handwritten_whisker-sse.txt")
    assert stats.malformed == 0 and stats.records == 4
    src, dst, public, unlabelled = flows
    assert (src.direction, dst.direction) == (Direction.EGRESS, Direction.INGRESS)
    assert src.source.labels == (("app", "frontend"), ("pod-template-hash", "7c9d8f5b4d"))
    assert src.time == pytest.approx(T0 + 15.123456)
    assert public.source.kind is EndpointKind.WORLD
    assert unlabelled.destination.labels == ((AGGREGATED_NAME_LABEL, "db"),)


def test_whisker_policy_hits_name_the_deciding_policy() -> None:
    flows, _ = read(
        CALICO / "valid" / "unattributed_whisker-backend-FlowResponse_calico-3.32.2.jsonl"
    )
    assert flows[0].policies == ("storefront/web-guard",)
    assert flows[1].policies == ("payments/ledger-api-isolation",)  # end of tier → its trigger
    assert flows[2].destination.workload_name == "coredns"
    assert flows[2].source.labels == (("app", "scraper"),)


def test_goldmane_protojson() -> None:
    (flow,), _ = read(
        CALICO / "valid" / "FredrickB-otlp-exporter_goldmane-Flow-protojson.pretty.json"
    )
    assert (flow.direction, flow.verdict) == (Direction.EGRESS, Verdict.FORWARDED)
    assert (flow.port, flow.time) == (8503, 1764970860.0)
    assert flow.source.workload_name == "longhorn-manager"
    assert flow.destination.pod == "instance-manager-318f1eac2bc7c775b7a6d2e68e9e2800"
    assert flow.policies == ("longhorn-system/allow-same-namespace",)


def test_legacy_space_delimited_line() -> None:
    (flow,), _ = read(CALICO / "valid" / "tigera-docs_filtering_space-delimited-example.txt")
    assert (flow.port, flow.count, flow.direction) == (3000, 3, Direction.EGRESS)
    assert flow.source.namespace == "dev"
    assert flow.source.labels == ((AGGREGATED_NAME_LABEL, "rails-81531"),)


def test_every_malformed_record_is_reported_and_reading_continues() -> None:
    flows, stats = read(CALICO / "invalid" / "handwritten_bad-records.jsonl")
    assert len(flows) == 1 and flows[0].origin.line == 9
    assert stats.malformed == 8
    reasons = [e.reason for e in stats.errors]
    assert reasons[0].startswith("invalid JSON")
    assert reasons[1] == "missing action"
    assert "dest_port" in reasons[2] and "'pod'" in reasons[3] and "Hubble" in reasons[4]
    with pytest.raises(InputError, match=r"handwritten_bad-records.jsonl:1: invalid JSON"):
        read(CALICO / "invalid" / "handwritten_bad-records.jsonl", strict=True)


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="no such file"):
        read(tmp_path / "absent.log")


@pytest.mark.parametrize(
    ("aggregated", "template_hash", "expected"),
    [
        ("nginx-86c57db685-*", "", "nginx"),
        ("nginx-86c57db685-*", "86c57db685", "nginx"),
        ("my-frontend-*", "", "my-frontend"),  # "frontend" is not a template hash
        ("backup-28012345-*", "", "backup"),
        ("fluentd-*", "", "fluentd"),
        ("web-0", "", "web"),
        ("multitool", "", "multitool"),
        ("rails-81531*", "", "rails-81531"),
    ],
)
def test_workload_name_from_aggregated_name(
    aggregated: str, template_hash: str, expected: str
) -> None:
    assert workload_name(aggregated, template_hash) == expected
