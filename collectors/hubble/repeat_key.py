"""The key of a Hubble line that may repeat an earlier one in all but its time.

:func:`repeat_key` decodes only what tells two flows apart for learning and keeps the big
parts that recur (the two endpoints, the addresses) as their raw bytes. Two lines with one key
map to flows that differ only in time, source port and line number: every other field that
:func:`collectors.hubble.file._map_flow`, normalisation and :meth:`EdgeStore.add` read is in
the key, either as its raw bytes or as its decoded value. The source port only matters to
normalisation when ``is_reply`` is absent, and TCP flags only to the reply guess then too, so
a line without a boolean ``is_reply`` has no key; nor has anything the mapping treats apart
(dropped or errored flows, set-aside kinds, DNS answers, lowerCamelCase keys, a wrapper's
time or node standing in for the flow's). Any value of an unexpected type fails the typed
decode: no key. A line without a key is mapped on its own, as before
(tests/collectors/hubble/test_repeat_key.py checks both ways agree).

Fields read, and where they are in the key:

* ``source``, ``destination``, ``IP``, ``destination_names``, the four ``*_allowed_by`` and
  ``*_denied_by`` lists: raw bytes;
* ``l4``: the protocol's name and ``destination_port`` (``type`` for ICMP); ``source_port``
  is decoded (an int, or no key) but left out; ``flags`` is not read. A TCP, UDP or SCTP flow
  flagged ``is_reply: true`` is set aside as a reply whatever its port (the client's ephemeral
  port, new on every connection), so its key says only that the port is a valid one;
* ``verdict``, ``traffic_direction``, ``is_reply``, ``node_name``: their values;
* ``l7``: ``type``, ``dns.query`` and a response's ``ips`` (raw: recording the same answers
  for a name again adds nothing), ``http.method`` and the path of ``http.url``;
* ``Type``, ``sock_xlate_point``, ``debug_capture_point``, ``event_type.type``: only checked,
  so that a set-aside kind has no key; the reply fallbacks (``reply``, ``trace_reason``)
  are read only without ``is_reply``;
* ``time``: returned beside the key.
"""

from __future__ import annotations

from sys import intern
from typing import Any

import msgspec

from collectors.hubble.values import url_path

__all__ = ["repeat_key"]

_RAW_NONE = msgspec.Raw(b"")


class _Flags(msgspec.Struct):
    SYN: Any = None
    ACK: Any = None


class _Ports(msgspec.Struct):
    source_port: int = 0
    destination_port: int | str | None = None
    type: int | str | None = None
    flags: _Flags | None = None


class _DNS(msgspec.Struct):
    query: str | None = None
    ips: msgspec.Raw = _RAW_NONE


class _HTTP(msgspec.Struct):
    method: str | None = None
    url: str | None = None


class _Layer7(msgspec.Struct):
    type: str | int | None = None
    dns: _DNS | None = None
    http: _HTTP | None = None


class _EventType(msgspec.Struct):
    type: Any = None


class _Flow(msgspec.Struct):
    node_name: str | None | msgspec.UnsetType = msgspec.UNSET
    time: str | None = None
    verdict: str | int | None = None
    IP: msgspec.Raw = _RAW_NONE
    l4: dict[str, _Ports | None] | None = None
    source: msgspec.Raw = _RAW_NONE
    destination: msgspec.Raw = _RAW_NONE
    destination_names: msgspec.Raw = _RAW_NONE
    l7: _Layer7 | None = None
    traffic_direction: str | int | None = None
    is_reply: bool | None = None
    reply: Any = None
    trace_reason: str | int | None = None
    egress_allowed_by: msgspec.Raw = _RAW_NONE
    ingress_allowed_by: msgspec.Raw = _RAW_NONE
    egress_denied_by: msgspec.Raw = _RAW_NONE
    ingress_denied_by: msgspec.Raw = _RAW_NONE
    Type: Any = None
    sock_xlate_point: Any = None
    debug_capture_point: Any = None
    event_type: _EventType | None = None


class _Record(msgspec.Struct):
    flow: _Flow | None = None


_decode = msgspec.json.Decoder(_Record).decode

