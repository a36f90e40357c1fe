"""Hubble flow files: ``hubble observe -o json|jsonpb`` output, exporter files, legacy bare flows.

Each line is normally one ``GetFlowsResponse`` / exporter ``ExportEvent`` rendered by Go
``protojson`` (``{"flow": {...}, "node_name": ..., "time": ...}``), or a bare ``Flow`` from
CLIs before v0.11. Keys may be proto names (``traffic_direction``) or lowerCamelCase
(``trafficDirection``), 64-bit integers may be strings, and zero values are omitted. A file
whose first non-blank character is ``[`` (a JSON array), or whose first non-blank line is a
lone ``{`` (pretty-printed objects one after another), is read object by object instead.

Records that are valid but not flows (lost events, node status, agent and debug events, VRRP
and IGMP flows) are counted in ``stats.non_flow``; malformed ones go to ``stats.bad_record``.
"""

from __future__ import annotations

import io
import os
import stat
import zlib
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from typing import IO, Any, TypedDict, cast

import orjson

from collectors import jsonstream
from collectors.hubble.events import set_aside_kind
from collectors.hubble.fastpath import fast_flow
from collectors.hubble.line_scan import BUILT as SCANNER_BUILT
from collectors.hubble.line_scan import LineTallies, stands
from collectors.hubble.ranges import ByteRange, lines_before
from collectors.hubble.repeat_key import repeat_key
from collectors.hubble.values import DIRECTIONS as _DIRECTIONS
from collectors.hubble.values import REPLY_BY_L7_TYPE as _REPLY_BY_L7_TYPE
from collectors.hubble.values import REPLY_BY_TRACE_REASON as _REPLY_BY_TRACE_REASON
from collectors.hubble.values import VERDICTS as _VERDICTS
from collectors.hubble.values import icmp_reply as reply_of_icmp
from collectors.hubble.values import new_endpoint, parse_rfc3339, url_path
from collectors.jsonstream import JSONProblem, iter_json_values
from collectors.k8snames import InvalidName, drain_label_warnings
from learner.model.errors import InputError
from learner.model.flow import Direction, Endpoint, Flow, HTTPRequest, Origin, Protocol, Verdict
from learner.model.input_files import (
    STDIN,
    count_reads_of,
    expand_inputs,
    open_binary,
    open_text,
    undecodable,
)
from learner.model.repeats import PROGRESS_EVERY, Repeats, Tally
from learner.model.run_stats import CollectorStats

__all__ = [
    "UnsupportedFlow",
    "flow_from_json",
    "iter_flows",
    "iter_flows_in_range",
    "parse_rfc3339",
    "read_by_lines",
]


# Raw shapes, as protojson writes them with proto names. Every key is optional and nothing here
# is trusted: values are checked where they are read. lowerCamelCase input is renamed to these
# names first (see _with_proto_names).


class _RawEndpoint(TypedDict, total=False):
    ID: int
    identity: int | str
    namespace: str
    labels: list[str]
    pod_name: str
    cluster_name: str
    workloads: list[dict[str, str]]


class _RawPorts(TypedDict, total=False):
    source_port: int | str
    destination_port: int | str
    flags: dict[str, bool]
    type: int | str
    """ICMP only."""


class _RawLayer7(TypedDict, total=False):
    type: str | int
    dns: dict[str, Any]
    http: dict[str, Any]


class _RawPolicy(TypedDict, total=False):
    name: str
    namespace: str


class _RawFlow(TypedDict, total=False):
    time: str
    verdict: str | int
    IP: dict[str, str]
    l4: dict[str, _RawPorts]
    source: _RawEndpoint
    destination: _RawEndpoint
    node_name: str
    destination_names: list[str]
    l7: _RawLayer7
    reply: bool
    traffic_direction: str | int
    trace_reason: str | int
    is_reply: bool
    egress_allowed_by: list[_RawPolicy]
    ingress_allowed_by: list[_RawPolicy]
    egress_denied_by: list[_RawPolicy]
    ingress_denied_by: list[_RawPolicy]


