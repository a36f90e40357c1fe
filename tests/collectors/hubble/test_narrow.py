"""The narrow decoder must read every flow exactly as the file collector reads its JSON, and
lose nothing of a response (the resume key hashes the whole of it)."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest

from collectors._proto.observer import observer_pb2
from collectors.hubble import file as hubble_file
from collectors.hubble.grpc import HubbleStream
from collectors.hubble.narrow import FLOW_FIELDS_READ, NarrowResponse
from collectors.hubble.proto import UnsupportedFlow, flow_from_narrow
from collectors.stream_options import ServerOptions
from learner.model.errors import InputError
from learner.model.flow import Flow, Origin
from learner.model.run_stats import CollectorStats
from tests.benchmarks.test_realistic import load_realistic
from tests.hubble_server import HUBBLE_FIXTURES, field, parse_line

SAMPLES = sorted(HUBBLE_FIXTURES.rglob("*.jsonl"))


def _wire_flows(path: Path) -> dict[int, Flow]:
    """Each line as a server sends it (serialised by the full schema), read back narrowly."""
    flows: dict[int, Flow] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        full = parse_line(line) if line.strip() else None
        if full is None:
            continue
        response = NarrowResponse.FromString(full.SerializeToString())
        if response.WhichOneof("response_types") != "flow":
            continue
        try:
            flow = flow_from_narrow(
                response.flow,
                Origin("-"),
                fallback_time=response.time,
                fallback_node=response.node_name,
            )
        except (UnsupportedFlow, InputError):
            continue
        flows[number] = flow
    return flows


def _json_flows(path: Path) -> dict[int, Flow]:
    return {
        flow.origin.line: flow._replace(origin=Origin("-"))
        for flow in hubble_file.iter_flows([str(path)], stats=CollectorStats())
    }


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_same_flows_as_the_file_collector(path: Path) -> None:
    from_json = _json_flows(path)
    assert from_json, "the sample must contain flows"
    assert _wire_flows(path) == from_json


def test_same_flows_on_realistic_lines(tmp_path: Path) -> None:
    """Full label sets, namespace labels, L7 records, replies, both observation points, and
    endpoints repeating from flow to flow (the decoder's caches are hit)."""
    path = load_realistic().write(tmp_path / "flows.jsonl", 3000, 3)
    from_json = _json_flows(path)
    assert len(from_json) > 2000
    from_wire = _wire_flows(path)
    assert from_wire == from_json
    assert any(flow.source.namespace_labels for flow in from_wire.values())


def test_a_narrow_response_keeps_every_field_it_does_not_decode() -> None:
    responses = [
        response
        for path in SAMPLES
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and (response := parse_line(line)) is not None
    ]
    assert len(responses) > 100
    for full in responses:
        narrow = NarrowResponse.FromString(full.SerializeToString())
        assert observer_pb2.GetFlowsResponse.FromString(narrow.SerializeToString()) == full


def test_the_resume_key_is_the_hash_of_the_full_response() -> None:
    line = (HUBBLE_FIXTURES / "hubble-otel_basic-sample-10-flows.jsonl").read_text().splitlines()[0]
    full = parse_line(line)
    assert full is not None
    full.flow.uuid = ""
    digest = hashlib.blake2b(full.SerializeToString(deterministic=True), digest_size=12)
    assert HubbleStream._key(full.SerializeToString()) == "sha:" + digest.hexdigest()
    full.flow.uuid = "u-1"
    assert HubbleStream._key(full.SerializeToString()) == "u-1"


def test_the_narrow_schema_leaves_out_only_fields_learning_never_reads() -> None:
    narrow_flow = NarrowResponse.DESCRIPTOR.fields_by_name["flow"].message_type
    assert set(narrow_flow.fields_by_name) == FLOW_FIELDS_READ
    full_flow = observer_pb2.GetFlowsResponse.DESCRIPTOR.fields_by_name["flow"].message_type
    for name in FLOW_FIELDS_READ:
        assert narrow_flow.fields_by_name[name].number == full_flow.fields_by_name[name].number
    assert {f.name: f.number for f in NarrowResponse.DESCRIPTOR.fields} == {
        f.name: f.number for f in observer_pb2.GetFlowsResponse.DESCRIPTOR.fields
    }


def test_a_corrupt_endpoint_or_node_status_is_a_bad_record_not_the_end_of_the_stream() -> None:
    """The narrow schema parses endpoints and node statuses after gRPC handed the message
    over: a corrupt one used to escape as DecodeError and end `learn`."""
    lines = (HUBBLE_FIXTURES / "hubble-otel_basic-sample-10-flows.jsonl").read_text().splitlines()
    good = [NarrowResponse.FromString(parse_line(line).SerializeToString()) for line in lines[:3]]  # type: ignore[union-attr]
    corrupt = NarrowResponse.FromString(good[0].SerializeToString())
    corrupt.flow.source = bytes([0x0A, 0x05, 0x61])  # labels: a string cut short
    status = NarrowResponse(node_status=bytes([0x12, 0x09, 0x01]))
    stats = CollectorStats()
    stream = HubbleStream(ServerOptions(server="127.0.0.1:4245"), stats=stats)
    truncated = good[0].SerializeToString()[:40]
    received = [good[0], corrupt, status, good[1], good[2]]
    bodies = [message.SerializeToString() for message in received] + [truncated]
    flows = list(stream._receive(iter(bodies), -1, Counter()))
    assert len(flows) == 3
    assert stats.malformed == 3
    assert any("undecodable response" in str(e) for e in stats.errors)
    assert any("undecodable flow" in str(e) for e in stats.errors)
    assert any("undecodable node status" in str(e) for e in stats.errors)


def test_the_resume_key_of_a_response_the_full_schema_rejects_is_the_hash_of_its_bytes() -> None:
    """Found in review: a flow whose unread ``Summary`` is not UTF-8 is read (the narrow schema
    leaves it undecoded) and may be tallied, then the position code decoded it in full and the
    DecodeError ended the stream."""
    line = (HUBBLE_FIXTURES / "hubble-otel_basic-sample-10-flows.jsonl").read_text().splitlines()[0]
    full = parse_line(line)
    assert full is not None
    summary = field(100000, 2, b"\xff\xfe")  # a string field learning never reads
    body = field(1, 2, full.flow.SerializeToString() + summary)
    NarrowResponse.FromString(body)  # read as a flow
    digest = hashlib.blake2b(body, digest_size=12)
    assert HubbleStream._key(body) == "sha:" + digest.hexdigest()
