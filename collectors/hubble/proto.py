"""Hubble protobuf ``flow.Flow`` messages → :class:`learner.model.Flow`, by attribute access.

The interpretation is exactly that of the file collector (:func:`collectors.hubble_file.
flow_from_json`): the same reply rules, verdicts, directions, ports, names and policies, so a
flow read from ``hubble observe -o jsonpb`` and the same flow received over gRPC become equal
values (their origins aside). It reads message attributes directly (no ``MessageToDict``), since
it runs once per streamed flow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from collectors._proto.flow import flow_pb2
from collectors.hubble.events import (
    DATAPATH_DROP,
    DEBUG_CAPTURE,
    POLICY_DROP_REASONS,
    SOCKET_TRANSLATION,
)
from collectors.hubble.file import UnsupportedFlow
from collectors.hubble.labels import make_endpoint
from collectors.hubble.narrow import NarrowFlow
from collectors.hubble.values import icmp_reply as reply_of_icmp
from collectors.hubble.values import url_path
from collectors.k8snames import InvalidName
from learner.model.errors import InputError
from learner.model.flow import Direction, Endpoint, Flow, HTTPRequest, Origin, Protocol, Verdict

if TYPE_CHECKING:
    from google.protobuf.timestamp_pb2 import Timestamp

__all__ = ["UnsupportedFlow", "flow_from_narrow", "flow_from_proto", "timestamp_ns"]

# Our enums are spelled as upstream's, so the tables follow from the generated descriptors.
_VERDICTS: dict[int, Verdict] = {
    number: Verdict(name)
    for name, number in flow_pb2.Verdict.items()
    if name in Verdict._value2member_map_
}
_DIRECTIONS: dict[int, Direction] = {
    number: Direction(name)
    for name, number in flow_pb2.TrafficDirection.items()
    if name in Direction._value2member_map_
}
_PROTOCOLS: dict[str, Protocol] = {protocol.value: protocol for protocol in Protocol}
_UNSUPPORTED_L4 = frozenset({"VRRP", "IGMP"})
_REPLY_BY_TRACE_REASON: dict[int, bool] = {flow_pb2.NEW: False, flow_pb2.REPLY: True}
_REPLY_BY_L7_TYPE: dict[int, bool] = {flow_pb2.REQUEST: False, flow_pb2.RESPONSE: True}
_L7_REQUEST = flow_pb2.REQUEST
_L7_RESPONSE = flow_pb2.RESPONSE
_DEBUG_EVENT_TYPES = (2, 3)

_ENDPOINT_CACHE_LIMIT = 1 << 16
_endpoint_cache: dict[tuple[bytes, str], Endpoint] = {}
_PORTLESS = frozenset({Protocol.ICMPV4, Protocol.ICMPV6})
_SOCK = flow_pb2.SOCK
_DROPPED = flow_pb2.DROPPED
_SOCK_EVENT_TYPE = 7


def timestamp_ns(stamp: Timestamp) -> int:
    """A protobuf Timestamp as integer nanoseconds (exact, unlike a float)."""
    return int(stamp.seconds) * 1_000_000_000 + int(stamp.nanos)


def _endpoint(wire: bytes, ip: str) -> Endpoint:
    """The endpoint of a serialised ``flow.Endpoint``, decoded once per distinct bytes and
    address: a stream repeats the same endpoints (label sets and all) over and over."""
    key = (wire, ip)
    endpoint = _endpoint_cache.get(key)
    if endpoint is None:
        message = flow_pb2.Endpoint.FromString(wire)
        workloads = message.workloads
        endpoint = make_endpoint(
            identity=message.identity,
            labels=message.labels,
            namespace=message.namespace,
            pod_name=message.pod_name,
            ip=ip,
            workload_kind=workloads[0].kind if workloads else "",
            workload_name=workloads[0].name if workloads else "",
            cluster_name=message.cluster_name,
        )
        if len(_endpoint_cache) >= _ENDPOINT_CACHE_LIMIT:
            _endpoint_cache.clear()
        _endpoint_cache[key] = endpoint
    return endpoint


_address_cache: dict[bytes, tuple[str, str]] = {}


def _addresses(wire: bytes) -> tuple[str, str]:
    """Source and destination address of a serialised ``flow.IP``, decoded once per value."""
    addresses = _address_cache.get(wire)
    if addresses is None:
        message = flow_pb2.IP.FromString(wire)
        addresses = (message.source, message.destination)
        if len(_address_cache) >= _ENDPOINT_CACHE_LIMIT:
            _address_cache.clear()
        _address_cache[wire] = addresses
    return addresses


def _policy_names(*groups: Any) -> tuple[str, ...]:
    names: list[str] = []
    for policies in groups:
        for policy in policies:
            names.append(f"{policy.namespace}/{policy.name}" if policy.namespace else policy.name)
    return tuple(names)


def flow_from_proto(
    flow: flow_pb2.Flow,
    origin: Origin,
    *,
    fallback_time: Timestamp | None = None,
    fallback_node: str = "",
) -> Flow:
    """Map one full ``flow.Flow`` message, as :func:`flow_from_narrow` maps its wire form."""
    return flow_from_narrow(
        NarrowFlow.FromString(flow.SerializeToString()),
        origin,
        fallback_time=fallback_time,
        fallback_node=fallback_node,
    )


def flow_from_narrow(
    flow: Any,
    origin: Origin,
    *,
    fallback_time: Timestamp | None = None,
    fallback_node: str = "",
    stamp: Timestamp | None = None,
) -> Flow:
    """Map one :data:`collectors.hubble.narrow.NarrowFlow`. ``fallback_*`` come from the
    ``GetFlowsResponse``; ``stamp`` is the flow's own ``time`` when the caller has read it
    already.

    Raises :class:`InputError` naming ``origin`` when the message cannot be a flow, and
    :class:`UnsupportedFlow` for one no policy can express (VRRP, IGMP, no L4 header).
    It runs once per streamed flow, so every field is read once (each read of a message
    attribute costs about as much as a dict lookup and a call).
    """
    has = flow.HasField
    l4 = flow.l4
    protocol_name = l4.WhichOneof("protocol")
    protocol = _PROTOCOLS.get(protocol_name) if protocol_name else None
    if protocol is None:
        if protocol_name is None:
            if has("IP"):
                raise UnsupportedFlow("no-l4")
            raise InputError(origin.source, origin.line, "flow has neither l4 nor IP fields")
        if protocol_name in _UNSUPPORTED_L4:
            raise UnsupportedFlow("unsupported-l4")
        raise InputError(origin.source, origin.line, f"unknown l4 protocol {protocol_name!r}")
    event_type = flow.event_type.type
    if flow.Type == _SOCK or flow.sock_xlate_point or event_type == _SOCK_EVENT_TYPE:
        raise UnsupportedFlow(SOCKET_TRANSLATION)
    if flow.debug_capture_point or event_type in _DEBUG_EVENT_TYPES:
        raise UnsupportedFlow(DEBUG_CAPTURE)
    verdict = flow.verdict
    if verdict == _DROPPED:
        reason = _drop_reason(flow)
        if reason is not None and reason not in POLICY_DROP_REASONS:
            raise UnsupportedFlow(DATAPATH_DROP)
    ports = getattr(l4, protocol_name)
    icmp_reply: bool | None = None
    if protocol in _PORTLESS:
        # ICMP: the type travels as the port (learner/icmp.py); type 0 is the v4 echo reply.
        port, source_port = ports.type, 0
        # An ICMP request or reply says what it is, whatever the other fields say.
        icmp_reply = reply_of_icmp(protocol, port)
    else:
        port = ports.destination_port
        source_port = ports.source_port

    if stamp is None:
        if has("time"):
            stamp = flow.time
        elif fallback_time is not None and (fallback_time.seconds or fallback_time.nanos):
            stamp = fallback_time
        else:
            raise InputError(origin.source, origin.line, "flow has no time")
    nanos = stamp.nanos
    time = stamp.seconds + nanos / 1e9 if nanos else float(stamp.seconds)

    dns_query = ""
    dns_answers: tuple[str, ...] = ()
    http = None
    l7_type = None
    if has("l7"):
        l7 = flow.l7
        l7_type = l7.type
        record = l7.WhichOneof("record")
        if l7_type == _L7_RESPONSE:
            if record == "dns":
                dns = l7.dns
                ips = dns.ips
                if ips:
                    dns_query = dns.query.rstrip(".").lower()
                    dns_answers = tuple(ips)
        elif l7_type == _L7_REQUEST:
            if record == "dns":
                dns_query = l7.dns.query.rstrip(".").lower()
            elif record == "http":
                request = l7.http
                if request.ListFields():
                    http = HTTPRequest(method=request.method, path=url_path(request.url))

    # The CNI's word on replies, in the file collector's order of trust (formats.md §2.4).
    if has("is_reply"):
        is_reply: bool | None = flow.is_reply.value
    elif flow.reply:
        is_reply = True
    else:
        is_reply = _REPLY_BY_TRACE_REASON.get(flow.trace_reason)
        if is_reply is None:
            if protocol_name == "TCP" and ports.HasField("flags") and ports.flags.SYN:
                is_reply = ports.flags.ACK
            elif l7_type is not None:
                is_reply = _REPLY_BY_L7_TYPE.get(l7_type)

    if icmp_reply is not None:
        is_reply = icmp_reply
    names = flow.destination_names
    source_ip, destination_ip = _addresses(flow.IP)
    try:
        source = _endpoint(flow.source, source_ip)
        destination = _endpoint(flow.destination, destination_ip)
    except InvalidName as error:
        raise InputError(origin.source, origin.line, str(error)) from error
    egress_allowed = flow.egress_allowed_by
    ingress_allowed = flow.ingress_allowed_by
    egress_denied = flow.egress_denied_by
    ingress_denied = flow.ingress_denied_by
    return Flow(
        time,
        source,
        destination,
        protocol,
        port,
        _VERDICTS.get(verdict, Verdict.UNKNOWN),
        _DIRECTIONS.get(flow.traffic_direction, Direction.UNKNOWN),
        is_reply,
        origin,
        source_port,
        tuple([name.rstrip(".").lower() for name in names]) if names else (),
        1,
        http,
        dns_query,
        flow.node_name or fallback_node,
        _policy_names(egress_allowed, ingress_allowed, egress_denied, ingress_denied)
        if egress_allowed or ingress_allowed or egress_denied or ingress_denied
        else (),
        dns_answers,
    )


def _drop_reason(flow: Any) -> str | int | None:
    """As :func:`collectors.hubble_events.drop_reason`, from the message."""
    if flow.drop_reason_desc:
        return str(flow_pb2.DropReason.Name(flow.drop_reason_desc))
    if flow.drop_reason:
        return int(flow.drop_reason)
    if flow.event_type.type == 1 and flow.event_type.sub_type:
        return int(flow.event_type.sub_type)
    return None