# The lowerCamelCase spelling (protobuf's default JSON names) of every multi-word key read here.
_PROTO_NAMES = {
    "nodeName": "node_name",
    "destinationNames": "destination_names",
    "trafficDirection": "traffic_direction",
    "traceReason": "trace_reason",
    "isReply": "is_reply",
    "egressAllowedBy": "egress_allowed_by",
    "ingressAllowedBy": "ingress_allowed_by",
    "egressDeniedBy": "egress_denied_by",
    "ingressDeniedBy": "ingress_denied_by",
    "podName": "pod_name",
    "clusterName": "cluster_name",
    "sourcePort": "source_port",
    "destinationPort": "destination_port",
    "sockXlatePoint": "sock_xlate_point",
    "debugCapturePoint": "debug_capture_point",
    "eventType": "event_type",
    "dropReason": "drop_reason",
    "dropReasonDesc": "drop_reason_desc",
    "subType": "sub_type",
}


def _with_proto_names(value: Any) -> Any:
    """A copy of ``value`` with lowerCamelCase keys renamed to their proto names."""
    if type(value) is dict:
        return {_PROTO_NAMES.get(key, key): _with_proto_names(item) for key, item in value.items()}
    if type(value) is list:
        return [_with_proto_names(item) for item in value]
    return value


class UnsupportedFlow(Exception):
    """A well-formed Hubble flow that no network policy can express (VRRP, IGMP, no L4 header).

    ``kind`` names the case; :func:`iter_flows` counts it in ``stats.non_flow[kind]``.
    """

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


# --- one flow --------------------------------------------------------------------------------

_PROTOCOLS: dict[str, Protocol] = {
    "TCP": Protocol.TCP,
    "UDP": Protocol.UDP,
    "SCTP": Protocol.SCTP,
    "ICMPv4": Protocol.ICMPV4,
    "ICMPv6": Protocol.ICMPV6,
}
_UNSUPPORTED_L4 = frozenset({"VRRP", "IGMP"})
_L7_REQUEST = ("REQUEST", 1)
_L7_RESPONSE = ("RESPONSE", 2)


# Endpoints repeat across lines and building one parses its labels, so finished endpoints are
# kept. The key is what is cheap to hash; a hit also needs the whole raw endpoint to be equal
# (one comparison in C). ``ID`` is in the key because the same pod is reported with its
# endpoint ID by its own node and without by others, and both shapes should stay cached.
# Bounded, since external addresses are unbounded in number.
_ENDPOINT_CACHE_LIMIT = 1 << 16
_endpoint_cache: dict[tuple[object, ...], tuple[object, Endpoint]] = {}
_NO_ENDPOINT: _RawEndpoint = {}


def _endpoint(raw: _RawEndpoint | None, ip: str) -> Endpoint:
    if not raw:
        raw = _NO_ENDPOINT
    key = (raw.get("pod_name"), ip, raw.get("identity"), raw.get("ID"))
    cached = _endpoint_cache.get(key)
    if cached is not None and cached[0] == raw:
        return cached[1]
    endpoint = new_endpoint(raw, ip)
    if len(_endpoint_cache) >= _ENDPOINT_CACHE_LIMIT:
        _endpoint_cache.clear()
    # A deep copy, so that a caller changing its dict later cannot change what the entry means.
    _endpoint_cache[key] = (orjson.loads(orjson.dumps(raw)), endpoint)
    return endpoint


def _policy_names(flow: _RawFlow) -> tuple[str, ...]:
    names: list[str] = []
    for policies in (
        flow.get("egress_allowed_by"),
        flow.get("ingress_allowed_by"),
        flow.get("egress_denied_by"),
        flow.get("ingress_denied_by"),
    ):
        if policies:
            for policy in policies:
                namespace = policy.get("namespace") or ""
                name = policy.get("name") or ""
                names.append(f"{namespace}/{name}" if namespace else name)
    return tuple(names)


