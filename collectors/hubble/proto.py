"""Hubble protobuf ``flow.Flow`` messages → :class:`learner.model.Flow`, by attribute access.

The interpretation is exactly that of the file collector (:func:`collectors.hubble_file.
flow_from_json`): the same reply rules, verdicts, directions, ports, names and policies, so a
flow read from ``hubble observe -o jsonpb`` and the same flow received over gRPC become equal
values (their origins aside). It reads message attributes directly (no ``MessageToDict``), since
it runs once per streamed flow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from collectors._proto.flow import flow_pb2
from collectors.hubble.events import (
    DATAPATH_DROP,
    DEBUG_CAPTURE,
    POLICY_DROP_REASONS,
    SOCKET_TRANSLATION,
)
from collectors.hubble.file import UnsupportedFlow
from collectors.hubble.labels import make_endpoint
from collectors.hubble.values import icmp_reply as reply_of_icmp
from collectors.hubble.values import url_path
from collectors.k8snames import InvalidName
from learner.model.errors import InputError
from learner.model.flow import Direction, Endpoint, Flow, HTTPRequest, Origin, Protocol, Verdict

if TYPE_CHECKING:
    from google.protobuf.timestamp_pb2 import Timestamp

__all__ = ["UnsupportedFlow", "flow_from_proto", "timestamp_ns"]

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


def timestamp_ns(stamp: Timestamp) -> int:
    """A protobuf Timestamp as integer nanoseconds (exact, unlike a float)."""
    return int(stamp.seconds) * 1_000_000_000 + int(stamp.nanos)


def _endpoint(message: flow_pb2.Endpoint, ip: str) -> Endpoint:
    # Keyed by the sub-message's bytes: one call instead of eight field reads per endpoint.
    key = (message.SerializeToString(), ip)
    endpoint = _endpoint_cache.get(key)
    if endpoint is None:
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


def _policy_names(flow: flow_pb2.Flow) -> tuple[str, ...]:
    names: list[str] = []
    for policies in (
        flow.egress_allowed_by,
        flow.ingress_allowed_by,
        flow.egress_denied_by,
        flow.ingress_denied_by,
    ):
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
    """Map one ``flow.Flow`` message. ``fallback_*`` come from the ``GetFlowsResponse``.

    Raises :class:`InputError` naming ``origin`` when the message cannot be a flow, and
    :class:`UnsupportedFlow` for one no policy can express (VRRP, IGMP, no L4 header).
    """
    has = flow.HasField
    protocol_name = flow.l4.WhichOneof("protocol") if has("l4") else None
    protocol = _PROTOCOLS.get(protocol_name) if protocol_name else None
    if protocol is None:
        if protocol_name is None:
            if has("IP"):
                raise UnsupportedFlow("no-l4")
            raise InputError(origin.source, origin.line, "flow has neither l4 nor IP fields")
        if protocol_name in _UNSUPPORTED_L4:
            raise UnsupportedFlow("unsupported-l4")
        raise InputError(origin.source, origin.line, f"unknown l4 protocol {protocol_name!r}")
    if flow.Type == flow_pb2.SOCK or flow.sock_xlate_point or flow.event_type.type == 7:
        raise UnsupportedFlow(SOCKET_TRANSLATION)
    if flow.debug_capture_point or flow.event_type.type in _DEBUG_EVENT_TYPES:
        raise UnsupportedFlow(DEBUG_CAPTURE)
    if flow.verdict == flow_pb2.DROPPED:
        reason = _drop_reason(flow)
        if reason is not None and reason not in POLICY_DROP_REASONS:
            raise UnsupportedFlow(DATAPATH_DROP)
    ports = getattr(flow.l4, protocol.value)
    icmp_reply: bool | None = None
    if protocol.has_ports:
        port = ports.destination_port
        source_port = ports.source_port
    else:
        # ICMP: the type travels as the port (learner/icmp.py); type 0 is the v4 echo reply.
        port, source_port = ports.type, 0
        # An ICMP request or reply says what it is, whatever the other fields say.
        icmp_reply = reply_of_icmp(protocol, port)

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
        if l7_type == _L7_RESPONSE and l7.WhichOneof("record") == "dns" and l7.dns.ips:
            dns_query = l7.dns.query.rstrip(".")
            dns_answers = tuple(l7.dns.ips)
        elif l7_type == _L7_REQUEST:
            record = l7.WhichOneof("record")
            if record == "dns":
                dns_query = l7.dns.query.rstrip(".")
            elif record == "http" and l7.http.ListFields():
                http = HTTPRequest(method=l7.http.method, path=url_path(l7.http.url))

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
    addresses = flow.IP
    try:
        source = _endpoint(flow.source, addresses.source)
        destination = _endpoint(flow.destination, addresses.destination)
    except InvalidName as error:
        raise InputError(origin.source, origin.line, str(error)) from error
    return Flow(
        time,
        source,
        destination,
        protocol,
        port,
        _VERDICTS.get(flow.verdict, Verdict.UNKNOWN),
        _DIRECTIONS.get(flow.traffic_direction, Direction.UNKNOWN),
        is_reply,
        origin,
        source_port,
        tuple([name.rstrip(".") for name in names]) if names else (),
        1,
        http,
        dns_query,
        flow.node_name or fallback_node,
        _policy_names(flow) if _has_policies(flow) else (),
        dns_answers,
    )


def _drop_reason(flow: flow_pb2.Flow) -> str | int | None:
    """As :func:`collectors.hubble_events.drop_reason`, from the message."""
    if flow.drop_reason_desc:
        return str(flow_pb2.DropReason.Name(flow.drop_reason_desc))
    if flow.drop_reason:
        return int(flow.drop_reason)
    if flow.event_type.type == 1 and flow.event_type.sub_type:
        return int(flow.event_type.sub_type)
    return None


def _has_policies(flow: flow_pb2.Flow) -> bool:
    return bool(
        flow.egress_allowed_by
        or flow.ingress_allowed_by
        or flow.egress_denied_by
        or flow.ingress_denied_by
    )
