"""The addresses a rule to or from nodes is written with, where nodes have no selector.

Nodes come and go: the cluster autoscaler adds them, node-pool upgrades and repairs replace
them, and each new node takes a new address from the node subnet. A rule listing only the
nodes seen (Prometheus scraping the kubelet or node-exporter, a NodePort or LoadBalancer
Service whose clients arrive from node addresses) would deny the next node. So the blocks are
the node network: the ``--node-cidr`` ranges when given, else each group of nodes seen widened
to its /16 (IPv4) or /64 (IPv6), the usual size of a cloud network or subnet, but never as far
as the cluster's pod or service ranges, and only inside the group's own special range (RFC
1918, CGNAT ...): nodes with public addresses keep the blocks seen. Every widening is said in
the rule's ``admits``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from learner.infer.cidr import IPNetwork, aggregate, category, parse_address
from learner.model.infra import NODE_NETWORK_MARK

NODE_NETWORK_PREFIX = {4: 16, 6: 64}
"""How far node addresses are widened without ``--node-cidr``."""


def node_blocks(
    addresses: Iterable[str],
    *,
    waste: float,
    cluster_cidrs: Sequence[IPNetwork],
    node_cidrs: Sequence[IPNetwork],
) -> tuple[tuple[str, ...], list[str]]:
    """The CIDRs standing for the nodes at ``addresses``, and what they admit beyond them."""
    seen = sorted(set(addresses))
    outside = [a for a in seen if not _inside(a, node_cidrs)]
    blocks = aggregate(outside, waste=waste)
    cidrs: list[IPNetwork] = list(node_cidrs)
    admits: list[str] = []
    for block in blocks:
        network = _widened(block.network, cluster_cidrs)
        count = sum(1 for a in outside if _inside(a, (network,)))
        if network != block.network:
            admits.append(
                f"{network}{NODE_NETWORK_MARK} around the {_nodes(count)} seen, so that nodes "
                "added later are reached (--node-cidr gives the exact range)"
            )
        cidrs.append(network)
    if node_cidrs and seen:
        given = ", ".join(str(n) for n in node_cidrs)
        admits.append(f"{given}{NODE_NETWORK_MARK} (--node-cidr), {_nodes(len(seen))} seen")
    return tuple(str(n) for n in _collapsed(cidrs)), admits


def _widened(network: IPNetwork, cluster_cidrs: Sequence[IPNetwork]) -> IPNetwork:
    """``network``'s widest supernet up to the node-network prefix that stays clear of the
    cluster's ranges and inside the special range it is in."""
    home = category(network.network_address)
    if home is None:  # nodes with public addresses: the next one's is anybody's guess
        return network
    best = network
    for prefix in range(network.prefixlen - 1, NODE_NETWORK_PREFIX[network.version] - 1, -1):
        wider = network.supernet(new_prefix=prefix)
        if any(wider.overlaps(c) for c in cluster_cidrs if c.version == wider.version):
            break
        if not wider.subnet_of(home):  # type: ignore[arg-type]
            break
        best = wider
    return best


def _inside(text: str, networks: Sequence[IPNetwork]) -> bool:
    address = parse_address(text)
    return address is not None and any(
        address.version == n.version and address in n for n in networks
    )


def _collapsed(networks: Sequence[IPNetwork]) -> list[IPNetwork]:
    v4 = [n for n in networks if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in networks if isinstance(n, ipaddress.IPv6Network)]
    return [*ipaddress.collapse_addresses(v4), *ipaddress.collapse_addresses(v6)]


def _nodes(count: int) -> str:
    return f"{count} node" + ("" if count == 1 else "s")