def _unflagged_reply(flow: _RawFlow, ports: _RawPorts, l7: _RawLayer7 | None) -> bool | None:
    """Whether a flow without ``is_reply`` is reply traffic, from weaker evidence (formats.md
    §2.4): legacy ``reply``, ``trace_reason``, TCP SYN/ACK, then the L7 record's type.

    Cilium before ~1.11 omits ``reply`` when false, so its absence proves nothing: None, and
    normalisation falls back to its port heuristic.
    """
    if flow.get("reply") is True:
        return True
    reason = flow.get("trace_reason")
    if reason is not None and reason in _REPLY_BY_TRACE_REASON:
        return _REPLY_BY_TRACE_REASON[reason]
    flags = ports.get("flags")
    if flags and flags.get("SYN"):
        return bool(flags.get("ACK"))
    if l7:
        l7_type = l7.get("type")
        if l7_type is not None and l7_type in _REPLY_BY_L7_TYPE:
            return _REPLY_BY_L7_TYPE[l7_type]
    return None


_MAPPING_ERRORS = (TypeError, ValueError, AttributeError, IndexError, KeyError)


def flow_from_json(
    obj: dict[str, Any],
    origin: Origin,
    *,
    fallback_time: str | None = None,
    fallback_node: str = "",
) -> Flow:
    """Map one parsed Hubble ``Flow`` object (proto or lowerCamelCase keys) to a :class:`Flow`.

    ``fallback_time``/``fallback_node`` come from the ``GetFlowsResponse`` wrapper, used when the
    flow itself lacks them (field masks). Raises :class:`InputError` naming ``origin`` when the
    object cannot be a flow, :class:`UnsupportedFlow` when it is one no policy can express.
    """
    wrapper = {"time": fallback_time, "node_name": fallback_node}
    try:
        return _map_flow(obj, origin, wrapper)
    except _MAPPING_ERRORS as error:
        raise _unusable(origin, error) from error


def _unusable(origin: Origin, error: Exception) -> InputError:
    return InputError(origin.source, origin.line, f"unusable flow: {type(error).__name__}: {error}")


_NO_WRAPPER: dict[str, Any] = {}


