"""The key of a streamed flow read off its wire bytes must never be coarser than the narrow
key: two flows with one wire key are tallied (or cloned) from the first one's mapping."""

from __future__ import annotations

import random
import shutil
import struct
from typing import Any

import pytest
from google.protobuf.message import DecodeError

from collectors._proto.flow import flow_pb2
from collectors._proto.observer import observer_pb2
from collectors.hubble.narrow import NarrowFlow, NarrowResponse
from collectors.hubble.narrow_key import narrow_repeat_key
from collectors.hubble.wire_key import BUILT, flow_key, kept_fields
from tests.collectors.hubble.test_narrow_key import (
    CHANGES,
    KEPT,
    RESPONSES,
    _mapped,
    _tcp_request,
    assert_replies_share_a_key,
    changed_request,
)
from tests.collectors.hubble.test_narrow_key import (
    _wrap as wire,
)
from tests.hubble_server import field, varint

needs_wire_key = pytest.mark.skipif(not BUILT, reason="the wire key was not built (no compiler)")

REWRITTEN = {1, 6, 15, 34}
"""time, l4, l7 and uuid: read, but not kept as they are on the wire."""


def key_of(body: bytes) -> bytes | None:
    found = flow_key(body)
    return None if found is None else found[0]


def narrow(body: bytes) -> tuple[object, Any]:
    flow = NarrowResponse.FromString(body).flow
    return narrow_repeat_key(flow), _mapped(flow)


def assert_never_coarser(bodies: list[bytes]) -> int:
    """Every wire key stands for one narrow key and, when that is not None, one mapping (a
    wire key is bound to a tally only through a narrow key); the number of wire keys."""
    by_key: dict[bytes, tuple[object, Any]] = {}
    for body in bodies:
        key = key_of(body)
        if key is None:
            continue
        narrow_key, mapped = narrow(body)
        first_key, first_mapped = by_key.setdefault(key, (narrow_key, mapped))
        assert narrow_key == first_key
        if narrow_key is not None:
            assert mapped == first_mapped
    return len(by_key)


def test_the_wire_key_is_built_wherever_a_c_compiler_is() -> None:
    """Optional at install like the line scanner: where a compiler exists, a wire key that
    failed to build is a broken build, not a slower stream."""
    if shutil.which("cc") or shutil.which("gcc"):
        assert BUILT


@needs_wire_key
def test_every_field_the_narrow_decode_reads_is_kept_or_rewritten() -> None:
    read = {field.number for field in NarrowFlow.DESCRIPTOR.fields}
    assert set(kept_fields()) | REWRITTEN == read
    assert not set(kept_fields()) & REWRITTEN


@needs_wire_key
def test_flows_of_one_wire_key_have_one_narrow_key_in_every_fixture() -> None:
    bodies = [response.SerializeToString() for response in RESPONSES]
    keys = assert_never_coarser(bodies)
    assert keys < sum(key_of(body) is not None for body in bodies)  # and the captures repeat


@needs_wire_key
def test_the_time_is_the_flows() -> None:
    flow = flow_pb2.Flow()
    flow.CopyFrom(_tcp_request())
    for seconds, nanos in ((1_767_225_600, 999_999_999), (-5, 3), (0, 0)):
        flow.time.seconds, flow.time.nanos = seconds, nanos
        found = flow_key(wire(flow))
        assert found is not None and found[1:] == (seconds, nanos)


@needs_wire_key
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_the_mapping_sees_changes_the_wire_key(change: str) -> None:
    base, changed = changed_request(change)
    before, after = key_of(wire(base)), key_of(wire(changed))
    assert before is not None
    if change in KEPT:
        assert after == before
    if after == before:
        assert narrow(wire(changed)) == narrow(wire(base))
    elif change not in KEPT:
        assert narrow(wire(changed))[0] != narrow(wire(base))[0]  # as coarse, where it can be


PER_REQUEST = {
    "latency": lambda flow: setattr(flow.l7, "latency_ns", 12_345),
    "dns ttl": lambda flow: setattr(flow.l7.dns, "ttl", 30),
    "http code": lambda flow: setattr(flow.l7.http, "code", 503),
    "http header": lambda flow: flow.l7.http.headers.add(key="x-request-id", value="f00"),
    "trace context": lambda flow: setattr(flow.trace_context.parent, "trace_id", "abc"),
    "summary": lambda flow: setattr(flow, "Summary", "TCP Flags: ACK"),
    "socket cookie": lambda flow: setattr(flow, "socket_cookie", 77),
}


@needs_wire_key
@pytest.mark.parametrize("change", sorted(PER_REQUEST))
def test_values_new_on_every_request_are_left_out(change: str) -> None:
    base = flow_pb2.Flow()
    base.CopyFrom(_tcp_request())
    base.l7.type = flow_pb2.REQUEST
    if change.startswith("dns"):
        base.l7.dns.query = "api.example.com."
    else:
        base.l7.http.url = "http://web/api"
        base.l7.http.code = 200
    changed = flow_pb2.Flow()
    changed.CopyFrom(base)
    PER_REQUEST[change](changed)
    assert key_of(wire(changed)) == key_of(wire(base)) is not None
    assert narrow(wire(changed)) == narrow(wire(base))


