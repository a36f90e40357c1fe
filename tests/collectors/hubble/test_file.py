"""The Hubble file collector against real captures and variants derived from them at run time."""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from collectors import jsonstream
from collectors.hubble.file import UnsupportedFlow, flow_from_json, iter_flows, parse_rfc3339
from learner.model.errors import InputError, UsageError
from learner.model.flow import (
    Direction,
    EndpointKind,
    Flow,
    HTTPRequest,
    Origin,
    Protocol,
    Verdict,
)
from learner.model.run_stats import CollectorStats

REPO = Path(__file__).resolve().parents[3]
SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "hubble" / "files"
REAL = SAMPLES / "real"
PRINTER = SAMPLES / "cilium-printer-test_expected-json-outputs.txt"
TKE = SAMPLES / "tke-guide_cilium-1.19.1-exporter-events.jsonl"
BASIC_10 = SAMPLES / "hubble-otel_basic-sample-10-flows.jsonl"
HTTP = SAMPLES / "hubble-otel_http-l7.jsonl"
DNS_TCP = SAMPLES / "hubble-otel_dns-l7-over-tcp.jsonl"
DENY = SAMPLES / "unattributed_cilium-1.18.3-policy-deny-egress_denied_by.jsonl"
ALL_SAMPLES = sorted(
    path for path in SAMPLES.rglob("*") if path.is_file() and path.suffix in (".jsonl", ".txt")
)


def collect(*inputs: str | Path, strict: bool = False) -> tuple[list[Flow], CollectorStats]:
    stats = CollectorStats()
    flows = list(iter_flows([str(item) for item in inputs], strict=strict, stats=stats))
    return flows, stats


def without_origin(flows: list[Flow]) -> list[Flow]:
    return [flow._replace(origin=Origin("")) for flow in flows]


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


# --- every sample ----------------------------------------------------------------------------


def _datapath_drop(flow: dict[str, Any]) -> bool:
    """Dropped for a reason other than a policy's (flow.proto DropReason 133, 181, 189)."""
    if flow.get("verdict") != "DROPPED":
        return False
    reason = flow.get("drop_reason_desc") or flow.get("drop_reason")
    return reason is not None and reason not in (
        "POLICY_DENIED", "POLICY_DENY", "AUTH_REQUIRED", 133, 181, 189
    )  # fmt: skip


def expected_counts(path: Path) -> dict[str, Any]:
    """What a file holds, judged with the standard library only."""
    flows = lost_records = lost_events = 0
    bad_lines: list[int] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            bad_lines.append(number)
            continue
        if "flow" in record or "verdict" in record:  # wrapped, or a legacy bare Flow
            flows += not _datapath_drop(record.get("flow", record))
        elif "lost_events" in record:
            lost_records += 1
            lost_events += int(record["lost_events"]["num_events_lost"])
        else:
            raise AssertionError(f"{path}:{number}: fixture line of an unexpected shape")
    return {
        "flows": flows,
        "lost_records": lost_records,
        "lost_events": lost_events,
        "bad_lines": bad_lines,
    }


@pytest.mark.parametrize("path", ALL_SAMPLES, ids=lambda path: path.name)
def test_every_sample_parses_or_is_rejected_line_by_line(path: Path) -> None:
    expected = expected_counts(path)
    flows, stats = collect(path)
    assert stats.flows == len(flows) == expected["flows"]
    assert stats.non_flow.get("lost_events", 0) == expected["lost_records"]
    assert stats.lost_events == expected["lost_events"]
    assert stats.malformed == len(expected["bad_lines"])
    assert [error.line for error in stats.errors] == expected["bad_lines"][:5]
    for error in stats.errors:
        assert error.path == str(path)
        assert str(error).startswith(f"{path}:{error.line}: invalid JSON")
    assert all(flow.origin.source == str(path) for flow in flows)


