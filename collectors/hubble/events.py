"""What each kind of Hubble event means for learning (docs/records-and-identities.md has the
table for users).

Most Hubble events are packets seen at an observation point (``Type: L3_L4`` with a trace,
policy-verdict or drop ``event_type``) or L7 proxy records (``Type: L7``): those are a
connection or a reply, decided later from ``is_reply`` and friends. A few are something else
and must never become evidence for a rule:

* ``Type: SOCK`` (``event_type.type`` 7, ``sock_xlate_point`` set): the socket load balancer
  translating a service address at ``connect``/``sendmsg`` (FWD) or back at ``recvmsg`` (REV).
  The packets that follow carry the connection with its real destination; the trace itself is
  a translation to fold away, and its REV form has only a source port.
* debug captures (``debug_capture_point``, ``event_type.type`` 2/3): datapath debugging.
* ICMP messages other than requests: error messages (destination unreachable, time exceeded,
  ...) are about another exchange, echo replies are replies, neighbour discovery and multicast
  listener messages are link-local plumbing that no network policy governs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SOCKET_TRANSLATION = "socket translation trace"
DEBUG_CAPTURE = "debug capture"
DATAPATH_DROP = "dropped for a datapath reason, not by policy"

POLICY_DROP_REASONS = frozenset({"POLICY_DENIED", "POLICY_DENY", "AUTH_REQUIRED", 133, 181, 189})
"""Drop reasons that are a policy's decision (flow.proto ``DropReason``): no allow rule, an
explicit deny rule, a rule that requires authentication. Any other drop reason is the
datapath's (a stray packet after conntrack expired, an invalid source...), not an attempt a
policy refused."""
_DROP_EVENT_TYPE = 1

_SOCK_TYPES = ("SOCK", 3)
_DEBUG_EVENT_TYPES = (2, 3)
"""Cilium monitor message types 2 (debug) and 3 (capture)."""
_SOCK_EVENT_TYPE = 7
"""Cilium monitor message type 7, trace-sock."""


def set_aside_kind(flow: Mapping[str, Any]) -> str | None:
    """Why a Hubble flow (proto key names) is no connection at all, or None when it may be one."""
    if flow.get("Type") in _SOCK_TYPES or flow.get("sock_xlate_point"):
        return SOCKET_TRANSLATION
    if flow.get("debug_capture_point"):
        return DEBUG_CAPTURE
    event_type = flow.get("event_type")
    if type(event_type) is dict:
        kind = event_type.get("type")
        if kind == _SOCK_EVENT_TYPE:
            return SOCKET_TRANSLATION
        if kind in _DEBUG_EVENT_TYPES:
            return DEBUG_CAPTURE
    if flow.get("verdict") in ("DROPPED", 2):
        reason = drop_reason(flow)
        if reason is not None and reason not in POLICY_DROP_REASONS:
            return DATAPATH_DROP
    return None


def drop_reason(flow: Mapping[str, Any]) -> str | int | None:
    """The drop reason a dropped flow names, if any: ``drop_reason_desc``, else the deprecated
    ``drop_reason`` number, else the drop event's sub-type. None when none says."""
    reason = flow.get("drop_reason_desc")
    if reason and reason != "DROP_REASON_UNKNOWN":
        return reason if type(reason) is int else str(reason)
    number = flow.get("drop_reason")
    if number:
        return int(number)
    event_type = flow.get("event_type")
    if type(event_type) is dict and event_type.get("type") == _DROP_EVENT_TYPE:
        sub_type = event_type.get("sub_type")
        if sub_type:
            return int(sub_type)
    return None