@needs_wire_key
def test_an_http_record_with_no_field_is_not_one_with_only_a_code() -> None:
    """The mapping reads an HTTP request only when the record has a field: a code or a header
    must keep the key apart from an empty record even though their values are left out."""
    base = flow_pb2.Flow()
    base.CopyFrom(_tcp_request())
    base.l7.type = flow_pb2.REQUEST
    base.l7.http.SetInParent()
    coded = flow_pb2.Flow()
    coded.CopyFrom(base)
    coded.l7.http.code = 200
    headed = flow_pb2.Flow()
    headed.CopyFrom(base)
    headed.l7.http.headers.add(key="a", value="b")
    keys = {key_of(wire(flow)) for flow in (base, coded, headed)}
    assert key_of(wire(base)) not in {key_of(wire(coded)), key_of(wire(headed))}
    assert None not in keys
    assert narrow(wire(base))[0] != narrow(wire(coded))[0]


@needs_wire_key
def test_a_flagged_reply_is_keyed_without_its_clients_port() -> None:
    assert_replies_share_a_key(key_of)


@needs_wire_key
def test_what_it_cannot_key_is_read_in_full() -> None:
    flow = _tcp_request().SerializeToString()
    status = observer_pb2.GetFlowsResponse(node_status={"message": "up"}).SerializeToString()
    no_time = flow_pb2.Flow()
    no_time.CopyFrom(_tcp_request())
    no_time.ClearField("time")
    assert flow_key(status) is None
    assert flow_key(b"\x0a" + struct.pack("B", 0x80) + b"\x01" + flow + flow) is None
    assert flow_key(wire(no_time)) is None
    assert flow_key(wire(_tcp_request())[:-3]) is None  # cut short
    assert flow_key(field(1, 2, field(5, 3, b""))) is None  # a group
    assert flow_key(b"") is None


@needs_wire_key
def test_changes_in_any_combination_never_merge_two_mappings() -> None:
    """Random combinations of the changes above (what the mapping sees and what it does not)
    on every kind of captured flow: whatever two flows share a wire key map alike."""
    rng = random.Random(13)
    bases = [response.flow for response in RESPONSES if response.HasField("flow")]
    changes = {**CHANGES, **PER_REQUEST}
    names = sorted(changes)
    bodies = []
    for _ in range(3000):
        flow = flow_pb2.Flow()
        flow.CopyFrom(rng.choice(bases))
        for name in rng.sample(names, rng.randint(0, 4)):
            changes[name](flow)
        bodies.append(wire(flow))
    assert assert_never_coarser(bodies) > 100


@needs_wire_key
def test_mangled_bytes_never_crash_it_and_never_merge_two_mappings() -> None:
    rng = random.Random(5)
    bodies = [response.SerializeToString() for response in RESPONSES[:300]]
    mangled = []
    for _ in range(20_000):
        body = bytearray(rng.choice(bodies))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(body))
            body[at] = rng.randrange(256) if rng.random() < 0.8 else body[at] ^ 1
        mangled.append(bytes(body))
    decodable = []
    for body in mangled:
        found = flow_key(body)
        if found is None:
            continue
        try:
            narrow(body)
        except Exception:  # noqa: BLE001 - the full reader reports these; here only keys matter
            continue
        decodable.append(body)
    assert assert_never_coarser(decodable) > 0


def _http_flow(*records: bytes) -> bytes:
    """A request flow whose l7 holds the HTTP ``records`` as written (wire bytes)."""
    base = flow_pb2.Flow()
    base.CopyFrom(_tcp_request())
    base.ClearField("l7")
    l7 = field(1, 0, varint(flow_pb2.REQUEST))
    l7 += b"".join(field(101, 2, record) for record in records)
    return field(1, 2, base.SerializeToString() + field(15, 2, l7))


@needs_wire_key
def test_the_http_record_has_a_field_as_the_parser_reads_it() -> None:
    """Found in review: the key ORed every code it saw, where the parser keeps the last one
    (cut to 32 bits), so a record the mapping reads as empty shared a key with one it does not;
    and two records are merged by the parser, so they are read in full."""
    code_200 = field(1, 0, varint(200))
    code_0 = field(1, 0, varint(0))
    code_2_32 = field(1, 0, varint(1 << 32))
    bodies = [
        _http_flow(code_200),
        _http_flow(code_200 + code_0),
        _http_flow(code_2_32),
        _http_flow(b""),
    ]
    assert assert_never_coarser(bodies) == 2
    assert key_of(_http_flow(code_200 + code_0)) == key_of(_http_flow(b""))
    assert flow_key(_http_flow(code_200, code_0)) is None


@needs_wire_key
@pytest.mark.parametrize(
    "corrupt",
    ["uuid", "tcp flags", "http header", "node name"],
)
def test_a_value_the_key_leaves_out_but_the_parser_rejects_is_read_in_full(corrupt: str) -> None:
    """Found in review: such a flow got the key of the good one and was counted as its repeat,
    though reading it says it is a bad record."""
    flow = flow_pb2.Flow()
    flow.CopyFrom(_tcp_request())
    good = flow.SerializeToString()
    if corrupt == "uuid":
        body = field(1, 2, good + field(34, 2, b"\xff\xfe"))
    elif corrupt == "tcp flags":
        flow.ClearField("l4")
        tcp = field(2, 0, varint(8080)) + field(3, 2, b"\x08")
        body = field(1, 2, flow.SerializeToString() + field(6, 2, field(1, 2, tcp)))
    elif corrupt == "http header":
        header = field(5, 2, field(1, 2, b"x-\xc0\xaf"))
        body = _http_flow(field(3, 2, b"http://web/") + header)
    else:
        body = field(1, 2, good) + field(1000, 2, b"node-\xed\xa0\x80")
    assert flow_key(body) is None
    with pytest.raises(DecodeError):
        NarrowResponse.FromString(body)
