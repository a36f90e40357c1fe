"""The narrow decoder must read every line it accepts exactly as the reference mapping does.

Every line of every Hubble fixture, and each of those lines bent in ways real exports and
broken files bend them, goes through both: the fast path either declines (None) or yields
the very flow the reference mapping yields, with nothing counted as malformed or set aside.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from collectors.hubble.fastpath import fast_flow
from collectors.hubble.file import _flow_of
from learner.model.flow import Flow, Origin
from learner.model.run_stats import CollectorStats

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures/hubble/files"
REAL = FIXTURES / "real"


def fixture_lines() -> Iterator[str]:
    for path in sorted(FIXTURES.rglob("*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                yield line


def reference(line: str, origin: Origin) -> tuple[Flow | None, CollectorStats]:
    stats = CollectorStats()
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None, stats
    return _flow_of(record, origin, False, stats), stats


def assert_agrees(line: str) -> bool:
    """Whether the fast path took the line; fails if it read it differently."""
    origin = Origin("f.jsonl", 7)
    fast = fast_flow(line, origin)
    if fast is None:
        return False
    expected, stats = reference(line, origin)
    assert stats.malformed == 0 and not stats.non_flow, line
    assert fast == expected, line
    return True


def test_the_fast_path_takes_the_common_lines_and_reads_them_as_the_reference_does() -> None:
    lines = list(fixture_lines())
    taken = sum(assert_agrees(line) for line in lines)
    # Most fixture lines are plain wrapped flows: if the fast path declined them all, every
    # line would pay for two decodes.
    assert taken > len(lines) // 2


def _flow(record: dict[str, Any]) -> dict[str, Any]:
    flow: dict[str, Any] = record["flow"]
    return flow


def _ports(record: dict[str, Any]) -> dict[str, Any]:
    ports: dict[str, Any] = next(iter(_flow(record)["l4"].values()))
    return ports


def _string_ports(record: dict[str, Any]) -> None:
    ports = _ports(record)
    for key in ("source_port", "destination_port", "type"):
        if key in ports:
            ports[key] = str(ports[key])


def _bad_ports(record: dict[str, Any]) -> None:
    _ports(record)["destination_port"] = 70000


def _no_reply_flag(record: dict[str, Any]) -> None:
    _flow(record).pop("is_reply", None)


def _reply_flag_not_bool(record: dict[str, Any]) -> None:
    _flow(record)["is_reply"] = "yes"


def _empty_http(record: dict[str, Any]) -> None:
    _flow(record)["l7"] = {"type": "REQUEST", "http": {}}


def _http_without_request_fields(record: dict[str, Any]) -> None:
    _flow(record)["l7"] = {"type": "REQUEST", "http": {"code": 200}}


def _camel_case(record: dict[str, Any]) -> None:
    flow = _flow(record)
    flow["nodeName"] = flow.pop("node_name", "n")
    flow["isReply"] = flow.pop("is_reply", False)


def _null_source(record: dict[str, Any]) -> None:
    _flow(record)["source"] = None


def _labels_not_strings(record: dict[str, Any]) -> None:
    _flow(record)["source"] = {"identity": 5, "labels": [1, 2]}


def _string_identity(record: dict[str, Any]) -> None:
    source = _flow(record).get("source") or {}
    source["identity"] = str(source.get("identity", 0))
    _flow(record)["source"] = source


def _time_from_wrapper(record: dict[str, Any]) -> None:
    record["time"] = _flow(record).pop("time", "2026-01-01T00:00:00Z")


def _time_with_offset(record: dict[str, Any]) -> None:
    _flow(record)["time"] = "2026-02-24T08:47:58.5+02:00"


def _bad_time(record: dict[str, Any]) -> None:
    _flow(record)["time"] = "yesterday"


def _sock_trace(record: dict[str, Any]) -> None:
    _flow(record)["event_type"] = {"type": 7}


def _debug_capture(record: dict[str, Any]) -> None:
    _flow(record)["debug_capture_point"] = "DBG_CAPTURE_DELIVERY"


def _dropped(record: dict[str, Any]) -> None:
    _flow(record)["verdict"] = "DROPPED"
    _flow(record)["drop_reason_desc"] = "CT_MAP_INSERTION_FAILED"


def _two_protocols(record: dict[str, Any]) -> None:
    _flow(record)["l4"]["VRRP"] = {}


def _unknown_protocol(record: dict[str, Any]) -> None:
    _flow(record)["l4"] = {"GRE": {}}


def _syn_ack(record: dict[str, Any]) -> None:
    _flow(record).pop("is_reply", None)
    _ports(record)["flags"] = {"SYN": True, "ACK": True}


def _policies(record: dict[str, Any]) -> None:
    _flow(record)["egress_allowed_by"] = [{"name": "allow-web", "namespace": "shop"}]
    _flow(record)["ingress_denied_by"] = None


def _trailing_dot_names(record: dict[str, Any]) -> None:
    _flow(record)["destination_names"] = ["api.example.com.", "x.example.com"]


def _names_not_strings(record: dict[str, Any]) -> None:
    _flow(record)["destination_names"] = [1]


def _flow_not_object(record: dict[str, Any]) -> None:
    record["flow"] = [1, 2]


def _enum_numbers(record: dict[str, Any]) -> None:
    flow = _flow(record)
    flow["verdict"] = 1
    flow["traffic_direction"] = 2
    flow["trace_reason"] = 3
    flow.pop("is_reply", None)


MUTATIONS: list[Callable[[dict[str, Any]], None]] = [
    _string_ports,
    _bad_ports,
    _no_reply_flag,
    _reply_flag_not_bool,
    _empty_http,
    _http_without_request_fields,
    _camel_case,
    _null_source,
    _labels_not_strings,
    _string_identity,
    _time_from_wrapper,
    _time_with_offset,
    _bad_time,
    _sock_trace,
    _debug_capture,
    _dropped,
    _two_protocols,
    _unknown_protocol,
    _syn_ack,
    _policies,
    _trailing_dot_names,
    _names_not_strings,
    _flow_not_object,
    _enum_numbers,
]


@pytest.mark.parametrize("mutate", MUTATIONS, ids=lambda m: m.__name__.strip("_"))
def test_a_bent_line_is_read_as_the_reference_reads_it_or_left_to_it(
    mutate: Callable[[dict[str, Any]], None],
) -> None:
    for path in sorted(REAL.glob("*.jsonl")):
        for line in path.read_text().splitlines()[:40]:
            record = orjson.loads(line)
            if type(record.get("flow")) is not dict:
                continue
            mutate(record)
            assert_agrees(orjson.dumps(record).decode())


def test_lines_that_are_no_wrapped_flow_are_left_to_the_reference() -> None:
    origin = Origin("f.jsonl", 1)
    for line in (
        "not json",
        "[]",
        '{"lost_events": {"num_events_lost": 3}}',
        '{"node_status": {}}',
        '{"flow": null}',
        '{"l4": {"TCP": {"destination_port": 80}}, "time": "2026-01-01T00:00:00Z"}',
    ):
        assert fast_flow(line, origin) is None, line