def _map_flow(obj: Any, origin: Origin, wrapper: dict[str, Any]) -> Flow:
    """The work of :func:`flow_from_json`; ``wrapper`` is the enclosing record (or ``{}``)."""
    # Hubble always sets node_name; without it, the keys may be lowerCamelCase.
    flow: _RawFlow = obj if "node_name" in obj else _with_proto_names(obj)
    l4 = flow.get("l4")
    if not l4:
        if flow.get("IP"):
            raise UnsupportedFlow("no-l4")
        raise InputError(origin.source, origin.line, "flow has neither l4 nor IP fields")
    ((protocol_name, ports),) = l4.items()  # a oneof: exactly one key
    protocol = _PROTOCOLS.get(protocol_name)
    if protocol is None:
        if protocol_name in _UNSUPPORTED_L4:
            raise UnsupportedFlow("unsupported-l4")
        raise InputError(origin.source, origin.line, f"unknown l4 protocol {protocol_name!r}")
    set_aside = set_aside_kind(flow)
    if set_aside:
        raise UnsupportedFlow(set_aside)
    if ports is None:
        ports = {}
    icmp_reply: bool | None = None
    # ICMP: the type travels as the port (learner/icmp.py). protojson omits zero, so an
    # ICMPv4 record without a type is type 0, an echo reply.
    port: int | str = (
        ports.get("destination_port") if protocol.has_ports else ports.get("type")
    ) or 0
    if type(port) is not int:
        port = int(port)
    if not protocol.has_ports:
        # An ICMP request or reply says what it is, whatever the other fields say.
        icmp_reply = reply_of_icmp(protocol, port)
    if not 0 <= port <= 65535:
        raise ValueError(f"destination port {port} out of range")
    source_port = ports.get("source_port") or 0
    if type(source_port) is not int:
        source_port = int(source_port)

    stamp = flow.get("time") or wrapper.get("time")
    if not stamp:
        raise InputError(origin.source, origin.line, "flow has no time")
    try:
        time = parse_rfc3339(stamp)
    except _MAPPING_ERRORS as error:
        raise InputError(origin.source, origin.line, f"bad flow time {stamp!r}") from error

    addresses = flow.get("IP") or {}
    verdict = flow.get("verdict")
    direction = flow.get("traffic_direction")
    l7 = flow.get("l7")
    dns_query = ""
    dns_answers: tuple[str, ...] = ()
    http = None
    if l7 and l7.get("type") in _L7_RESPONSE:
        dns = l7.get("dns")
        if dns and dns.get("ips"):
            dns_query = (dns.get("query") or "").rstrip(".").lower()
            dns_answers = tuple(str(ip) for ip in dns["ips"])
    elif l7 and l7.get("type") in _L7_REQUEST:
        dns = l7.get("dns")
        if dns:
            dns_query = (dns.get("query") or "").rstrip(".").lower()
        request = l7.get("http")
        if request:
            http = HTTPRequest(
                method=request.get("method") or "", path=url_path(request.get("url") or "")
            )
    names = flow.get("destination_names")
    is_reply = flow.get("is_reply")
    if is_reply is None:
        is_reply = _unflagged_reply(flow, ports, l7)
    elif type(is_reply) is not bool:
        raise ValueError(f"is_reply is not a boolean: {is_reply!r}")
    if icmp_reply is not None:
        is_reply = icmp_reply

    return Flow(
        time=time,
        source=_endpoint(flow.get("source"), addresses.get("source") or ""),
        destination=_endpoint(flow.get("destination"), addresses.get("destination") or ""),
        protocol=protocol,
        port=port,
        verdict=Verdict.UNKNOWN if verdict is None else _VERDICTS.get(verdict, Verdict.UNKNOWN),
        direction=Direction.UNKNOWN
        if direction is None
        else _DIRECTIONS.get(direction, Direction.UNKNOWN),
        is_reply=is_reply,
        origin=origin,
        source_port=source_port,
        dns_names=tuple(name.rstrip(".").lower() for name in names) if names else (),
        http=http,
        dns_query=dns_query,
        dns_answers=dns_answers,
        node=flow.get("node_name") or wrapper.get("node_name") or wrapper.get("nodeName") or "",
        policies=_policy_names(flow)
        if (
            "egress_allowed_by" in flow
            or "ingress_allowed_by" in flow
            or "egress_denied_by" in flow
            or "ingress_denied_by" in flow
        )
        else (),
    )


# --- one record (a line or a document) -------------------------------------------------------

_NON_FLOW_KINDS = (
    ("node_status", "nodeStatus"),
    ("agent_event", "agentEvent"),
    ("debug_event", "debugEvent"),
)
_BARE_FLOW_KEYS = ("l4", "IP", "verdict", "Type", "source", "destination")
_SET_ASIDE = (InputError, UnsupportedFlow, *_MAPPING_ERRORS)


def _set_aside(problem: Exception, origin: Origin, strict: bool, stats: CollectorStats) -> None:
    """Count a record that gave no flow: a non-flow kind, or malformed (raises if ``strict``)."""
    if isinstance(problem, UnsupportedFlow):
        stats.non_flow[problem.kind] += 1
    elif isinstance(problem, InputError):
        stats.bad_record(problem, strict)
    elif isinstance(problem, InvalidName):
        stats.bad_record(InputError(origin.source, origin.line, str(problem)), strict)
    else:
        stats.bad_record(_unusable(origin, problem), strict)


def _lost_event_count(lost: Any, origin: Origin) -> int:
    try:
        return int(lost.get("num_events_lost") or lost.get("numEventsLost") or 0)
    except (AttributeError, TypeError, ValueError) as error:
        raise InputError(origin.source, origin.line, f"bad lost_events: {error}") from error


def _flow_of(record: Any, origin: Origin, strict: bool, stats: CollectorStats) -> Flow | None:
    """The flow in any Hubble record (counted), or None after counting what else it was."""
    flow = _record_flow(record, origin, strict, stats)
    if flow is not None:
        stats.flows += 1
    return flow


