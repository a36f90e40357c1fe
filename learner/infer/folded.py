"""The policy peers standing for outside addresses the peer cap folded (see
:mod:`learner.model.external`): a folded prefix is its own block, minus any cluster range
inside it; a folded class is the same space as Calico's hidden ``pub``/``pvt`` ends."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from learner.infer.cidr import IPAddress, IPNetwork, parse_address
from learner.infer.hidden_peers import hidden_peers
from learner.model.external import FOLDED_PRIVATE, FOLDED_PUBLIC, describe_fold, prefix_network
from learner.model.hidden import HIDDEN_PRIVATE, HIDDEN_PUBLIC
from learner.model.policy import CIDRPeer


def peer_address(text: str) -> IPAddress | None:
    """The address standing for an outside peer: itself, or a folded prefix's first address
    (folded prefixes never cross a special-purpose range, so it has the prefix's category)."""
    network = prefix_network(text)
    return network.network_address if network is not None else parse_address(text)


def prefix_peers(prefixes: Iterable[str], cluster_cidrs: Sequence[IPNetwork]) -> list[CIDRPeer]:
    """One block per run of folded prefixes (adjacent ones collapsed: the same addresses)."""
    networks = [n for text in prefixes if (n := prefix_network(text)) is not None]
    peers = []
    for version in (4, 6):
        same = [n for n in networks if n.version == version]
        for block in ipaddress.collapse_addresses(same):  # type: ignore[type-var]
            inside = [
                str(c)
                for c in cluster_cidrs
                if c.version == version and c != block and c.subnet_of(block)  # type: ignore[arg-type]
            ]
            peers.append(CIDRPeer(str(block), tuple(sorted(inside))))
    return peers


def class_peers(stand_in: str, cluster_cidrs: Sequence[IPNetwork]) -> list[CIDRPeer]:
    """The blocks of "any public address" or "private networks outside the cluster"."""
    hidden = HIDDEN_PUBLIC if stand_in == FOLDED_PUBLIC else HIDDEN_PRIVATE
    return hidden_peers(hidden, cluster_cidrs)[0]


def fold_admits(count: int, targets: Iterable[str]) -> str:
    """The admits line (and report risk) of a rule allowing folded addresses."""
    named = {
        FOLDED_PUBLIC: "any public address",
        FOLDED_PRIVATE: "private networks outside the cluster",
    }
    wanted = set(targets)
    blocks = [p.cidr for p in prefix_peers(wanted, ())]
    classes = [named[t] for t in sorted(wanted) if t in named]
    return describe_fold(count, [*blocks, *classes])
