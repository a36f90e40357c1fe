"""Observed connections the chosen dialect cannot allow, said out loud.

NetworkPolicy has no ICMP: a pod isolated by a NetworkPolicy loses its ICMP (or keeps it,
depending on the CNI), and no rule can say otherwise. Such connections are not checked by the
self-check (there is nothing to check) and the report lists each one as a risk instead of
claiming every observed connection was checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from learner.aggregate import EdgeKey, EdgeStore
from learner.model import Protocol
from learner.policy import Proposal

ICMP_UNDEFINED_FORMATS = frozenset({"networkpolicy"})
"""Dialects in which ICMP is undefined."""
RISK_KIND = "cannot-express"


@dataclass(frozen=True, slots=True)
class Unexpressed:
    edge: EdgeKey
    reason: str


def unexpressed_edges(store: EdgeStore, proposal: Proposal, format: str) -> list[Unexpressed]:
    """Learned (not pending) edges that ``format`` cannot allow, with why."""
    if format not in ICMP_UNDEFINED_FORMATS:
        return []
    pending = {p.edge for p in proposal.pending}
    return [
        Unexpressed(
            edge,
            f"{edge.source.key} -> {edge.destination.key} {edge.protocol}"
            f"{_icmp_type(edge)}: NetworkPolicy cannot express ICMP; would be denied once "
            "isolated (allow it with a CNI policy, e.g. Cilium icmps or Calico icmp)",
        )
        for edge in sorted(store.edges)
        if edge not in pending and not Protocol(edge.protocol).has_ports
    ]


def _icmp_type(edge: EdgeKey) -> str:
    return f" type {edge.port}" if edge.port else ""
