"""A streamed flow's repeat key must tell apart every two flows that map differently: flows
with one key are tallied from the first one's mapping, so what the key leaves out (time,
source port, uuid, a flagged reply's destination port) is all they may differ in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from collectors._proto.flow import flow_pb2
from collectors._proto.observer import observer_pb2
from collectors.hubble.narrow import NarrowResponse
from collectors.hubble.narrow_key import narrow_repeat_key
from collectors.hubble.proto import UnsupportedFlow, flow_from_narrow
from learner.model.errors import InputError
from learner.model.flow import Flow, Origin
from tests.hubble_server import HUBBLE_FIXTURES, load_responses

RESPONSES = load_responses(sorted(HUBBLE_FIXTURES.rglob("*.jsonl")), sort=False)


def _mapped(flow: Any) -> Flow | str:
    try:
        mapped = flow_from_narrow(flow, Origin("-"))
    except (UnsupportedFlow, InputError) as error:
        return type(error).__name__
    mapped = mapped._replace(time=0.0, source_port=0)
    if mapped.is_reply and mapped.protocol.has_ports:
        mapped = mapped._replace(port=0)  # the client's port: a reply is set aside whatever it is
    return mapped


def _wrap(full: flow_pb2.Flow) -> bytes:
    """``full`` as field 1 of a GetFlowsResponse."""
    return observer_pb2.GetFlowsResponse(flow=full).SerializeToString()


def test_flows_of_one_key_map_alike_in_every_fixture() -> None:
    by_key: dict[tuple[object, ...], Flow | str] = {}
    keyed = 0
    for response in RESPONSES:
        flow = NarrowResponse.FromString(response.SerializeToString()).flow
        key = narrow_repeat_key(flow)
        if key is None:
            continue
        keyed += 1
        mapped = _mapped(flow)
        assert by_key.setdefault(key, mapped) == mapped
    assert keyed > len(RESPONSES) // 2
    assert len(by_key) < keyed  # the captures repeat: a key that never did would be useless


def _set(path: str, value: object) -> Callable[[flow_pb2.Flow], None]:
    def change(flow: flow_pb2.Flow) -> None:
        *parents, name = path.split(".")
        target: Any = flow
        for parent in parents:
            target = getattr(target, parent)
        setattr(target, name, value)

    return change


def _append(path: str, value: object) -> Callable[[flow_pb2.Flow], None]:
    def change(flow: flow_pb2.Flow) -> None:
        target: Any = flow
        for parent in path.split("."):
            target = getattr(target, parent)
        if isinstance(value, str):
            target.append(value)
        else:
            target.add(**value)  # type: ignore[arg-type]

    return change


CHANGES: dict[str, Callable[[flow_pb2.Flow], None]] = {
    "verdict": _set("verdict", flow_pb2.AUDIT),
    "dropped": _set("verdict", flow_pb2.DROPPED),
    "port": _set("l4.TCP.destination_port", 8443),
    "source port": _set("l4.TCP.source_port", 40001),
    "flags": _set("l4.TCP.flags.SYN", True),
    "protocol": lambda flow: flow.l4.UDP.SetInParent(),
    "direction": _set("traffic_direction", flow_pb2.INGRESS),
    "reply": _set("is_reply.value", True),
    "no reply flag": lambda flow: flow.ClearField("is_reply"),
    "node": _set("node_name", "other-node"),
    "no node": _set("node_name", ""),
    "source pod": _set("source.pod_name", "other-pod"),
    "destination labels": _append("destination.labels", "k8s:extra=1"),
    "address": _set("IP.destination", "10.9.9.9"),
    "names": _append("destination_names", "api.example.com."),
    "policy": _append("egress_allowed_by", {"name": "allow-web", "namespace": "shop"}),
    "http url": lambda flow: (
        setattr(flow.l7, "type", flow_pb2.REQUEST),
        setattr(flow.l7.http, "url", "http://web/other"),
    ),
    "dns query": lambda flow: (
        setattr(flow.l7, "type", flow_pb2.REQUEST),
        setattr(flow.l7.dns, "query", "other.example.com."),
    ),
    "dns answer": lambda flow: (
        setattr(flow.l7, "type", flow_pb2.RESPONSE),
        flow.l7.dns.ips.append("10.1.1.1"),
    ),
    "socket translation": _set("sock_xlate_point", flow_pb2.SOCK_XLATE_POINT_POST_DIRECTION_FWD),
    "debug capture": _set("event_type.type", 2),
    "time": _set("time.nanos", 123),
    "uuid": _set("uuid", "another-uuid"),
}
KEPT = {"time", "uuid", "source port", "flags"}
"""Changes the key must not see (the flows are tallied together)."""


def _tcp_request() -> flow_pb2.Flow:
    for response in RESPONSES:
        flow = response.flow
        if (
            flow.l4.WhichOneof("protocol") == "TCP"
            and flow.HasField("is_reply")
            and not flow.is_reply.value
            and flow.node_name
            and flow.verdict == flow_pb2.FORWARDED
            and not flow.destination_names
        ):
            return flow
    raise AssertionError("no TCP request in the fixtures")


def changed_request(change: str) -> tuple[flow_pb2.Flow, flow_pb2.Flow]:
    """A captured TCP request, and a copy with ``CHANGES[change]`` made to it."""
    base = _tcp_request()
    changed = flow_pb2.Flow()
    changed.CopyFrom(base)
    CHANGES[change](changed)
    return base, changed


def test_dns_answers_are_keyed_by_their_addresses() -> None:
    """The same answers for a name again add nothing; other answers are another key."""
    response = flow_pb2.Flow()
    response.CopyFrom(_tcp_request())
    response.l7.type = flow_pb2.RESPONSE
    response.l7.dns.query = "api.example.com."

    def key(*ips: str) -> object:
        del response.l7.dns.ips[:]
        response.l7.dns.ips.extend(ips)
        return narrow_repeat_key(NarrowResponse.FromString(_wrap(response)).flow)

    first = key("192.0.2.1", "192.0.2.2")
    assert first is not None and key("192.0.2.1", "192.0.2.2") == first
    assert key("192.0.2.1") != first and key("192.0.2.2", "192.0.2.1") != first


def assert_replies_share_a_key(key_of: Callable[[bytes], object]) -> None:
    """Flagged replies to other client ports have one key (``key_of`` a response's bytes); the
    same flow not flagged has another."""
    reply = flow_pb2.Flow()
    reply.CopyFrom(_tcp_request())
    reply.is_reply.value = True
    keys = set()
    for port in (40000, 51234, 65535):
        reply.l4.TCP.destination_port = port
        keys.add(key_of(_wrap(reply)))
    assert len(keys) == 1 and None not in keys
    reply.is_reply.value = False
    assert key_of(_wrap(reply)) not in keys


def test_replies_to_other_client_ports_share_a_key() -> None:
    """A reply goes to the client's port, new on every connection; as a key it would make
    every reply its own."""
    assert_replies_share_a_key(lambda body: narrow_repeat_key(NarrowResponse.FromString(body).flow))


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_the_mapping_sees_changes_the_key(change: str) -> None:
    base, changed = changed_request(change)
    before = NarrowResponse.FromString(_wrap(base)).flow
    after = NarrowResponse.FromString(_wrap(changed)).flow
    key_before, key_after = narrow_repeat_key(before), narrow_repeat_key(after)
    assert key_before is not None
    if change in KEPT:
        assert key_after == key_before
        assert _mapped(after) == _mapped(before)
    else:
        assert key_after != key_before
    if key_after == key_before:
        assert _mapped(after) == _mapped(before)
