"""The evidence behind a CIDR block that admits addresses nobody was seen using.

Rule (one sentence, also in the report): public addresses reached by one workload on the same
ports become the smallest prefix covering them when at least ``POOL_MIN_ADDRESSES`` distinct
addresses fall inside it and it holds no more than ``cidr_waste`` addresses per observed one,
never wider than a /16 (IPv4) or /48 (IPv6) and never over special-purpose or cluster ranges.
"""

from __future__ import annotations

from collections.abc import Iterable

from learner.infer.cidr import Block
from learner.model.pool_rule import POOL_MARK, POOL_RULE

__all__ = ["POOL_MARK", "POOL_RULE", "parent_domain", "pool_evidence", "registrable_domain"]


def registrable_domain(name: str) -> str:
    """The last two labels of a DNS name (``api-3.payments.example.com`` → ``example.com``)."""
    labels = [label for label in name.rstrip(".").lower().split(".") if label]
    return ".".join(labels[-2:])


def parent_domain(name: str) -> str:
    """Everything after the first label (``api-3.payments.example.com`` →
    ``payments.example.com``): where a numbered pool of names lives."""
    labels = [label for label in name.rstrip(".").lower().split(".") if label]
    return ".".join(labels[1:]) if len(labels) > 2 else ".".join(labels)


def pool_evidence(block: Block, names: Iterable[str]) -> str:
    """``"20 of 256 addresses seen, 20 names of payments.example.com"``."""
    text = f"{len(block.addresses)} of {block.network.num_addresses} addresses seen"
    unique = sorted(set(names))
    if not unique:
        return text + ", no DNS names"
    parents = sorted({parent_domain(n) for n in unique})
    if len(parents) == 1:
        return text + f", {len(unique)} names of {parents[0]}"
    domains = sorted({registrable_domain(n) for n in unique})
    return text + f", {len(unique)} names in {len(domains)} domains ({', '.join(domains[:3])})"
