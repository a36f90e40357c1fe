"""Each Hubble event kind read for what it is, by the file and the gRPC (protobuf) collector."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from collectors.hubble import file as hubble_file
from collectors.hubble.events import DATAPATH_DROP, DEBUG_CAPTURE, SOCKET_TRANSLATION
from collectors.hubble.proto import UnsupportedFlow, flow_from_proto
from learner.model.flow import Flow, Origin, Protocol
from learner.model.run_stats import CollectorStats
from tests.hubble_records import icmp, pod_endpoint, record, sock_trace, udp, write_lines
from tests.hubble_server import parse_line

WEB = pod_endpoint("shop", "web")
DNS = pod_endpoint("kube-system", "kube-dns")


def through_file(tmp_path: Path, line: dict[str, Any]) -> tuple[list[Flow], CollectorStats]:
    stats = CollectorStats()
    path = write_lines(tmp_path / "one.jsonl", [line])
    return list(hubble_file.iter_flows([str(path)], stats=stats)), stats


def through_proto(line: dict[str, Any]) -> Flow:
    response = parse_line(orjson.dumps(line).decode())
    assert response is not None
    return flow_from_proto(response.flow, Origin("grpc"), fallback_time=response.time)


@pytest.mark.parametrize(
    "point", ["SOCK_XLATE_POINT_PRE_DIRECTION_REV", "SOCK_XLATE_POINT_POST_DIRECTION_FWD"]
)
def test_socket_translation_traces_are_set_aside_by_kind(tmp_path: Path, point: str) -> None:
    line = sock_trace(WEB, DNS, udp(53), point)
    flows, stats = through_file(tmp_path, line)
    assert flows == []
    assert stats.non_flow == {SOCKET_TRANSLATION: 1}
    with pytest.raises(UnsupportedFlow) as raised:
        through_proto(line)
    assert raised.value.kind == SOCKET_TRANSLATION


def test_camel_case_socket_trace_is_recognised(tmp_path: Path) -> None:
    line = sock_trace(WEB, DNS, udp(53), "SOCK_XLATE_POINT_PRE_DIRECTION_REV")
    flow = line["flow"]
    flow.pop("node_name")
    flow["sockXlatePoint"] = flow.pop("sock_xlate_point")
    flow["Type"] = "L3_L4"  # only the point says what it is
    flows, stats = through_file(tmp_path, line)
    assert flows == [] and stats.non_flow == {SOCKET_TRANSLATION: 1}


def test_debug_capture_is_set_aside(tmp_path: Path) -> None:
    line = record(WEB, DNS, udp(40000, 53), event_type={"type": 3})
    flows, stats = through_file(tmp_path, line)
    assert flows == [] and stats.non_flow == {DEBUG_CAPTURE: 1}


@pytest.mark.parametrize(
    ("family", "icmp_type", "code", "port", "is_reply"),
    [
        ("ICMPv4", 8, 0, 8, False),  # echo request: a connection, type kept
        ("ICMPv6", 128, 0, 128, False),
        ("ICMPv4", 0, 0, 0, True),  # echo reply: protojson writes "ICMPv4": {}
        ("ICMPv6", 129, 0, 129, True),
        ("ICMPv4", 3, 3, 3, None),  # port unreachable: the type stays for normalisation
    ],
)
def test_icmp_type_travels_as_the_port(
    tmp_path: Path, family: str, icmp_type: int, code: int, port: int, is_reply: bool | None
) -> None:
    line = record(WEB, DNS, icmp(family, icmp_type, code), is_reply=None)
    (flow,), _ = through_file(tmp_path, line)
    assert flow.protocol == Protocol(family)
    assert (flow.port, flow.is_reply) == (port, is_reply)
    by_proto = through_proto(line)
    assert (by_proto.port, by_proto.is_reply) == (port, is_reply)


@pytest.mark.parametrize(
    ("fields", "set_aside"),
    [
        ({"drop_reason_desc": "POLICY_DENIED"}, False),
        ({"drop_reason_desc": "POLICY_DENY", "drop_reason": 181}, False),
        ({"event_type": {"type": 1, "sub_type": 133}}, False),
        ({}, False),  # no reason given: a drop like any other
        ({"drop_reason_desc": "CT_MISSING_TCP_ACK_FLAG"}, True),
        ({"drop_reason": 132}, True),  # INVALID_SOURCE_IP, by its deprecated number
        ({"event_type": {"type": 1, "sub_type": 151}}, True),  # STALE_OR_UNROUTABLE_IP
    ],
)
def test_only_policy_drops_stay_flows(
    tmp_path: Path, fields: dict[str, Any], set_aside: bool
) -> None:
    line = record(WEB, DNS, udp(40000, 53), verdict="DROPPED", **fields)
    flows, stats = through_file(tmp_path, line)
    assert (flows == []) is set_aside
    assert stats.non_flow.get(DATAPATH_DROP, 0) == int(set_aside)
    if set_aside:
        with pytest.raises(UnsupportedFlow):
            through_proto(line)
    else:
        assert through_proto(line).port == 53