def test_printer_sample_comment_lines_are_malformed_and_both_flow_shapes_agree() -> None:
    flows, stats = collect(PRINTER)
    comment_lines = [
        number
        for number, line in enumerate(PRINTER.read_text().splitlines(), start=1)
        if line.startswith("#")
    ]
    assert stats.malformed == len(comment_lines) > 0
    legacy, wrapped, kafka = flows
    assert without_origin([legacy]) == without_origin([wrapped])
    assert legacy.verdict == Verdict.DROPPED
    assert (legacy.protocol, legacy.port, legacy.source_port) == (Protocol.TCP, 8080, 31793)
    assert legacy.is_reply is False
    assert legacy.source.kind == EndpointKind.HEALTH  # identity 4
    assert legacy.node == "k8s1"
    assert legacy.time == pytest.approx(1234.5678)
    assert kafka.http is None and kafka.dns_query == ""
    assert stats.lost_events == 1


def test_directory_is_read_recursively_and_skips_markdown() -> None:
    flows, stats = collect(SAMPLES)
    data_files = [path for path in SAMPLES.rglob("*") if path.is_file() and path.suffix != ".md"]
    assert stats.files == len(data_files) == len(ALL_SAMPLES)
    assert {flow.origin.source for flow in flows} >= {str(path) for path in REAL.glob("*.jsonl")}
    assert stats.flows == sum(expected_counts(path)["flows"] for path in ALL_SAMPLES)
    assert stats.records == sum(
        1 for path in ALL_SAMPLES for line in path.read_text().splitlines() if line.strip()
    )


# --- replies ---------------------------------------------------------------------------------


def test_legacy_reply_flag_and_syn_mark_replies_in_old_cilium() -> None:
    flows, _ = collect(BASIC_10)
    for flow, record in zip(flows, records(BASIC_10), strict=True):
        raw = record["flow"]
        assert "is_reply" not in raw
        flags = raw["l4"]["TCP"]["flags"]
        if raw.get("reply") is True:
            assert flow.is_reply is True
        elif flags.get("SYN") and not flags.get("ACK"):
            assert flow.is_reply is False
        else:
            # Old Cilium omits reply when false: absence is not proof, so unknown.
            assert flow.is_reply is None


def test_is_reply_wins_over_everything_else() -> None:
    flows, _ = collect(TKE)
    assert [flow.is_reply for flow in flows] == [
        record["flow"]["is_reply"] for record in records(TKE)
    ]
    assert flows[0].is_reply is True


def _reply_variant(change: Callable[[dict[str, Any]], None]) -> bool | None:
    record = records(BASIC_10)[8]  # a SYN from reserved:host, no reply fields at all
    change(record["flow"])
    flow = flow_from_json(record["flow"], Origin("test", 1))
    return flow.is_reply


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"flags": {"SYN": True}}, False),
        ({"flags": {"SYN": True, "ACK": True}}, True),
        ({"flags": {"ACK": True}}, None),
        ({"flags": {"FIN": True, "ACK": True}}, None),
    ],
)
def test_tcp_flags_decide_when_nothing_else_does(
    fields: dict[str, Any], expected: bool | None
) -> None:
    assert _reply_variant(lambda flow: flow["l4"]["TCP"].update(fields)) is expected


@pytest.mark.parametrize(
    ("reason", "expected"),
    [("REPLY", True), ("NEW", False), ("ESTABLISHED", False), (3, True), (1, False)],
)
def test_trace_reason_beats_tcp_flags(reason: str | int, expected: bool) -> None:
    def change(flow: dict[str, Any]) -> None:
        flow["trace_reason"] = reason

    # ESTABLISHED says nothing about direction: the SYN flag then decides (initiator).
    assert _reply_variant(change) is expected


def test_l7_type_decides_when_reply_fields_are_missing() -> None:
    for record in records(DNS_TCP):
        raw = record["flow"]
        raw.pop("is_reply", None)
        raw.pop("reply", None)
        flow = flow_from_json(raw, Origin("test", 1))
        assert flow.is_reply is (raw["l7"]["type"] == "RESPONSE")


# --- key spellings, compression, stdin, layouts ----------------------------------------------


