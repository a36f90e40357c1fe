"""ICMP messages as what they are (RFC 792 and RFC 4443 type numbers).

A request (echo, timestamp...) starts an exchange and is a connection a policy may allow. A
reply answers one, like any reply. An error message (destination unreachable, time exceeded,
packet too big, parameter problem...) is sent *about* another exchange, usually a UDP or TCP
one: stateful policy engines let it through as related traffic, and it is never a rule.
Neighbour discovery and multicast listener messages are link-local plumbing no network policy
governs.

In a :class:`~learner.model.Flow` the ICMP type travels in ``port`` (ICMP has no ports);
0 means "type not recorded" (Calico records none; type 0, the ICMPv4 echo reply, is a reply
and is marked as one by the collector that sees it).
"""

from __future__ import annotations

from enum import StrEnum

from learner.model.flow import Protocol

ECHO_REQUEST = {Protocol.ICMPV4: 8, Protocol.ICMPV6: 128}
ECHO_REPLY = {Protocol.ICMPV4: 0, Protocol.ICMPV6: 129}


class ICMPKind(StrEnum):
    REQUEST = "request"
    REPLY = "reply"
    ERROR = "error"
    LINK_LOCAL = "link-local"
    UNKNOWN = "unknown"
    """Type not recorded: treated as a request, as the source cannot tell."""


_V4: dict[int, ICMPKind] = {
    0: ICMPKind.REPLY,  # echo reply
    3: ICMPKind.ERROR,  # destination unreachable
    4: ICMPKind.ERROR,  # source quench
    5: ICMPKind.ERROR,  # redirect
    8: ICMPKind.REQUEST,  # echo
    9: ICMPKind.LINK_LOCAL,  # router advertisement
    10: ICMPKind.LINK_LOCAL,  # router solicitation
    11: ICMPKind.ERROR,  # time exceeded
    12: ICMPKind.ERROR,  # parameter problem
    13: ICMPKind.REQUEST,  # timestamp
    14: ICMPKind.REPLY,  # timestamp reply
    15: ICMPKind.REQUEST,  # information request
    16: ICMPKind.REPLY,  # information reply
    17: ICMPKind.REQUEST,  # address mask request
    18: ICMPKind.REPLY,  # address mask reply
}
_V6: dict[int, ICMPKind] = {
    1: ICMPKind.ERROR,  # destination unreachable
    2: ICMPKind.ERROR,  # packet too big
    3: ICMPKind.ERROR,  # time exceeded
    4: ICMPKind.ERROR,  # parameter problem
    128: ICMPKind.REQUEST,  # echo request
    129: ICMPKind.REPLY,  # echo reply
    130: ICMPKind.LINK_LOCAL,  # multicast listener query
    131: ICMPKind.LINK_LOCAL,  # multicast listener report
    132: ICMPKind.LINK_LOCAL,  # multicast listener done
    133: ICMPKind.LINK_LOCAL,  # router solicitation
    134: ICMPKind.LINK_LOCAL,  # router advertisement
    135: ICMPKind.LINK_LOCAL,  # neighbour solicitation
    136: ICMPKind.LINK_LOCAL,  # neighbour advertisement
    137: ICMPKind.LINK_LOCAL,  # redirect
    143: ICMPKind.LINK_LOCAL,  # multicast listener report v2
}


def icmp_kind(protocol: Protocol, icmp_type: int) -> ICMPKind:
    """What an ICMP message of ``icmp_type`` is; ``icmp_type`` 0 for ICMPv6 or unrecorded v4
    types are :attr:`ICMPKind.UNKNOWN` unless the table knows them."""
    if protocol is Protocol.ICMPV4:
        if icmp_type == 0:
            return ICMPKind.UNKNOWN  # see the module docstring: 0 is "not recorded" here
        return _V4.get(icmp_type, ICMPKind.UNKNOWN)
    if protocol is Protocol.ICMPV6:
        if icmp_type == 0:
            return ICMPKind.UNKNOWN
        return _V6.get(icmp_type, ICMPKind.UNKNOWN)
    raise ValueError(f"{protocol} is not ICMP")


def is_echo_reply(protocol: Protocol, icmp_type: int) -> bool:
    return ECHO_REPLY.get(protocol) == icmp_type
