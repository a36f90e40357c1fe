from __future__ import annotations

import gzip
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from collectors.hubble.file import iter_flows
from learner.model.flow import EndpointKind
from learner.model.run_stats import CollectorStats
from learner.simulate import HubbleOptions, SimulationResult, simulate, write_hubble
from learner.simulate.hubble_writer import HubbleWriter, cilium_keeps_label, lines_per_event
from tests.learner.simulate.hubble_records import PeerIds, is_request, read_lines

# Flow fields in flow.proto declaration order: protojson writes them in this order.
FLOW_FIELDS = [
    "time",
    "uuid",
    "emitter",
    "verdict",
    "drop_reason",
    "auth_type",
    "ethernet",
    "IP",
    "l4",
    "tunnel",
    "source",
    "destination",
    "Type",
    "node_name",
    "node_labels",
    "source_names",
    "destination_names",
    "l7",
    "reply",
    "event_type",
    "source_service",
    "destination_service",
    "traffic_direction",
    "policy_match_type",
    "trace_observation_point",
    "trace_reason",
    "file",
    "drop_reason_desc",
    "is_reply",
    "debug_capture_point",
    "interface",
    "proxy_port",
    "trace_context",
    "sock_xlate_point",
    "socket_cookie",
    "cgroup_id",
    "Summary",
]
ENDPOINT_FIELDS = ("ID", "identity", "cluster_name", "namespace", "labels", "pod_name", "workloads")
REAL_SAMPLE = (
    Path(__file__).parents[2]
    / "fixtures/hubble/files/tke-guide_cilium-1.19.1-exporter-events.jsonl"
)


@pytest.fixture(scope="module")
def shop() -> SimulationResult:
    return simulate("shop", lines=3000)


