"""Peers whose address Calico's flow-log aggregation hid.

At ``flowLogsFileAggregationKindForAllowed: 2`` (Calico's default) a client or server outside
the cluster is written as type ``net`` named ``pub`` or ``pvt`` with no address. Such an end
stands for "some public address" or "some private address outside the cluster": the only rule
that keeps the observed traffic working allows that whole space, and the report says so.
"""

from __future__ import annotations

from typing import Protocol

from learner.model.flow import Endpoint, EndpointKind

PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
"""What Felix names ``pvt``: the RFC 1918 ranges, IPv4 only. Everything else it does not know
is ``pub`` - link-local (the cloud's DNS and metadata at 169.254.169.254, NodeLocal DNSCache),
CGNAT and every IPv6 address included - so the stand-ins must cover exactly that."""

HIDDEN_PUBLIC = "hidden:pub"
HIDDEN_PRIVATE = "hidden:pvt"
HIDDEN_NODE = "hidden:node"
"""A host endpoint (``hep``, a node) whose address the aggregation hid: at level 2, and always in
Goldmane's flows, Calico names the node but gives no address."""
HIDDEN_ADDRESSES = frozenset({HIDDEN_PUBLIC, HIDDEN_PRIVATE, HIDDEN_NODE})
"""Stand-ins an identity carries in place of the address Calico did not write."""

HIDDEN_MARK = "addresses hidden by Calico flow-log aggregation"

_NETWORK_NAMES = {"pub": HIDDEN_PUBLIC, "pvt": HIDDEN_PRIVATE}


def hidden_address(endpoint: Endpoint) -> str:
    """The stand-in for an address-less Calico ``pub``/``pvt`` network or host endpoint end,
    else ``""``."""
    if endpoint.ip:
        return ""
    if endpoint.kind == EndpointKind.HOST and endpoint.workload_kind == "HostEndpoint":
        return HIDDEN_NODE
    if endpoint.kind != EndpointKind.WORLD:
        return ""
    if endpoint.workload_kind != "Network":
        return ""
    return _NETWORK_NAMES.get(endpoint.workload_name, "")


class _Addressed(Protocol):
    @property
    def address(self) -> str: ...


def has_hidden_end(source: _Addressed, destination: _Addressed) -> bool:
    """Whether one end of an edge is an address Calico's aggregation hid: such an edge is
    allowed by the whole hidden space and cannot be judged against any one address."""
    return source.address in HIDDEN_ADDRESSES or destination.address in HIDDEN_ADDRESSES