def _record_flow(record: Any, origin: Origin, strict: bool, stats: CollectorStats) -> Flow | None:
    """As :func:`_flow_of`, leaving the flow to the caller to count."""
    try:
        if type(record) is not dict:
            raise InputError(origin.source, origin.line, "not a JSON object")
        flow = record.get("flow")
        if flow is not None:
            if type(flow) is not dict:
                raise InputError(origin.source, origin.line, "'flow' is not an object")
            return _map_flow(flow, origin, record)
        lost = record.get("lost_events") or record.get("lostEvents")
        if lost is None and ("num_events_lost" in record or "numEventsLost" in record):
            lost = record  # a legacy bare LostEvent
        if lost is not None:
            stats.lost_events += _lost_event_count(lost, origin)
            stats.non_flow["lost_events"] += 1
            return None
        for snake, camel in _NON_FLOW_KINDS:
            if snake in record or camel in record:
                stats.non_flow[snake] += 1
                return None
        if any(key in record for key in _BARE_FLOW_KEYS):
            return _map_flow(record, origin, _NO_WRAPPER)
        raise InputError(
            origin.source,
            origin.line,
            "not a Hubble record (no flow, lost_events, node_status, agent_event or debug_event)",
        )
    except _SET_ASIDE as problem:
        _set_aside(problem, origin, strict, stats)
        return None


# --- one file --------------------------------------------------------------------------------


def _flows_in_lines(
    path: str,
    lines: Iterable[str],
    first_line: int,
    strict: bool,
    stats: CollectorStats,
    repeats: Repeats | None = None,
) -> Iterator[Flow]:
    # Counted locally and added to ``stats`` as the generator ends: this loop runs per line.
    records = flows = 0
    try:
        if repeats is None:
            for line_number, line in enumerate(lines, first_line):
                if line.isspace():
                    continue
                records += 1
                flow = _line_flow(path, line, line_number, strict, stats)
                if flow is not None:
                    flows += 1
                    yield flow
            return
        entries = repeats.entries
        for line_number, line in enumerate(lines, first_line):
            if line.isspace():
                continue
            records += 1
            repeats.resume()
            keyed = repeat_key(line)
            if keyed is not None:
                key, stamp = keyed
                tally = entries.get(key)
                if tally is not None and _tallied(tally, stamp):
                    flows += 1
                    repeats.tallied += 1
                    if repeats.tallied & PROGRESS_EVERY == 0 and repeats.on_progress:
                        repeats.on_progress()
                    continue
                flow = _line_flow(path, line, line_number, strict, stats)
                if flow is not None:
                    flows += 1
                    if tally is None:
                        repeats.first_of(key, flow)
                    yield flow
                continue
            flow = _line_flow(path, line, line_number, strict, stats)
            if flow is not None:
                flows += 1
                yield flow
        repeats.resume()
    finally:
        stats.records += records
        stats.flows += flows


BLOCK_BYTES = 1 << 20
"""Bytes read at once by the block reader (whole lines are scanned; a longer line waits)."""


