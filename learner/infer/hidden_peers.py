"""The policy peers standing for an end whose address Calico's aggregation hid."""

from __future__ import annotations

from collections.abc import Sequence

from learner.infer.cidr import PRIVATE_RANGES, IPNetwork, internet_blocks
from learner.model.hidden import HIDDEN_MARK, HIDDEN_PUBLIC
from learner.model.policy import CIDRPeer


def hidden_peers(hidden: str, cluster_cidrs: Sequence[IPNetwork]) -> tuple[list[CIDRPeer], str]:
    """The peers standing for a hidden end and the ``admits`` line saying what they allow."""
    if hidden == HIDDEN_PUBLIC:
        blocks = [internet_blocks(version, cluster_cidrs) for version in (4, 6)]
        peers = [CIDRPeer(b.cidr, b.excepts) for b in blocks]
        what = "any public address"
    else:
        peers = []
        for network in PRIVATE_RANGES[4] + PRIVATE_RANGES[6]:
            same_family = [c for c in cluster_cidrs if c.version == network.version]
            if any(_within(network, c) for c in same_family):
                continue  # the cluster owns the whole range
            inside = [str(c) for c in same_family if _within(c, network)]
            peers.append(CIDRPeer(str(network), tuple(inside)))
        what = "any private address outside the cluster"
    return peers, (
        f"{HIDDEN_MARK}: allowed {what}; lower the aggregation level to learn narrower rules"
    )


def _within(inner: IPNetwork, outer: IPNetwork) -> bool:
    return (
        inner.version == outer.version
        and int(inner.network_address) >= int(outer.network_address)
        and int(inner.broadcast_address) <= int(outer.broadcast_address)
    )
