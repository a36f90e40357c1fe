from __future__ import annotations

from pathlib import Path

from collectors import protogen
from collectors._proto.flow import flow_pb2
from collectors._proto.observer import observer_pb2


def test_committed_stubs_match_a_fresh_generation(tmp_path: Path) -> None:
    fresh = tmp_path / "_proto"
    protogen.generate(fresh)
    committed = protogen.DEFAULT_OUT
    fresh_files = {p.relative_to(fresh): p.read_bytes() for p in fresh.rglob("*") if p.is_file()}
    committed_files = {
        p.relative_to(committed): p.read_bytes()
        for p in committed.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert sorted(committed_files) == sorted(fresh_files)
    stale = [str(name) for name, text in fresh_files.items() if committed_files[name] != text]
    assert stale == [], "run `python -m collectors.protogen` and commit collectors/_proto"


def test_generated_modules_import_inside_our_package() -> None:
    for path in protogen.DEFAULT_OUT.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for package in protogen.PROTO_PACKAGES:
            assert f"\nfrom {package} import" not in text, path
            assert f"\nfrom {package}." not in text, path


def test_field_numbers_are_ciliums() -> None:
    flow = flow_pb2.Flow.DESCRIPTOR.fields_by_name
    expected = {
        "time": 1, "uuid": 34, "verdict": 2, "IP": 5, "l4": 6, "source": 8, "destination": 9,
        "Type": 10, "node_name": 11, "destination_names": 14, "l7": 15, "reply": 16,
        "event_type": 19, "destination_service": 21, "traffic_direction": 22,
        "trace_reason": 36, "drop_reason_desc": 25, "is_reply": 26, "Summary": 100000,
        "egress_allowed_by": 21001, "ingress_denied_by": 21005,
    }  # fmt: skip
    assert {name: flow[name].number for name in expected} == expected
    response = observer_pb2.GetFlowsResponse.DESCRIPTOR.fields_by_name
    assert [response[n].number for n in ("flow", "node_status", "lost_events", "node_name")] == [
        1, 2, 3, 1000,
    ]  # fmt: skip
    request = observer_pb2.GetFlowsRequest.DESCRIPTOR.fields_by_name
    assert [request[n].number for n in ("number", "follow", "whitelist", "since", "first")] == [
        1, 3, 6, 7, 9,
    ]  # fmt: skip
    flow_filter = flow_pb2.FlowFilter.DESCRIPTOR.fields_by_name
    assert (flow_filter["source_pod"].number, flow_filter["destination_pod"].number) == (2, 4)
    assert flow_pb2.Endpoint.DESCRIPTOR.fields_by_name["cluster_name"].number == 7
    service = observer_pb2.DESCRIPTOR.services_by_name["Observer"]
    assert service.full_name == "observer.Observer"
    assert sorted(service.methods_by_name) == ["GetFlows", "ServerStatus"]