def _flows_in_blocks(
    path: str,
    raw: IO[bytes],
    first_line: int,
    strict: bool,
    stats: CollectorStats,
    repeats: Repeats,
    *,
    file_start: bool = True,
) -> Iterator[Flow]:
    """:func:`_flows_in_lines` over the bytes of ``raw`` from a line start, where the lines
    that repeat a known one are counted by the scanner (collectors/hubble/line_scan.py) and
    every other line is read as there, in order. ``file_start``: ``raw`` starts the file, so
    a byte order mark may open its first record."""
    state = LineTallies.of(repeats)
    tallies = state.tallies
    entries = repeats.entries
    errors = "strict" if strict else "replace"
    records = flows = 0
    number = first_line  # of the block's first line
    opening = file_start
    unseen = first_line  # the first line Python has not seen
    try:
        for block in _line_blocks(cast(io.BufferedIOBase, raw)):
            generation = state.generation
            tallied, count, rest = state.scanner.feed(block)
            state.counted += tallied
            records += tallied
            flows += tallied
            repeats.tallied += tallied
            if repeats.on_progress is not None:
                repeats.on_progress()  # once a block: a megabyte at most
            extra = 0  # lines a lone \r adds, as universal newlines read them
            for index, start, end, slot, time in rest:
                pieces = _universal_lines(str(block[start:end], "utf-8", errors))
                for offset, line in enumerate(pieces):
                    line_number = number + index + extra + offset
                    repeats.resume()
                    if opening and (line_number != unseen or not line.isspace()):
                        # The text reader strips a byte order mark from the first line that is
                        # not blank; a line the scanner counted before this one was not blank.
                        if line_number == unseen:
                            line = line.lstrip("\ufeff")
                        opening = False
                    unseen = line_number + 1
                    if line.isspace():
                        continue
                    records += 1
                    if generation != state.generation:
                        slot = -1  # the scanner forgot its keys since this block was fed
                    if slot >= 0:
                        tally = tallies.get(slot)
                        if tally is not None:
                            tally.add(time)
                            flows += 1
                            repeats.tallied += 1
                            continue
                    keyed = repeat_key(line)
                    if keyed is None:
                        flow = _line_flow(path, line, line_number, strict, stats)
                        if flow is not None:
                            flows += 1
                            yield flow
                        continue
                    key, stamp = keyed
                    tally = entries.get(key)
                    if tally is not None and _tallied(tally, stamp):
                        flows += 1
                        repeats.tallied += 1
                        if (
                            slot >= 0
                            and state.sighted_again(slot)
                            and stands(line, stamp, key, state.scanner)
                        ):
                            state.stand(slot, tally)
                        continue
                    flow = _line_flow(path, line, line_number, strict, stats)
                    if flow is None:
                        continue
                    flows += 1
                    if tally is not None:
                        yield flow
                        continue
                    repeats.first_of(key, flow)
                    first = repeats.latest
                    yield flow
                    repeats.resume()  # the consumer has settled it, or set it aside
                    if (
                        slot >= 0
                        and first is not None
                        and generation == state.generation
                        and stands(line, stamp, key, state.scanner)
                    ):
                        state.stand(slot, first)
                extra += len(pieces) - 1
            number += count + extra
            state.trim()
        repeats.resume()
    finally:
        state.drain()
        stats.records += records
        stats.flows += flows


def _line_blocks(raw: io.BufferedIOBase) -> Iterator[memoryview]:
    """The whole lines of ``raw``, a block at a time, read into one buffer used again for every
    block: a fresh megabyte a block costs more in page faults than scanning it. A block is
    good until the next is asked for."""
    buffer = bytearray(BLOCK_BYTES)
    filled = 0
    while True:
        if filled == len(buffer):  # one line longer than the buffer: make room
            buffer = buffer + bytes(len(buffer))
        got = raw.readinto(memoryview(buffer)[filled:])
        if not got:
            if filled:
                yield memoryview(buffer)[:filled]  # the last line, without its newline
            return
        filled += got
        cut = buffer.rfind(b"\n", 0, filled) + 1
        if cut == 0:
            continue
        yield memoryview(buffer)[:cut]
        left = filled - cut
        buffer[:left] = buffer[cut:filled]
        filled = left


def _universal_lines(text: str) -> list[str]:
    """``text`` cut into lines as a text file in universal newlines mode reads it."""
    if "\r" not in text:
        return [text]
    parts = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _tallied(tally: Tally, stamp: str) -> bool:
    """Whether a repeated line's time was added to ``tally``: not when it does not parse (the
    line is then mapped on its own, which words the problem)."""
    try:
        time = parse_rfc3339(stamp)
    except ValueError:
        return False
    tally.add(time)
    return True


