"""Observed connections the chosen dialect cannot allow, said out loud.

NetworkPolicy has no ICMP: a pod isolated by a NetworkPolicy loses its ICMP (or keeps it,
depending on the CNI), and no rule can say otherwise. Such connections are not checked by the
self-check (there is nothing to check) and the report lists each one as a risk instead of
claiming every observed connection was checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from learner.model.config import LearnConfig
from learner.model.edges import EdgeKey, EdgeStore
from learner.model.flow import EndpointKind, Protocol
from learner.model.identity import Identity
from learner.model.policy import Proposal
from outputs.base import dialect, has_cilium_companion

ICMP_UNDEFINED_DIALECTS = frozenset({"networkpolicy"})
"""Dialects in which ICMP is undefined."""
CILIUM_ONLY_ENTITY_DIALECTS = frozenset({"networkpolicy", "calico"})
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


def unexpressed_edges(
    store: EdgeStore, proposal: Proposal, config: LearnConfig
) -> list[Unexpressed]:
    """Learned (not pending) edges that the configured dialect cannot allow, with why."""
    pending = {p.edge for p in proposal.pending}
    # A NetworkPolicy proposal for Cilium comes with CiliumNetworkPolicy companions that name
    # Cilium's entities (outputs/cilium_companion.py).
    written = dialect(config.format)
    entities = "cilium" if has_cilium_companion(config) else written
    found = []
    for edge in sorted(store.edges):
        if edge in pending:
            continue
        if not Protocol(edge.protocol).has_ports and written in ICMP_UNDEFINED_DIALECTS:
            found.append(Unexpressed(edge, f"{edge.key}: {_ICMP_REASON.format(_icmp_type(edge))}"))
            continue
        reason = _why_not(edge, entities, config.format)
        if reason:
            found.append(Unexpressed(edge, f"{edge.key}: {reason}"))
    return found


_ICMP_REASON = (
    "NetworkPolicy cannot express ICMP{}; would be denied once isolated (allow it with a CNI "
    "policy, e.g. Cilium icmps or Calico icmp)"
)


def _why_not(edge: EdgeKey, written: str, format: str) -> str:
    if written in CILIUM_ONLY_ENTITY_DIALECTS:
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
