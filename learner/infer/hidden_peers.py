"""The policy peers standing for an end whose address Calico's aggregation hid."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from learner.infer.cidr import IPNetwork
from learner.infer.node_network import hidden_node_blocks
from learner.model.hidden import HIDDEN_MARK, HIDDEN_NODE, HIDDEN_PUBLIC, PRIVATE_RANGES
from learner.model.policy import CIDRPeer

CALICO_PRIVATE: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(t) for t in PRIVATE_RANGES)


def hidden_peers(hidden: str, cluster_cidrs: Sequence[IPNetwork]) -> tuple[list[CIDRPeer], str]:
    """The peers standing for a hidden end and the ``admits`` line saying what they allow."""
    if hidden == HIDDEN_PUBLIC:
        peers = []
        for everything in (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")):
            same_family = [c for c in cluster_cidrs if c.version == everything.version]
            private = [n for n in CALICO_PRIVATE if n.version == everything.version]
            excepted = ipaddress.collapse_addresses([*private, *same_family])  # type: ignore[type-var]
            peers.append(CIDRPeer(str(everything), tuple(str(n) for n in excepted)))
        what = "any public address (for Calico: any outside RFC 1918, link-local included)"
    elif hidden == HIDDEN_NODE:
        cidrs, admitted = hidden_node_blocks(())  # the baseline's: no --node-cidr
        return [CIDRPeer(cidr) for cidr in cidrs], admitted
    else:
        peers = _private_peers(cluster_cidrs)
        what = "any private address outside the cluster"
    return peers, (
        f"{HIDDEN_MARK}: allowed {what}; lower the aggregation level to learn narrower rules"
    )


def _private_peers(cluster_cidrs: Sequence[IPNetwork]) -> list[CIDRPeer]:
    peers = []
    for network in CALICO_PRIVATE:
        same_family = [c for c in cluster_cidrs if c.version == network.version]
        if any(_within(network, c) for c in same_family):
            continue  # the cluster owns the whole range
        inside = [str(c) for c in same_family if _within(c, network)]
        peers.append(CIDRPeer(str(network), tuple(inside)))
    return peers


def _within(inner: IPNetwork, outer: IPNetwork) -> bool:
    return (
        inner.version == outer.version
        and int(inner.network_address) >= int(outer.network_address)
        and int(inner.broadcast_address) <= int(outer.broadcast_address)
    )