_PROTOCOLS = frozenset({"TCP", "UDP", "SCTP", "ICMPv4", "ICMPv6"})
_PORTED = frozenset({"TCP", "UDP", "SCTP"})
_NO_KEY_VERDICTS = ("DROPPED", 2, "ERROR", 3)
"""Dropped flows are read for their drop reason and sampled, errored ones sampled."""
_SOCK_TYPES = ("SOCK", 3)
_SET_ASIDE_EVENT_TYPES = (2, 3, 7)
_EPHEMERAL_PORT_FLOOR = 32768
"""As learner.ingest.normalize.EPHEMERAL_PORT_FLOOR (collectors do not import learner.ingest)."""

_JOIN = b"\x00".join
"""Raw JSON values never hold a NUL byte (control characters are escaped inside strings), so
joined with it they stay apart."""

_ENDPOINTS_KEPT = 1 << 14
_endpoints: dict[bytes, bytes] = {}
"""One bytes object per distinct raw endpoint. The repeat table holds up to
learner.model.repeats.ENTRY_LIMIT keys; an endpoint's JSON is most of a line (~600 bytes of
labels), and keys holding a copy each took ~90 MB when lines seldom repeat."""


def _shared(raw: msgspec.Raw) -> bytes:
    value = bytes(raw)
    kept = _endpoints.get(value)
    if kept is None:
        if len(_endpoints) >= _ENDPOINTS_KEPT:
            _endpoints.clear()  # keys already made keep theirs: equal values, no longer shared
        _endpoints[value] = kept = value
    return kept


class _AnyPort:
    """In a flagged reply's key, any port the mapping reads as one: no decoded value equals it."""

    __slots__ = ()


_ANY_PORT = _AnyPort()


def _is_port(value: object) -> bool:
    return type(value) is int and 0 <= value <= 65535


def repeat_key(line: str | bytes) -> tuple[tuple[object, ...], str] | None:
    """The key of ``line`` and its time, or None when the line must be mapped on its own."""
    try:
        flow = _decode(line).flow
    except (msgspec.DecodeError, UnicodeError):
        return None
    if flow is None:
        return None
    node = flow.node_name
    stamp = flow.time
    is_reply = flow.is_reply
    verdict = flow.verdict
    l4 = flow.l4
    if (
        not node
        or type(node) is not str
        or not stamp
        or verdict in _NO_KEY_VERDICTS
        or not l4
        or len(l4) != 1
        or flow.Type in _SOCK_TYPES
        or flow.sock_xlate_point
        or flow.debug_capture_point
    ):
        return None
    event_type = flow.event_type
    if event_type is not None and event_type.type in _SET_ASIDE_EVENT_TYPES:
        return None
    ((protocol, ports),) = l4.items()
    if protocol not in _PROTOCOLS:
        return None
    port: tuple[object, object] | None = None
    if ports is not None:
        port = (ports.destination_port, ports.type)
        if is_reply is True and protocol in _PORTED and _is_port(ports.destination_port):
            # A flagged reply is set aside whatever its port, the client's: new on every
            # connection, it would make every reply its own key.
            port = (_ANY_PORT, ports.type)
    l7 = flow.l7
    l7_key: tuple[object, ...] | None = None
    if l7 is not None:
        dns, http = l7.dns, l7.http
        l7_key = (
            l7.type,
            None if dns is None else (dns.query, bytes(dns.ips)),
            # The mapping keeps the path only: query strings would multiply keys.
            None if http is None else (http.method, url_path(http.url or "")),
        )
    reply: object = is_reply
    if is_reply is None:
        # What the reply guesses read (file._unflagged_reply, normalize.is_probable_reply).
        flags = None if ports is None else ports.flags
        source_port = 0 if ports is None else ports.source_port
        reply = (
            flow.reply is True,
            flow.trace_reason,
            None if flags is None else (bool(flags.SYN), bool(flags.ACK)),
            0 < source_port < _EPHEMERAL_PORT_FLOOR,
        )
    rest = _JOIN(
        (
            flow.IP,
            flow.destination_names,
            flow.egress_allowed_by,
            flow.ingress_allowed_by,
            flow.egress_denied_by,
            flow.ingress_denied_by,
        )
    )
    direction = flow.traffic_direction
    # The few distinct short strings are interned: the table holds many keys.
    key = (
        _shared(flow.source),
        _shared(flow.destination),
        rest,
        intern(protocol),
        port,
        intern(verdict) if type(verdict) is str else verdict,
        intern(direction) if type(direction) is str else direction,
        reply,
        intern(node),
        l7_key,
    )
    return key, stamp