def camel_case(value: Any) -> Any:
    """Re-key like protobuf's default JSON names (``json_format.MessageToJson``)."""
    if isinstance(value, dict):
        return {_camel(key): camel_case(item) for key, item in value.items()}
    if isinstance(value, list):
        return [camel_case(item) for item in value]
    return value


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@pytest.mark.parametrize(
    "path",
    [TKE, BASIC_10, HTTP, DENY, DNS_TCP, REAL / "basic-sample-400-udp-flows.jsonl"],
    ids=lambda path: path.name,
)
def test_lower_camel_case_keys_give_the_same_flows(path: Path, tmp_path: Path) -> None:
    converted = [json.dumps(camel_case(record)) for record in records(path)]
    assert any("trafficDirection" in line or "nodeName" in line for line in converted)
    camel = write_lines(tmp_path / "camel.jsonl", converted)
    expected, _ = collect(path)
    flows, stats = collect(camel)
    assert stats.malformed == 0
    assert without_origin(flows) == without_origin(expected)


def test_gzip_file_is_read_by_content(tmp_path: Path) -> None:
    source = REAL / "basic-sample-400-tcp-flows.jsonl"
    packed = tmp_path / "flows.log"  # no .gz suffix: recognised by its magic number
    packed.write_bytes(gzip.compress(source.read_bytes()))
    expected, _ = collect(source)
    flows, stats = collect(packed)
    assert stats.malformed == 0
    assert without_origin(flows) == without_origin(expected)
    assert [flow.origin.line for flow in flows] == [flow.origin.line for flow in expected]


def test_truncated_gzip_is_an_input_error(tmp_path: Path) -> None:
    packed = tmp_path / "flows.jsonl.gz"
    packed.write_bytes(
        gzip.compress((REAL / "basic-sample-400-tcp-flows.jsonl").read_bytes())[:5000]
    )
    with pytest.raises(InputError, match="cannot read"):
        collect(packed)


def test_missing_input_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        collect(tmp_path / "nope.jsonl")


def test_stdin() -> None:
    source = REAL / "basic-sample-400-udp-flows.jsonl"
    program = (
        "import json\n"
        "from learner.model.run_stats import CollectorStats\n"
        "from collectors.hubble.file import iter_flows\n"
        "stats = CollectorStats()\n"
        "flows = list(iter_flows(['-'], stats=stats))\n"
        "print(json.dumps({'flows': stats.flows, 'files': stats.files,\n"
        "    'origins': sorted({f.origin.source for f in flows}),\n"
        "    'ports': [f.port for f in flows], 'lines': [f.origin.line for f in flows]}))\n"
    )
    with source.open("rb") as stdin:
        result = subprocess.run(
            [sys.executable, "-c", program],
            stdin=stdin,
            capture_output=True,
            cwd=REPO,
            check=True,
            timeout=60,
        )
    report = json.loads(result.stdout)
    expected, _ = collect(source)
    assert report["flows"] == len(expected) and report["files"] == 1
    assert report["origins"] == ["-"]
    assert report["ports"] == [flow.port for flow in expected]
    assert report["lines"] == [flow.origin.line for flow in expected]


def _object_start_lines(text: str, opening: str) -> list[int]:
    return [number for number, line in enumerate(text.splitlines(), start=1) if line == opening]


@pytest.mark.parametrize("chunk_chars", [None, 4096], ids=["default-chunks", "4KiB-chunks"])
@pytest.mark.parametrize("layout", ["array-one-per-line", "array-indented", "concatenated"])
def test_json_documents_give_the_same_flows_with_their_lines(
    layout: str, chunk_chars: int | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if chunk_chars:  # objects (~1.5 KB) then straddle many chunk ends
        monkeypatch.setattr(jsonstream, "CHUNK_CHARS", chunk_chars)
    # Two captures, so that the pretty forms (> 1 MiB) also cross the default chunk size.
    source = write_lines(
        tmp_path / "source.jsonl",
        (REAL / "basic-sample-400-tcp-flows.jsonl").read_text().splitlines()
        + (REAL / "basic-sample-348-http-flows.jsonl").read_text().splitlines(),
    )
    objects = records(source)
    if layout == "array-one-per-line":
        text = "[\n" + ",\n".join(json.dumps(item) for item in objects) + "\n]\n"
        starts = list(range(2, len(objects) + 2))
    elif layout == "array-indented":
        text = json.dumps(objects, indent=2) + "\n"
        starts = _object_start_lines(text, "  {")
    else:
        text = "\n".join(json.dumps(item, indent=2) for item in objects) + "\n"
        starts = _object_start_lines(text, "{")
    assert layout == "array-one-per-line" or len(text) > 1 << 20
    document = tmp_path / "flows.json"
    document.write_text(text)
    expected, _ = collect(source)
    flows, stats = collect(document)
    assert stats.malformed == 0 and stats.records == len(objects)
    assert without_origin(flows) == without_origin(expected)
    assert [flow.origin.line for flow in flows] == starts


def test_long_first_lines_are_read_in_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jsonstream, "CHUNK_CHARS", 1000)  # shorter than any one flow line
    source = REAL / "basic-sample-400-udp-flows.jsonl"
    lines = source.read_text().splitlines()
    expected, _ = collect(source)
    one_line_array = tmp_path / "array.json"  # e.g. jq -c -s .
    one_line_array.write_text("\n  " + json.dumps([json.loads(line) for line in lines]))
    flows, stats = collect(one_line_array)
    assert stats.malformed == 0
    assert without_origin(flows) == without_origin(expected)
    assert {flow.origin.line for flow in flows} == {2}
    long_first = write_lines(tmp_path / "flows.jsonl", ["", " " * 2500, *lines])
    flows, stats = collect(long_first)
    assert stats.malformed == 0
    assert [flow.origin.line for flow in flows] == [line + 2 for line in range(1, len(lines) + 1)]


