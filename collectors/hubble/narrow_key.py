"""The key of a streamed Hubble flow that may repeat an earlier one in all but its time: the
gRPC twin of :mod:`collectors.hubble.repeat_key` (which keys JSON lines).

:func:`narrow_repeat_key` reads a :data:`collectors.hubble.narrow.NarrowFlow` and keeps what
:func:`collectors.hubble.proto.flow_from_narrow`, normalisation and :meth:`EdgeStore.add` read,
except the time and the source port (and a flagged reply's destination port, the client's: the
reply is set aside whatever it is): the endpoints and addresses as the raw bytes the narrow
decode left them in, the rest as decoded values, a DNS response's answers among them (recording
the same answers for a name again adds nothing). Two flows with one key map to flows that
differ only in time, source port, uuid and, for a flagged reply, destination port. The source
port matters to normalisation only when ``is_reply`` is absent, so a flow without ``is_reply``
has no key; nor has anything the mapping treats apart: dropped and errored flows (sampled,
read for their drop reason), set-aside kinds (socket translation, debug capture), flows without
their own time or node name (the response's stands in), and unknown protocols.
A flow without a key is mapped on its own (tests/collectors/hubble/test_narrow_key.py checks
that both ways agree).
"""

from __future__ import annotations

from typing import Any

from collectors._proto.flow import flow_pb2

__all__ = ["narrow_repeat_key"]

_PROTOCOLS = frozenset({"TCP", "UDP", "SCTP", "ICMPv4", "ICMPv6"})
_ICMP = frozenset({"ICMPv4", "ICMPv6"})
_NO_KEY_VERDICTS = frozenset({flow_pb2.DROPPED, flow_pb2.ERROR})
_SOCK = flow_pb2.SOCK
_SET_ASIDE_EVENT_TYPES = frozenset({2, 3, 7})


def narrow_repeat_key(flow: Any) -> tuple[object, ...] | None:
    """The key of a ``NarrowFlow``, or None when it must be mapped on its own."""
    has = flow.HasField
    node = flow.node_name
    verdict = flow.verdict
    if (
        not node
        or verdict in _NO_KEY_VERDICTS
        or not has("is_reply")
        or not has("time")
        or flow.Type == _SOCK
        or flow.sock_xlate_point
        or flow.debug_capture_point
        or flow.event_type.type in _SET_ASIDE_EVENT_TYPES
    ):
        return None
    l4 = flow.l4
    protocol = l4.WhichOneof("protocol")
    if protocol not in _PROTOCOLS:
        return None
    ports = getattr(l4, protocol)
    if protocol in _ICMP:
        port = ports.type
    elif flow.is_reply.value:
        # Set aside as a reply whatever its port, the client's: new on every connection.
        port = None
    else:
        port = ports.destination_port
    l7_key: tuple[object, ...] | None = None
    if has("l7"):
        l7 = flow.l7
        record = l7.WhichOneof("record")
        if record == "dns":
            dns = l7.dns
            # A response's answers are recorded by name; the same answers again add nothing.
            l7_key = (l7.type, record, dns.query, tuple(dns.ips))
        elif record == "http":
            http = l7.http
            l7_key = (l7.type, record, http.method, http.url, not http.ListFields())
        else:
            l7_key = (l7.type, record)
    egress_allowed = flow.egress_allowed_by
    ingress_allowed = flow.ingress_allowed_by
    egress_denied = flow.egress_denied_by
    ingress_denied = flow.ingress_denied_by
    policies: tuple[object, ...] = ()
    if egress_allowed or ingress_allowed or egress_denied or ingress_denied:
        policies = tuple(
            tuple((policy.namespace, policy.name) for policy in group)
            for group in (egress_allowed, ingress_allowed, egress_denied, ingress_denied)
        )
    names = flow.destination_names
    return (
        flow.source,
        flow.destination,
        flow.IP,
        protocol,
        port,
        verdict,
        flow.traffic_direction,
        flow.is_reply.value,
        node,
        l7_key,
        tuple(names) if names else (),
        policies,
    )
