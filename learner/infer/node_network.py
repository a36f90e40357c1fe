"""The addresses a rule to or from nodes is written with, where nodes have no selector.

Nodes come and go: the cluster autoscaler adds them, node-pool upgrades and repairs replace
them, and each new node takes a new address from the node subnet. A rule listing only the
nodes seen (Prometheus scraping the kubelet or node-exporter, a NodePort or LoadBalancer
Service whose clients arrive from node addresses) would deny the next node. So the blocks are
the node network: the ``--node-cidr`` ranges when given, else each group of nodes seen widened
to its /16 (IPv4) or /64 (IPv6), the usual size of a cloud network or subnet, but never as far
as the cluster's pod or service ranges, and only inside the group's own special range (RFC
1918, CGNAT ...). Nodes with public IPv4 or link-local addresses keep the blocks seen, and the
proposal warns. Every widening is said in the rule's ``admits``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from learner.infer.cidr import IPAddress, IPNetwork, aggregate, category, parse_address
from learner.model.hidden import HIDDEN_MARK, PRIVATE_RANGES
from learner.model.infra import NODE_NETWORK_MARK

NODE_NETWORK_PREFIX = {4: 16, 6: 64}
"""How far node addresses are widened without ``--node-cidr``."""
LINK_LOCAL = tuple(ipaddress.ip_network(t) for t in ("169.254.0.0/16", "fe80::/10"))
"""Never widened: the cloud's metadata service lives there, not nodes added later."""


@dataclass(frozen=True, slots=True)
class NodeBlocks:
    cidrs: tuple[str, ...]
    admits: tuple[str, ...]
    """What the blocks admit beyond the nodes seen."""
    kept: tuple[str, ...]
    """Blocks of nodes seen that could not be widened (public addresses, inside the
    cluster's ranges, link-local): a node added later is refused there."""


def node_blocks(
    addresses: Iterable[str],
    *,
    waste: float,
    cluster_cidrs: Sequence[IPNetwork],
    node_cidrs: Sequence[IPNetwork],
) -> NodeBlocks:
    """The CIDRs standing for the nodes at ``addresses``, and what they admit beyond them."""
    seen = sorted(set(addresses))
    parsed = {text: parse_address(text) for text in seen}
    outside = [a for a in seen if not _inside(parsed[a], node_cidrs)]
    widened: dict[IPNetwork, None] = {}
    kept: list[str] = []
    for block in aggregate(outside, waste=waste):
        network = _widened(block.network, cluster_cidrs)
        widened[network] = None
        if network == block.network:
            kept.append(str(network))
    admits = []
    for network in widened:
        count = sum(1 for a in outside if _inside(parsed[a], (network,)))
        if str(network) not in kept:
            admits.append(
                f"{network}{NODE_NETWORK_MARK} around the {_nodes(count)} seen, so that nodes "
                "added later are reached (--node-cidr gives the exact range)"
            )
    if node_cidrs and seen:
        given = ", ".join(str(n) for n in node_cidrs)
        admits.append(f"{given}{NODE_NETWORK_MARK} (--node-cidr), {_nodes(len(seen))} seen")
    cidrs = _collapsed([*node_cidrs, *widened])
    return NodeBlocks(tuple(str(n) for n in cidrs), tuple(admits), tuple(kept))


def hidden_node_blocks(node_cidrs: Sequence[IPNetwork]) -> tuple[tuple[str, ...], str]:
    """The CIDRs standing for nodes whose address Calico's aggregation hid (a host endpoint
    named without its address), and the ``admits`` line saying so. Without ``--node-cidr``
    the nodes are taken to be in private space: every RFC 1918 range, the cluster's ranges
    included (pods and nodes share a subnet with VPC CNIs)."""
    if node_cidrs:
        what = ", ".join(str(n) for n in node_cidrs) + " (--node-cidr)"
        cidrs = tuple(str(n) for n in node_cidrs)
    else:
        what = "every RFC 1918 range, the cluster's included; nodes elsewhere need --node-cidr"
        cidrs = PRIVATE_RANGES
    return cidrs, f"{HIDDEN_MARK} (nodes){NODE_NETWORK_MARK} is taken as {what}"


def _widened(network: IPNetwork, cluster_cidrs: Sequence[IPNetwork]) -> IPNetwork:
    """``network``'s widest supernet up to the node-network prefix that stays clear of the
    cluster's ranges and inside the special range it is in. Public IPv4 addresses are kept
    (the next node's is anybody's guess), public IPv6 ones widen to their /64 subnet."""
    if any(network.subnet_of(n) for n in LINK_LOCAL if n.version == network.version):  # type: ignore[arg-type]
        return network
    home = category(network.network_address)
    if home is None and network.version == 4:
        return network
    best = network
    for prefix in range(network.prefixlen - 1, NODE_NETWORK_PREFIX[network.version] - 1, -1):
        wider = network.supernet(new_prefix=prefix)
        if any(wider.overlaps(c) for c in cluster_cidrs if c.version == wider.version):
            break
        if home is not None and not wider.subnet_of(home):  # type: ignore[arg-type]
            break
        best = wider
    return best


def _inside(address: IPAddress | None, networks: Sequence[IPNetwork]) -> bool:
    return address is not None and any(
        address.version == n.version and address in n for n in networks
    )


def _collapsed(networks: Sequence[IPNetwork]) -> list[IPNetwork]:
    v4 = [n for n in networks if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in networks if isinstance(n, ipaddress.IPv6Network)]
    return [*ipaddress.collapse_addresses(v4), *ipaddress.collapse_addresses(v6)]


def _nodes(count: int) -> str:
    return f"{count} node" + ("" if count == 1 else "s")