def test_invalid_json_in_a_document_file_names_its_line_and_reading_resumes(
    tmp_path: Path,
) -> None:
    objects = records(TKE)
    pieces = [json.dumps(item, indent=2) for item in objects]
    broken = pieces[1][:-40]  # cut the second object short
    text = "\n".join([pieces[0], broken, pieces[2]]) + "\n"
    document = tmp_path / "pretty.json"
    document.write_text(text)
    flows, stats = collect(document)
    assert len(flows) == 2 and stats.malformed == 1, "the objects around the broken one"
    (error,) = stats.errors
    assert error.line > text.count("\n", 0, text.index(broken))
    assert "skipping to the next value" in error.reason
    with pytest.raises(InputError):
        collect(document, strict=True)


def test_blank_lines_are_ignored_and_do_not_shift_line_numbers(tmp_path: Path) -> None:
    lines = TKE.read_text().splitlines()
    spaced = write_lines(
        tmp_path / "spaced.jsonl", ["", lines[0], "   ", "", lines[1], lines[2], ""]
    )
    flows, stats = collect(spaced)
    assert [flow.origin.line for flow in flows] == [2, 5, 6]
    assert stats.records == 3 and stats.malformed == 0


# --- malformed input -------------------------------------------------------------------------


def _corrupt(line: str, rng: random.Random) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        return line[: rng.randrange(1, len(line) - 1)]  # any proper prefix of an object is bad
    if kind == 1:
        return rng.choice(["42", '"flow"', "[1, 2]", "null", "true"])
    record = json.loads(line)
    if kind == 2:
        record["flow"]["l4"] = {"GRE": {}}
    elif kind == 3:
        record["flow"]["time"] = "yesterday"
    else:
        record["flow"] = {}
    return json.dumps(record)


def _garbage_file(tmp_path: Path) -> tuple[Path, list[int], int]:
    rng = random.Random(20261126)
    lines = (REAL / "basic-sample-400-tcp-flows.jsonl").read_text().splitlines()
    lines += (REAL / "basic-sample-400-udp-flows.jsonl").read_text().splitlines()
    bad: list[int] = []
    for index in range(len(lines)):
        if rng.random() < 0.05:
            lines[index] = _corrupt(lines[index], rng)
            bad.append(index + 1)
    return write_lines(tmp_path / "garbage.jsonl", lines), bad, len(lines)


def test_five_percent_garbage_is_counted_with_file_and_line(tmp_path: Path) -> None:
    path, bad, total = _garbage_file(tmp_path)
    assert len(bad) >= 20
    flows, stats = collect(path)
    assert stats.malformed == len(bad)
    assert stats.flows == len(flows) == total - len(bad)
    assert [error.line for error in stats.errors] == bad[:5]
    for error in stats.errors:
        assert str(error).startswith(f"{path}:{error.line}: ") and error.reason
    good_lines = [flow.origin.line for flow in flows]
    assert not set(good_lines) & set(bad)