def _line_flow(
    path: str, line: str, line_number: int, strict: bool, stats: CollectorStats
) -> Flow | None:
    """The flow on one line, or None after counting what else the line was."""
    origin = Origin(path, line_number)
    flow = fast_flow(line, origin)
    if flow is not None:
        return flow
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        reason = f"invalid JSON: {error.msg} at column {error.colno}"
        stats.bad_record(InputError(path, line_number, reason), strict)
        return None
    # The common case, a wrapped flow, inlined.
    if type(record) is dict:
        flow_object = record.get("flow")
        if type(flow_object) is dict:
            try:
                return _map_flow(flow_object, origin, record)
            except _SET_ASIDE as problem:
                _set_aside(problem, origin, strict, stats)
                return None
    return _record_flow(record, origin, strict, stats)


def _flows_in_documents(
    path: str, handle: IO[str], text: str, first_line: int, strict: bool, stats: CollectorStats
) -> Iterator[Flow]:
    for item in iter_json_values(handle, text, first_line):
        stats.records += 1
        if isinstance(item, JSONProblem):
            stats.bad_record(InputError(path, item.line, item.reason), strict)
            continue
        flow = _flow_of(item.value, Origin(path, item.line), strict, stats)
        if flow is not None:
            yield flow


def _flows_in_file(
    path: str,
    handle: IO[str],
    strict: bool,
    stats: CollectorStats,
    repeats: Repeats | None = None,
) -> Iterator[Flow]:
    # The first line is read with a limit: it may be a whole file's JSON array.
    line_number = 0
    while True:
        first = handle.readline(jsonstream.CHUNK_CHARS)
        if not first:
            return
        if not first.isspace():
            line_number += 1
            break
        line_number += first.count("\n")
    first = first.lstrip("\ufeff")
    opening = first.lstrip()
    if opening.startswith("[") or opening.rstrip() == "{":
        yield from _flows_in_documents(path, handle, first, line_number, strict, stats)
        return
    if not first.endswith("\n"):
        first += handle.readline()  # the rest of a long first line
    yield from _flows_in_lines(path, chain((first,), handle), line_number, strict, stats, repeats)


def iter_flows(
    inputs: Sequence[str],
    *,
    strict: bool = False,
    stats: CollectorStats,
    repeats: Repeats | None = None,
) -> Iterator[Flow]:
    """Every flow in ``inputs``: files (gzip or plain), directories (recursive) or ``-``.

    Malformed records are counted in ``stats`` and skipped; with ``strict`` the first raises
    :class:`InputError`. Unreadable files raise InputError whatever ``strict`` says. With
    ``repeats``, a line repeating an earlier one in all but time is tallied there instead of
    yielded, for a consumer that keeps its side of :mod:`learner.model.repeats`.
    """
    for path in expand_inputs(inputs):
        stats.files += 1
        by_blocks = (
            SCANNER_BUILT and repeats is not None and path != STDIN and _one_record_a_line(path)
        )
        try:
            handle: IO[str] | IO[bytes] = (
                open_binary(path) if by_blocks else open_text(path, strict=strict)
            )
        except OSError as error:
            raise InputError(path, 0, f"cannot read: {error.strerror or error}") from error
        try:
            if by_blocks and repeats is not None:
                yield from _flows_in_blocks(
                    path, cast(IO[bytes], handle), 1, strict, stats, repeats
                )
            else:
                yield from _flows_in_file(path, cast(IO[str], handle), strict, stats, repeats)
        except UnicodeDecodeError as error:
            raise undecodable(path, error) from error
        except (OSError, EOFError, zlib.error) as error:  # e.g. a truncated or corrupt .gz
            raise InputError(path, 0, f"cannot read: {error}") from error
        finally:
            drain_label_warnings(stats.warnings)
            if path == STDIN and isinstance(handle, io.TextIOWrapper):
                handle.detach()  # leave the process's stdin open
            else:
                handle.close()


