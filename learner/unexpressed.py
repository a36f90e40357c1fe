"""Observed connections the chosen dialect cannot allow, said out loud.

NetworkPolicy has no ICMP: a pod isolated by a NetworkPolicy loses its ICMP (or keeps it,
depending on the CNI), and no rule can say otherwise. Such connections are not checked by the
self-check (there is nothing to check) and the report lists each one as a risk instead of
claiming every observed connection was checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from learner.aggregate import EdgeKey, EdgeStore
from learner.identity import Identity
from learner.model import EndpointKind, Protocol
from learner.policy import Proposal

ICMP_UNDEFINED_FORMATS = frozenset({"networkpolicy"})
"""Dialects in which ICMP is undefined."""
CILIUM_ONLY_ENTITY_FORMATS = frozenset({"networkpolicy", "calico"})
"""Dialects without Cilium's entities."""
CILIUM_ONLY_KINDS: dict[str, str] = {
    EndpointKind.UNMANAGED: "a pod Cilium does not manage; restarting it under Cilium makes it "
    "a normal endpoint",
    EndpointKind.INGRESS: "Cilium's ingress proxy, the source of requests it forwards",
}
RISK_KIND = "cannot-express"


@dataclass(frozen=True, slots=True)
class Unexpressed:
    edge: EdgeKey
    reason: str


def unexpressed_edges(store: EdgeStore, proposal: Proposal, format: str) -> list[Unexpressed]:
    """Learned (not pending) edges that ``format`` cannot allow, with why."""
    pending = {p.edge for p in proposal.pending}
    found = []
    for edge in sorted(store.edges):
        if edge in pending:
            continue
        reason = _why_not(edge, format)
        if reason:
            found.append(Unexpressed(edge, f"{edge.key}: {reason}"))
    return found


def _why_not(edge: EdgeKey, format: str) -> str:
    if format in ICMP_UNDEFINED_FORMATS and not Protocol(edge.protocol).has_ports:
        return (
            f"NetworkPolicy cannot express ICMP{_icmp_type(edge)}; would be denied once "
            "isolated (allow it with a CNI policy, e.g. Cilium icmps or Calico icmp)"
        )
    if format in CILIUM_ONLY_ENTITY_FORMATS:
        for end in (edge.source, edge.destination):
            if end.kind in CILIUM_ONLY_KINDS:
                return (
                    f"the {end.kind} end is a Cilium identity ({CILIUM_ONLY_KINDS[end.kind]}); "
                    f"only a CiliumNetworkPolicy can name it ({_entity_field(edge, end)}: "
                    f"[{end.kind}]), so a {format} proposal would deny it once isolated"
                )
    return ""


def _entity_field(edge: EdgeKey, end: Identity) -> str:
    return "toEntities" if end is edge.destination else "fromEntities"


def _icmp_type(edge: EdgeKey) -> str:
    return f" type {edge.port}" if edge.port else ""