def test_strict_raises_at_the_first_bad_line(tmp_path: Path) -> None:
    path, bad, _ = _garbage_file(tmp_path)
    stats = CollectorStats()
    seen: list[Flow] = []
    with pytest.raises(InputError) as raised:
        seen.extend(iter_flows([str(path)], strict=True, stats=stats))
    assert raised.value.line == bad[0] and raised.value.path == str(path)
    assert stats.flows == bad[0] - 1


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"flow": {}}, "neither l4 nor IP"),
        ({"flow": {"l4": {"GRE": {}}, "time": "2021-11-10T10:41:26Z"}}, "unknown l4 protocol"),
        ({"flow": {"l4": {"TCP": {}}}}, "no time"),
        ({"flow": {"l4": {"TCP": {}}, "time": "10/11/2021"}}, "bad flow time"),
        ({"flow": "text"}, "'flow' is not an object"),
        ({"something": 1}, "not a Hubble record"),
        (
            {"flow": {"l4": {"TCP": {"destination_port": "x"}}, "time": "2021-11-10T10:41:26Z"}},
            "unusable flow",
        ),
        (
            {
                "flow": {
                    "l4": {"UDP": {}},
                    "time": "2021-11-10T10:41:26Z",
                    "source": {"labels": "k8s:a=b"},
                }
            },
            "labels",
        ),
        ({"lost_events": {"num_events_lost": "many"}}, "bad lost_events"),
    ],
)
def test_malformed_records_say_why(record: dict[str, Any], reason: str, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "bad.jsonl", [json.dumps(record)])
    flows, stats = collect(path)
    assert flows == [] and stats.malformed == 1
    assert reason in stats.errors[0].reason and stats.errors[0].line == 1


# --- non-flow records ------------------------------------------------------------------------

# Shapes from observer.proto / flow.proto (formats.md §1.4, §1.7): hand-written, since no public
# capture of these was found.
_TIME = "2021-11-10T10:41:26.095336300Z"
NON_FLOW_LINES: list[tuple[dict[str, Any], str]] = [
    (
        {"node_status": {"state_change": "NODE_CONNECTED", "node_names": ["kind-worker"]}},
        "node_status",
    ),
    ({"nodeStatus": {"stateChange": "NODE_ERROR", "message": "boom"}}, "node_status"),
    ({"agent_event": {"type": "AGENT_STARTED"}, "node_name": "n1", "time": _TIME}, "agent_event"),
    (
        {"debug_event": {"type": "DBG_GENERIC", "cpu": 1}, "node_name": "n1", "time": _TIME},
        "debug_event",
    ),
    (
        {
            "flow": {
                "time": _TIME,
                "l4": {"VRRP": {"type": 1, "vrid": 2}},
                "IP": {"source": "10.0.0.1"},
            }
        },
        "unsupported-l4",
    ),
    (
        {"flow": {"time": _TIME, "l4": {"IGMP": {"type": 17}}, "IP": {"source": "10.0.0.1"}}},
        "unsupported-l4",
    ),
    (
        {
            "flow": {
                "time": _TIME,
                "verdict": "DROPPED",
                "IP": {"source": "10.0.0.1", "destination": "10.0.0.2"},
            }
        },
        "no-l4",
    ),
]


def test_non_flow_records_are_counted_not_errors(tmp_path: Path) -> None:
    lost = [
        {"lost_events": {"source": "HUBBLE_RING_BUFFER", "num_events_lost": "3", "cpu": 5}},
        {"lostEvents": {"source": "OBSERVER_EVENTS_QUEUE", "numEventsLost": "4"}},
        {"source": "PERF_EVENT_RING_BUFFER", "num_events_lost": "5"},  # legacy bare LostEvent
    ]
    lines = [json.dumps(record) for record, _ in NON_FLOW_LINES] + [json.dumps(r) for r in lost]
    flows, stats = collect(write_lines(tmp_path / "events.jsonl", lines), strict=True)
    assert flows == [] and stats.malformed == 0
    expected: dict[str, int] = {}
    for _, kind in NON_FLOW_LINES:
        expected[kind] = expected.get(kind, 0) + 1
    expected["lost_events"] = len(lost)
    assert dict(stats.non_flow) == expected
    assert stats.lost_events == 3 + 4 + 5


