"""Checks of a learned proposal through the real renderer and semantics engine."""

from __future__ import annotations

from collections.abc import Iterable

from learner.app.selfcheck import documents_from_files
from learner.model.config import RenderOptions
from learner.model.edges import EdgeStore
from learner.model.flow import EndpointKind
from learner.model.identity import IdentityResolver
from learner.model.inventory import Inventory, Workload
from learner.model.policy import Proposal
from learner.semantics import PolicySet, Traffic, TrafficPeer, compile_policies, traffic_for_edge
from outputs.networkpolicy import render

INFRA_PURPOSES = ("cluster DNS",)


def compiled(proposal: Proposal) -> PolicySet:
    return compile_policies(documents_from_files(render(proposal, RenderOptions())))


def denied_observed(proposal: Proposal, store: EdgeStore, inventory: Inventory) -> list[str]:
    """Observed, not pending edges the rendered proposal denies (must be empty)."""
    policies = compiled(proposal)
    pending = {p.edge for p in proposal.pending}
    return [
        edge.key
        for edge, stats in store.sorted_edges()
        if edge not in pending
        and not policies.evaluate(traffic_for_edge(edge, inventory, stats)).allowed
    ]


def _peer(workload: Workload, inventory: Inventory) -> TrafficPeer:
    return TrafficPeer(
        kind=EndpointKind.POD,
        namespace=workload.namespace,
        labels=workload.labels,
        namespace_labels=inventory.namespace_labels(workload.namespace),
    )


def allowed_pairs(
    proposal: Proposal, inventory: Inventory, ports: Iterable[tuple[str, int]]
) -> set[tuple[str, str, str, int]]:
    """Every (source workload, destination workload, protocol, port) the proposal allows while
    isolating at least one end, over inventory workloads and the given ports. (Pairs of
    workloads no policy isolates are allowed whatever the learner does.)"""
    policies = compiled(proposal)
    allowed = set()
    workloads = [w for w in inventory.workloads if not w.host_network]
    port_list = sorted(set(ports))
    for source in workloads:
        for destination in workloads:
            for protocol, port in port_list:
                name = next(
                    (
                        p.name
                        for p in destination.ports
                        if p.port == port and p.protocol == protocol
                    ),
                    "",
                )
                traffic = Traffic(
                    _peer(source, inventory), _peer(destination, inventory), protocol, port, name
                )
                decision = policies.evaluate(traffic)
                isolated = decision.egress.isolated or decision.ingress.isolated
                if decision.allowed and isolated:
                    allowed.add(
                        (
                            f"{source.namespace}/{source.name}",
                            f"{destination.namespace}/{destination.name}",
                            protocol,
                            port,
                        )
                    )
    return allowed


def observed_pairs(store: EdgeStore, inventory: Inventory) -> set[tuple[str, str, str, int]]:
    """The (workload, workload, protocol, port) pairs the store's pod-to-pod edges stand for."""
    resolver = IdentityResolver()
    by_identity: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
    for workload in inventory.workloads:
        key = (workload.namespace, resolver.stable_labels(workload.labels))
        by_identity[key] = f"{workload.namespace}/{workload.name}"
    pairs = set()
    for edge in store.edges:
        source = by_identity.get((edge.source.namespace, edge.source.labels))
        destination = by_identity.get((edge.destination.namespace, edge.destination.labels))
        if source and destination:
            pairs.add((source, destination, edge.protocol, edge.port))
    return pairs