@pytest.fixture(scope="module")
def shop_lines(shop: SimulationResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hubble") / "flows.jsonl"
    write_hubble(shop, str(path))
    return path


@pytest.fixture(scope="module")
def records(shop_lines: Path) -> list[dict[str, Any]]:
    return list(read_lines(shop_lines))


def _in_order(keys: list[str], order: tuple[str, ...] | list[str]) -> bool:
    positions = [order.index(k) for k in keys]
    return positions == sorted(positions)


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    paths = [tmp_path / f"{n}.jsonl" for n in ("a", "b", "c")]
    write_hubble(simulate("label-styles", seed=7, lines=1500), str(paths[0]))
    write_hubble(simulate("label-styles", seed=7, lines=1500), str(paths[1]))
    write_hubble(simulate("label-styles", seed=8, lines=1500), str(paths[2]))
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()


def test_gzip_output_is_reproducible_and_holds_the_same_lines(tmp_path: Path) -> None:
    result = simulate("external-ips", lines=800)
    plain, zipped, again = tmp_path / "f.jsonl", tmp_path / "f.jsonl.gz", tmp_path / "g.jsonl.gz"
    count = write_hubble(result, str(plain))
    assert write_hubble(result, str(zipped), gzip=True) == count
    write_hubble(result, str(again), gzip=True)
    assert zipped.read_bytes() == again.read_bytes()
    assert gzip.decompress(zipped.read_bytes()) == plain.read_bytes()


def test_every_line_has_the_real_shape(records: list[dict[str, Any]]) -> None:
    assert len(records) > 2500
    for record in records:
        assert list(record) == ["flow", "node_name", "time"]
        flow = record["flow"]
        assert _in_order(list(flow), FLOW_FIELDS), list(flow)
        assert record["node_name"] == flow["node_name"] and record["time"] == flow["time"]
        assert flow["time"].endswith("Z") and len(flow["time"]) == 30
        assert flow["IP"]["ipVersion"] == "IPv4"
        ((protocol, ports),) = flow["l4"].items()
        assert protocol in ("TCP", "UDP")
        assert list(ports)[:2] == ["source_port", "destination_port"]
        for side in ("source", "destination"):
            endpoint = flow[side]
            assert _in_order(list(endpoint), ENDPOINT_FIELDS), list(endpoint)
            assert endpoint["labels"] == sorted(endpoint["labels"])
        assert flow["Type"] in ("L3_L4", "L7")
        if flow["verdict"] == "DROPPED":
            assert flow["drop_reason_desc"] == "POLICY_DENIED" and flow["drop_reason"] == 133
            assert flow["event_type"] == {"type": 1, "sub_type": 133}
            assert "is_reply" not in flow
        else:
            assert isinstance(flow["is_reply"], bool)


def test_the_real_1_19_sample_has_the_same_key_order() -> None:
    for record in read_lines(REAL_SAMPLE):
        flow = record["flow"]
        known = [k for k in flow if k in FLOW_FIELDS]
        assert _in_order(known, FLOW_FIELDS)
        for side in ("source", "destination"):
            assert _in_order(list(flow[side]), ENDPOINT_FIELDS)


def test_replies_are_flagged_and_swapped(records: list[dict[str, Any]]) -> None:
    requests = set()
    replies = []
    for record in records:
        flow = record["flow"]
        ((protocol, ports),) = flow["l4"].items()
        key = (flow["IP"]["source"], ports["source_port"], flow["IP"]["destination"],
               ports["destination_port"], protocol)  # fmt: skip
        if flow.get("is_reply"):
            assert flow["reply"] is True
            assert ports.get("flags", {"SYN": True, "ACK": True}) == {"SYN": True, "ACK": True}
            replies.append((key[2], key[3], key[0], key[1], protocol))
        elif flow["verdict"] == "FORWARDED":
            assert "reply" not in flow
            requests.add(key)
    assert len(replies) > 500
    assert all(reply in requests for reply in replies)


def test_pod_to_pod_connections_are_seen_at_both_nodes(
    shop: SimulationResult, records: list[dict[str, Any]]
) -> None:
    nodes = {(p.namespace, p.name): p.node.name for p in shop.cluster.pods}
    seen: dict[tuple[str, int, str, int], dict[str, str]] = defaultdict(dict)
    for record in records:
        flow = record["flow"]
        if not is_request(flow) or flow["Type"] != "L3_L4":
            continue
        ((_, ports),) = flow["l4"].items()
        key = (flow["IP"]["source"], ports["source_port"], flow["IP"]["destination"],
               ports["destination_port"])  # fmt: skip
        seen[key][flow["traffic_direction"]] = record["node_name"]
        source, destination = flow["source"], flow["destination"]
        if flow["traffic_direction"] == "EGRESS" and "pod_name" in source:
            assert record["node_name"] == nodes[(source["namespace"], source["pod_name"])]
            assert source.get("ID")  # the local endpoint carries its endpoint ID
        if flow["traffic_direction"] == "INGRESS":
            assert record["node_name"] == nodes[(destination["namespace"], destination["pod_name"])]
            assert destination.get("ID")
    both = [v for v in seen.values() if set(v) == {"EGRESS", "INGRESS"}]
    assert len(both) > 200
    assert any(v["EGRESS"] != v["INGRESS"] for v in both)
    assert any(v["EGRESS"] == v["INGRESS"] for v in both)


def test_l7_records_and_names(records: list[dict[str, Any]]) -> None:
    flows = [r["flow"] for r in records]
    dns = [f for f in flows if f["Type"] == "L7" and "dns" in f["l7"]]
    http = [f for f in flows if f["Type"] == "L7" and "http" in f["l7"]]
    assert all(f["event_type"] == {"type": 129} for f in dns + http)
    requests = [f for f in dns if f["l7"]["type"] == "REQUEST"]
    assert requests and all(f["l7"]["dns"]["query"].endswith(".") for f in requests)
    assert any(f["l7"]["dns"].get("rcode") == 3 for f in dns)  # search-path misses
    urls = [f["l7"]["http"]["url"] for f in http if f["l7"]["type"] == "REQUEST"]
    assert any("/api/v1/users/" in url and url.rsplit("/", 1)[-1].isdigit() for url in urls)
    responses = [f for f in http if f["l7"]["type"] == "RESPONSE"]
    assert responses and all(f["l7"]["latency_ns"].isdigit() for f in responses)
    # Names looked up show up on the flows to the outside address that follow.
    looked_up = {f["l7"]["dns"]["query"].rstrip(".") for f in requests}
    named = [f for f in flows if f.get("destination_names")]
    assert named and all(set(f["destination_names"]) <= looked_up for f in named)


def test_reserved_identities(records: list[dict[str, Any]]) -> None:
    identities = {}
    for record in records:
        for side in ("source", "destination"):
            endpoint = record["flow"][side]
            reserved = [x for x in endpoint["labels"] if x.startswith("reserved:")]
            if reserved:
                identities[tuple(reserved)] = endpoint["identity"]
                assert "pod_name" not in endpoint
    assert identities[("reserved:host",)] == 1
    assert identities[("reserved:world",)] == 2
    assert identities[("reserved:kube-apiserver", "reserved:world")] == 16777217


def test_volatile_labels_are_filtered_unless_asked_for(
    shop: SimulationResult, tmp_path: Path
) -> None:
    assert not cilium_keeps_label("pod-template-hash")
    assert not cilium_keeps_label("batch.kubernetes.io/job-name")
    assert not cilium_keeps_label("statefulset.kubernetes.io/pod-name")
    assert cilium_keeps_label("app.kubernetes.io/name") and cilium_keeps_label("helm.sh/chart")
    path = tmp_path / "volatile.jsonl"
    write_hubble(shop, str(path), options=HubbleOptions(include_volatile_labels=True))
    keys: set[str] = set()
    for record in read_lines(path):
        for side in ("source", "destination"):
            keys.update(label.split("=")[0] for label in record["flow"][side]["labels"])
    volatile = ("pod-template-hash", "controller-revision-hash", "job-name", "controller-uid")
    assert {f"k8s:{key}" for key in volatile} <= keys
    flows = list(iter_flows([str(path)], stats=CollectorStats()))
    assert any(dict(f.source.labels).get("pod-template-hash") for f in flows)


def test_default_output_has_no_volatile_labels(records: list[dict[str, Any]]) -> None:
    for record in records:
        for side in ("source", "destination"):
            for label in record["flow"][side]["labels"]:
                key = label.split(":", 1)[1].split("=", 1)[0]
                assert cilium_keeps_label(key) or key.startswith("io."), label


def test_pods_with_the_same_labels_share_an_identity(records: list[dict[str, Any]]) -> None:
    by_labels: dict[tuple[str, ...], set[int]] = defaultdict(set)
    for record in records:
        for side in ("source", "destination"):
            endpoint = record["flow"][side]
            by_labels[tuple(endpoint["labels"])].add(endpoint["identity"])
    assert all(len(ids) == 1 for ids in by_labels.values())
    identities = [next(iter(ids)) for ids in by_labels.values()]
    assert len(identities) == len(set(identities))


def test_the_hubble_file_collector_reads_every_line(
    shop: SimulationResult, shop_lines: Path
) -> None:
    stats = CollectorStats()
    flows = list(iter_flows([str(shop_lines)], strict=True, stats=stats))
    assert stats.malformed == 0 and stats.flows == len(flows) == stats.records
    peers = PeerIds(shop.cluster)
    for flow, record in zip(flows, read_lines(shop_lines), strict=True):
        raw = record["flow"]
        if "is_reply" in raw:
            assert flow.is_reply is raw["is_reply"]
        for endpoint, side in ((flow.source, "source"), (flow.destination, "destination")):
            expected = peers.of(raw[side], raw["IP"][side])
            if endpoint.kind is EndpointKind.POD:
                assert f"{endpoint.namespace}/" in expected
            else:
                assert not expected.startswith(("shop", "monitoring", "kube-system"))


def test_lines_per_event_matches_what_is_written(shop: SimulationResult) -> None:
    writer = HubbleWriter(shop.cluster)
    for event in shop.events("held-out"):
        assert len(writer.records(event)) == lines_per_event(event)


def test_progress_is_reported_while_writing(tmp_path: Path) -> None:
    seen: list[int] = []
    total = write_hubble(
        simulate("cross-namespace-monitoring", lines=9000),
        str(tmp_path / "f.jsonl"),
        progress=seen.append,
    )
    assert seen and seen == sorted(seen) and seen[-1] < total