def test_flow_from_json_reports_unsupported_flows() -> None:
    with pytest.raises(UnsupportedFlow) as raised:
        flow_from_json(NON_FLOW_LINES[4][0]["flow"], Origin("x", 7))
    assert raised.value.kind == "unsupported-l4"
    with pytest.raises(InputError, match="^x:7: "):
        flow_from_json({"l4": {"GRE": {}}, "time": _TIME}, Origin("x", 7))


# --- mapping ---------------------------------------------------------------------------------


def _by_line(path: Path) -> dict[int, Flow]:
    flows, _ = collect(path)
    return {flow.origin.line: flow for flow in flows}


def test_reserved_identities_become_entity_kinds() -> None:
    tke = _by_line(TKE)
    assert tke[1].source.kind == EndpointKind.KUBE_APISERVER  # kube-apiserver + world labels
    assert tke[2].source.kind == EndpointKind.HOST  # host + remote-node labels
    assert tke[2].destination.kind == EndpointKind.WORLD
    assert tke[2].destination.ip == "9.134.108.44" and tke[2].destination.labels == ()
    icmp = _by_line(SAMPLES / "hubble-otel_icmpv4-echo.jsonl")
    assert (icmp[1].source.kind, icmp[1].destination.kind) == (
        EndpointKind.HOST,
        EndpointKind.HEALTH,
    )
    assert icmp[2].protocol == Protocol.ICMPV4 and icmp[2].port == 0  # "ICMPv4":{} (type 0)
    (overlay,) = _by_line(SAMPLES / "hubble-otel_no-traffic-direction-overlay.jsonl").values()
    assert overlay.source.kind == EndpointKind.REMOTE_NODE
    assert overlay.destination.kind == EndpointKind.HEALTH
    assert overlay.direction == Direction.UNKNOWN and overlay.is_reply is None


def test_world_with_namespace_and_pod_is_a_pod() -> None:
    http = _by_line(HTTP)
    assert http[1].destination.kind == EndpointKind.WORLD
    assert http[1].destination.ip == "10.128.0.4"
    assert http[2].destination.kind == EndpointKind.POD
    assert http[2].destination.namespace == "kube-system"
    assert http[2].destination.pod == "kube-dns-b4f5c58c7-7qmtw"


def test_pod_endpoint_fields_and_namespace_labels() -> None:
    destination = _by_line(TKE)[1].destination
    assert destination.kind == EndpointKind.POD
    assert destination.namespace == "kube-system"
    assert destination.labels == (("app", "cbs-csi-controller"), ("metrics", "cbs-csi-controller"))
    assert destination.namespace_labels == (("kubernetes.io/metadata.name", "kube-system"),)
    assert destination.service_account == "cbs-csi-controller-sa"
    assert destination.cluster == "default"
    assert (destination.workload_kind, destination.workload_name) == (
        "Deployment",
        "csi-cbs-controller",
    )
    assert destination.pod == "csi-cbs-controller-7788964bc-lsfw5"
    assert destination.ip == "10.20.0.4"


def test_flow_fields() -> None:
    flow = _by_line(TKE)[2]
    assert flow.time == pytest.approx(
        datetime.fromisoformat("2026-02-24T08:43:39.070396+00:00").timestamp(), abs=1e-6
    )
    assert (flow.protocol, flow.port, flow.source_port) == (Protocol.TCP, 9922, 58012)
    assert (flow.verdict, flow.direction, flow.is_reply) == (
        Verdict.FORWARDED,
        Direction.EGRESS,
        False,
    )
    assert flow.node == "10.10.21.241" and flow.count == 1
    deny = next(iter(_by_line(DENY).values()))
    assert deny.verdict == Verdict.DROPPED
    assert deny.policies == ("net-lab/deny-tg-to-echo",)
    assert deny.node == "topgun/cilium-w1" and deny.source.cluster == "topgun"


def test_l7_requests() -> None:
    http = _by_line(HTTP)
    assert http[1].http == HTTPRequest("GET", "/metrics")
    assert http[3].http is None  # a response
    dns = _by_line(DNS_TCP)
    assert dns[1].dns_query == "istiod-istio-1611.istio-system.svc.istio-system.svc.cluster.local"
    assert dns[2].dns_query == ""  # responses carry the query too, but are not lookups


