"""The common Hubble line, decoded narrowly: only the fields the flow model reads.

Almost every line of a real export is a wrapped L3/L4 or L7 flow with proto key names. For
those, :func:`fast_flow` decodes with typed msgspec structs that skip every field the flow
model does not read (ethernet, summaries, interfaces...), keeps each endpoint as its raw bytes
and builds an endpoint once per distinct raw endpoint and address. It gives up (returns None)
on anything else: another record kind, lowerCamelCase keys, a value of an unexpected type, a
set-aside kind, a dropped flow, any error. The caller then maps the line with the reference
mapping (:func:`collectors.hubble.file._map_flow`), which decides, counts and words every
problem; so the fast path changes how fast a line is read, never what it means
(tests/collectors/hubble/test_fastpath.py checks both agree on every fixture line).
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

from collectors.hubble import values as reference
from collectors.hubble.values import icmp_reply as reply_of_icmp
from learner.model.flow import Direction, Endpoint, Flow, HTTPRequest, Origin, Protocol, Verdict

__all__ = ["fast_flow"]


class _Flags(msgspec.Struct):
    SYN: bool = False
    ACK: bool = False


class _Ports(msgspec.Struct):
    source_port: int | str | None = None
    destination_port: int | str | None = None
    flags: _Flags | None = None
    type: int | str | None = None


class _Addresses(msgspec.Struct):
    source: str | None = None
    destination: str | None = None


class _Layer7(msgspec.Struct):
    type: str | int | None = None
    dns: dict[str, Any] | None = None
    http: dict[str, Any] | None = None


class _Flow(msgspec.Struct):
    node_name: str | None | msgspec.UnsetType = msgspec.UNSET
    time: str | None = None
    verdict: str | int | None = None
    IP: _Addresses | None = None
    l4: dict[str, _Ports | None] | None = None
    source: msgspec.Raw = msgspec.Raw(b"")
    destination: msgspec.Raw = msgspec.Raw(b"")
    destination_names: list[str] | None = None
    l7: _Layer7 | None = None
    reply: Any = None
    traffic_direction: str | int | None = None
    trace_reason: Any = None
    is_reply: bool | None = None
    egress_allowed_by: Any = None
    ingress_allowed_by: Any = None
    egress_denied_by: Any = None
    ingress_denied_by: Any = None
    # Only to recognise the kinds the reference mapping sets aside.
    Type: Any = None
    sock_xlate_point: Any = None
    debug_capture_point: Any = None
    event_type: Any = None


class _Record(msgspec.Struct):
    flow: _Flow | None | msgspec.UnsetType = msgspec.UNSET
    time: Any = None
    node_name: Any = None
    nodeName: Any = None


_decode = msgspec.json.Decoder(_Record).decode

_PROTOCOLS = {protocol.value: protocol for protocol in Protocol}
_SET_ASIDE_EVENT_TYPES = (2, 3, 7)
"""``event_type.type`` values of debug, capture and trace-sock events (collectors/hubble/events.py)."""

# Bounded: external addresses are unbounded in number. Each entry is one raw endpoint's bytes
# (a few hundred) and the shared Endpoint built from it.
_ENDPOINT_CACHE_LIMIT = 1 << 14
_endpoints: dict[tuple[bytes, str], Endpoint] = {}


def _endpoint(raw: msgspec.Raw, ip: str) -> Endpoint:
    key = (bytes(raw), ip)
    endpoint = _endpoints.get(key)
    if endpoint is None:
        raw_endpoint: Any = orjson.loads(key[0]) if key[0] else None
        endpoint = reference.new_endpoint(raw_endpoint or {}, ip)
        if len(_endpoints) >= _ENDPOINT_CACHE_LIMIT:
            _endpoints.clear()
        _endpoints[key] = endpoint
    return endpoint


def _port(value: int | str | None) -> int:
    if not value:
        return 0
    return value if type(value) is int else int(value)


def fast_flow(line: str, origin: Origin) -> Flow | None:
    """The flow on ``line``, or None when the reference mapping must decide."""
    try:
        record = _decode(line)
        flow = record.flow
        if type(flow) is not _Flow or flow.node_name is msgspec.UNSET:
            return None
        return _mapped(flow, record, origin)
    except Exception:  # noqa: BLE001  (whatever it was, the reference mapping words it)
        return None


def _mapped(flow: _Flow, record: _Record, origin: Origin) -> Flow | None:
    l4 = flow.l4
    if not l4 or len(l4) != 1:
        return None
    ((protocol_name, ports),) = l4.items()
    protocol = _PROTOCOLS.get(protocol_name)
    if protocol is None or ports is None:
        return None
    event_type = flow.event_type
    if (
        flow.Type in ("SOCK", 3)
        or flow.sock_xlate_point
        or flow.debug_capture_point
        or flow.verdict in ("DROPPED", 2)
        or (type(event_type) is dict and event_type.get("type") in _SET_ASIDE_EVENT_TYPES)
    ):
        return None
    icmp_reply: bool | None = None
    if protocol.has_ports:
        port = _port(ports.destination_port)
    else:
        port = _port(ports.type)
        icmp_reply = reply_of_icmp(protocol, port)
    if not 0 <= port <= 65535:
        return None
    source_port = _port(ports.source_port)

    stamp = flow.time or record.time
    if not stamp:
        return None
    time = reference.parse_rfc3339(stamp)

    l7 = flow.l7
    dns_query = ""
    dns_answers: tuple[str, ...] = ()
    http = None
    if l7 is not None and l7.type in ("RESPONSE", 2):
        if l7.dns and l7.dns.get("ips"):
            dns_query = (l7.dns.get("query") or "").rstrip(".").lower()
            dns_answers = tuple([str(ip) for ip in l7.dns["ips"]])
    elif l7 is not None and l7.type in ("REQUEST", 1):
        if l7.dns:
            dns_query = (l7.dns.get("query") or "").rstrip(".").lower()
        request = l7.http
        if request:
            http = HTTPRequest(method=request.get("method") or "", path=_url_path(request))
    is_reply = flow.is_reply
    if is_reply is None:
        is_reply = _unflagged_reply(flow, ports, l7)
    if icmp_reply is not None:
        is_reply = icmp_reply
    addresses = flow.IP
    names = flow.destination_names
    verdict = flow.verdict
    direction = flow.traffic_direction
    return Flow(
        time,
        _endpoint(flow.source, (addresses.source if addresses else None) or ""),
        _endpoint(flow.destination, (addresses.destination if addresses else None) or ""),
        protocol,
        port,
        Verdict.UNKNOWN if verdict is None else _VERDICTS.get(verdict, Verdict.UNKNOWN),
        Direction.UNKNOWN if direction is None else _DIRECTIONS.get(direction, Direction.UNKNOWN),
        is_reply,
        origin,
        source_port,
        tuple([name.rstrip(".").lower() for name in names]) if names else (),
        1,
        http,
        dns_query,
        flow.node_name or record.node_name or record.nodeName or "",
        _policies(flow),
        dns_answers,
    )


def _url_path(request: dict[str, Any]) -> str:
    return reference.url_path(request.get("url") or "")


def _unflagged_reply(flow: _Flow, ports: _Ports, l7: _Layer7 | None) -> bool | None:
    """As :func:`collectors.hubble.file._unflagged_reply`."""
    if flow.reply is True:
        return True
    reason = flow.trace_reason
    if reason is not None and reason in _REPLY_BY_TRACE_REASON:
        return _REPLY_BY_TRACE_REASON[reason]
    flags = ports.flags
    if flags is not None and flags.SYN:
        return flags.ACK
    if l7 is not None and l7.type is not None and l7.type in _REPLY_BY_L7_TYPE:
        return _REPLY_BY_L7_TYPE[l7.type]
    return None


def _policies(flow: _Flow) -> tuple[str, ...]:
    lists = (
        flow.egress_allowed_by,
        flow.ingress_allowed_by,
        flow.egress_denied_by,
        flow.ingress_denied_by,
    )
    if not any(lists):
        return ()
    names: list[str] = []
    for policies in lists:
        if policies:
            for policy in policies:
                namespace = policy.get("namespace") or ""
                name = policy.get("name") or ""
                names.append(f"{namespace}/{name}" if namespace else name)
    return tuple(names)


# The reference mapping's tables, so that both read enum values alike.
_VERDICTS = reference.VERDICTS
_DIRECTIONS = reference.DIRECTIONS
_REPLY_BY_TRACE_REASON = reference.REPLY_BY_TRACE_REASON
_REPLY_BY_L7_TYPE = reference.REPLY_BY_L7_TYPE