def iter_flows_in_range(
    path: str,
    start: int,
    end: int,
    *,
    strict: bool = False,
    stats: CollectorStats,
    repeats: Repeats | None = None,
) -> Iterator[Flow]:
    """The flows on the lines in bytes ``[start, end)`` of a plain file: one process's share
    of a file cut by :func:`collectors.hubble.ranges.line_ranges`. The range that starts the
    file counts the file in ``stats``. A flow's ``origin`` line counts from the range's start;
    the problems it reports are numbered as in the whole file.

    Lines are numbered from the range's start while it is read, and a problem's line is moved
    to the whole file's numbering only when there is one: counting the lines before the range
    means reading them all, which cost the second of two readers more than its own half."""
    if start == 0:
        stats.files += 1
    try:
        binary = ByteRange(open(path, "rb"), start, end)  # noqa: SIM115  (closed below)
        count_reads_of(binary, end - start)
    except OSError as error:
        raise InputError(path, 0, f"cannot read: {error.strerror or error}") from error
    errors = "strict" if strict else "replace"
    handle: IO[Any]
    flows: Iterator[Flow]
    if SCANNER_BUILT and repeats is not None:
        handle = io.BufferedReader(binary)
        flows = _flows_in_blocks(path, handle, 1, strict, stats, repeats, file_start=start == 0)
    else:
        handle = io.TextIOWrapper(io.BufferedReader(binary), encoding="utf-8", errors=errors)
        if start == 0:
            flows = _flows_in_file(path, handle, strict, stats, repeats)
        else:
            flows = _flows_in_lines(path, handle, 1, strict, stats, repeats)
    reported = len(stats.errors)
    try:
        yield from flows
    except UnicodeDecodeError as error:
        raise undecodable(path, error) from error  # which names the line in the whole file
    except InputError as error:
        if start == 0 or not error.line:
            raise
        # from None: the error numbered from the range's start would name a wrong line too
        raise InputError(path, error.line + _lines_before(path, start), error.reason) from None
    except OSError as error:
        raise InputError(path, 0, f"cannot read: {error}") from error
    finally:
        drain_label_warnings(stats.warnings)
        handle.close()
        if start and len(stats.errors) > reported:
            _renumber(stats.errors, reported, _lines_before(path, start))


def _lines_before(path: str, start: int) -> int:
    try:
        return lines_before(path, start)
    except OSError as error:  # e.g. rotated away while it was read
        raise InputError(path, 0, f"cannot read: {error.strerror or error}") from error


def _renumber(errors: list[InputError], first: int, lines: int) -> None:
    """Move ``errors[first:]``, numbered from a range's start, to the whole file's lines."""
    for at in range(first, len(errors)):
        error = errors[at]
        if error.line:
            errors[at] = InputError(error.path, error.line + lines, error.reason)


def read_by_lines(path: str) -> bool:
    """Whether ``path`` is a plain file of one record per line (no JSON array, no
    pretty-printed objects), so that it can be cut into line ranges."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(jsonstream.CHUNK_CHARS)
    except OSError:
        return False
    return not head.startswith(b"\x1f\x8b") and _lines_layout(head)


def _one_record_a_line(path: str) -> bool:
    """Whether ``path`` is a regular file that, decompressed, holds one record per line ended
    by \n: the block reader's input. False when it cannot be read (the text reader then words
    the problem), and for a pipe, whose head a second open would consume."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open_binary(path, metered=False) as handle:
            head = handle.read(jsonstream.CHUNK_CHARS)
    except (OSError, EOFError, zlib.error):
        return False
    # A lone \r ends lines too, as text mode reads them: such a file would be one long line
    # to the block reader.
    return b"\r" not in head.replace(b"\r\n", b"") and _lines_layout(head)


def _lines_layout(head: bytes) -> bool:
    """Whether a file starting with ``head`` is read line by line, decided as
    :func:`_flows_in_file` decides it on the first line that is not blank; False when the head
    holds no such line."""
    for line in io.TextIOWrapper(io.BytesIO(head), encoding="utf-8", errors="replace"):
        if not line.isspace():
            opening = line.lstrip("\ufeff").lstrip()
            return not (opening.startswith("[") or opening.rstrip() == "{")
    return False