def test_field_masked_flow_uses_the_wrapper_and_empty_endpoints() -> None:
    flows = _by_line(SAMPLES / "cilium-docs_exporter-dropped-fieldmasked.jsonl")
    # Line 1, a neighbour solicitation dropped as INVALID_SOURCE_IP, is the datapath's drop,
    # not a policy's: set aside (tests/collectors/test_hubble_events.py).
    assert 1 not in flows
    assert flows[2].source.kind == EndpointKind.POD and flows[2].source.pod == "xwing"


def test_destination_names_allowed_by_string_integers_and_wrapper_fallbacks() -> None:
    record = records(BASIC_10)[7]  # egress to reserved:world 35.246.31.234:443
    raw = record["flow"]
    raw["destination_names"] = ["storage.googleapis.com."]
    raw["egress_allowed_by"] = [{"name": "allow-gcs", "namespace": "monitoring", "revision": "6"}]
    raw["ingress_allowed_by"] = [{"name": "cluster-wide"}]
    raw["source"]["identity"] = str(raw["source"]["identity"])
    raw["traffic_direction"] = 2  # enum as a number
    del raw["time"], raw["node_name"]
    flow = flow_from_json(
        raw, Origin("x", 1), fallback_time=record["time"], fallback_node="wrapper-node"
    )
    assert flow.dns_names == ("storage.googleapis.com",)
    assert flow.policies == ("monitoring/allow-gcs", "cluster-wide")
    assert flow.direction == Direction.EGRESS
    assert flow.node == "wrapper-node"
    assert flow.time == parse_rfc3339(record["time"])
    assert flow.source == _by_line(BASIC_10)[8].source


def test_endpoints_with_the_same_pod_and_ip_but_other_labels_stay_apart() -> None:
    raw = records(TKE)[0]["flow"]
    first = flow_from_json(raw, Origin("x", 1)).destination
    raw["destination"]["labels"] = raw["destination"]["labels"] + ["k8s:tier=gold"]
    second = flow_from_json(raw, Origin("x", 2)).destination
    raw["destination"]["workloads"] = [{"name": "other", "kind": "StatefulSet"}]
    third = flow_from_json(raw, Origin("x", 3)).destination
    assert ("tier", "gold") not in first.labels and ("tier", "gold") in second.labels
    assert third.workload_kind == "StatefulSet" and second.workload_kind == "Deployment"


# --- timestamps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("1970-01-01T00:20:34.567800Z", "1970-01-01T00:20:34.567800+00:00"),
        ("2021-11-10T10:41:26Z", "2021-11-10T10:41:26+00:00"),
        ("2021-11-10T10:41:26.5Z", "2021-11-10T10:41:26.500000+00:00"),
        ("2024-02-29T23:59:59.999999z", "2024-02-29T23:59:59.999999+00:00"),
        ("2021-11-10T12:41:26.095357+02:00", "2021-11-10T10:41:26.095357+00:00"),
        ("2021-11-10T05:11:26.095357-05:30", "2021-11-10T10:41:26.095357+00:00"),
    ],
)
def test_rfc3339_agrees_with_datetime(text: str, iso: str) -> None:
    assert parse_rfc3339(text) == pytest.approx(datetime.fromisoformat(iso).timestamp(), abs=1e-6)


def test_rfc3339_keeps_nanosecond_digits() -> None:
    assert parse_rfc3339("2026-02-24T08:47:58.042012383Z") - parse_rfc3339(
        "2026-02-24T08:47:58Z"
    ) == pytest.approx(0.042012383, abs=1e-7)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2021-11-10",
        "2021-11-10T10:41:26",
        "2021-13-10T10:41:26Z",
        "2021-02-30T10:41:26Z",
        "2021-11-10T24:00:00Z",
        "2021-11-10T10:41:26.Z",
        "2021-11-10T10:41:26.5e3Z",
        "2021-11-10T10:41:26+0200",
        "20211110T104126Z",
        "2021-11-10T1O:41:26Z",
    ],
)
def test_rfc3339_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rfc3339(text)


def test_fixture_list_is_complete() -> None:
    # Guards the parametrised tests against a fixture folder that silently moved or emptied.
    assert len(ALL_SAMPLES) == 18
    assert sum(len(path.read_text().splitlines()) for path in ALL_SAMPLES) > 1900
