"""The gRPC mapper must read every flow exactly as the file collector reads its JSON."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.hubble import file as hubble_file
from collectors.hubble.proto import UnsupportedFlow, flow_from_proto, timestamp_ns
from learner.model.errors import InputError
from learner.model.flow import Direction, Flow, Origin, Protocol, Verdict
from learner.model.run_stats import CollectorStats
from tests.hubble_server import HUBBLE_FIXTURES, parse_line

SAMPLES = sorted(HUBBLE_FIXTURES.rglob("*.jsonl"))


def _without_origin(flow: Flow) -> Flow:
    return flow._replace(origin=Origin("-"))


def _through_proto(path: Path) -> dict[int, Flow]:
    flows: dict[int, Flow] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        response = parse_line(line)
        if response is None or response.WhichOneof("response_types") != "flow":
            continue
        try:
            flow = flow_from_proto(
                response.flow,
                Origin(str(path), number),
                fallback_time=response.time,
                fallback_node=response.node_name,
            )
        except (UnsupportedFlow, InputError):
            continue
        flows[number] = _without_origin(flow)
    return flows


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_same_flows_as_the_file_collector(path: Path) -> None:
    stats = CollectorStats()
    from_json = {
        flow.origin.line: _without_origin(flow)
        for flow in hubble_file.iter_flows([str(path)], stats=stats)
    }
    from_proto = _through_proto(path)
    assert from_json, "the sample must contain flows"
    assert sorted(from_proto) == sorted(from_json)
    differing = [line for line in from_json if from_proto[line] != from_json[line]]
    assert differing == []


def test_all_samples_cover_the_interesting_cases() -> None:
    flows = [flow for path in SAMPLES for flow in _through_proto(path).values()]
    assert {f.is_reply for f in flows} == {True, False, None}
    assert {Direction.INGRESS, Direction.EGRESS, Direction.UNKNOWN} <= {f.direction for f in flows}
    assert {Verdict.FORWARDED, Verdict.DROPPED, Verdict.REDIRECTED} <= {f.verdict for f in flows}
    assert {Protocol.TCP, Protocol.UDP, Protocol.ICMPV4} <= {f.protocol for f in flows}
    assert any(f.http is not None for f in flows)
    assert any(f.dns_query for f in flows)
    assert any(f.dns_answers and f.is_reply for f in flows)
    assert any(f.policies for f in flows)
    assert any(f.source.workload_name for f in flows)


def test_timestamps_keep_every_nanosecond() -> None:
    response = parse_line(
        '{"flow":{"time":"2026-02-24T08:47:58.042012383Z","l4":{"UDP":{"destination_port":53}}}}'
    )
    assert response is not None
    assert timestamp_ns(response.flow.time) == 1771922878_042012383


def test_a_flow_without_time_takes_the_response_time_else_is_an_input_error() -> None:
    response = parse_line(
        '{"flow":{"verdict":"FORWARDED","l4":{"TCP":{"destination_port":80}}},'
        '"time":"2026-01-02T03:04:05.000000006Z","node_name":"n1"}'
    )
    assert response is not None
    flow = flow_from_proto(
        response.flow, Origin("s", 1), fallback_time=response.time, fallback_node="n1"
    )
    assert (flow.time, flow.node, flow.port) == (1767323045.000000006, "n1", 80)
    with pytest.raises(InputError, match="s:1: flow has no time"):
        flow_from_proto(response.flow, Origin("s", 1))


def test_a_hostile_namespace_from_the_stream_is_an_input_error() -> None:
    line = (HUBBLE_FIXTURES / "hubble-otel_basic-sample-10-flows.jsonl").read_text()
    line = (
        line.splitlines()[0]
        .replace('"bookinfo"', '"../../etc"')
        .replace("namespace=bookinfo", "namespace=../../etc")
    )
    response = parse_line(line)
    assert response is not None
    with pytest.raises(InputError, match=r"line:7: .*namespace '\.\./\.\./etc'"):
        flow_from_proto(response.flow, Origin("line", 7), fallback_time=response.time)


def test_dns_names_are_read_in_lower_case_by_both_readers(tmp_path: Path) -> None:
    """DNS names are case-insensitive: a capitalised query must find the answers and the
    names Cilium's cache writes in lower case (file and gRPC readers alike)."""
    sample = next(p for p in SAMPLES if "dns" in p.name)
    lines = [
        line.replace('"query":"', '"query":"MiXeD.').replace(
            'destination_names":["', 'destination_names":["MiXeD.'
        )
        for line in sample.read_text(encoding="utf-8").splitlines()
    ]
    changed = tmp_path / "mixed-case.jsonl"
    changed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = hubble_file.iter_flows([str(changed)], stats=CollectorStats())
    from_json = [f for f in found if f.dns_query or f.dns_names]
    assert from_json
    for flow in [*from_json, *_through_proto(changed).values()]:
        assert flow.dns_query == flow.dns_query.lower()
        assert all(name == name.lower() for name in flow.dns_names)
    assert any(f.dns_query.startswith("mixed.") for f in from_json)
