"""The spine's baseline learner: exact, verbose, obviously correct.

One policy per workload that sent or received included traffic. The subject and every pod
peer are selected by the workload's full stable label set; cross-namespace peers add a
namespace-by-name selector; external addresses are /32 (/128) blocks. Ports are merged per
peer, then peers with the same port set share a rule. It is the yardstick the least-privilege
learner (:mod:`learner.infer`) is measured against, and a fallback with no cleverness to doubt.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable

from learner.infer.cidr import IPNetwork, infer_cluster_cidrs
from learner.infer.hidden_peers import hidden_peers
from learner.infer.policy_names import policy_names
from learner.model.edges import EdgeKey, EdgeStats, EdgeStore
from learner.model.errors import NotFittedError
from learner.model.external import FOLDED_CLASSES, prefix_network
from learner.model.flow import EndpointKind
from learner.model.hidden import HIDDEN_ADDRESSES
from learner.model.identity import Identity
from learner.model.inventory import Inventory
from learner.model.policy import (
    CIDRPeer,
    Entity,
    EntityPeer,
    Evidence,
    LabelSelector,
    Peer,
    PodPeer,
    PortSpec,
    Proposal,
    ProposedPolicy,
    Rule,
    namespace_name_selector,
)


def evidence_of(edges: Iterable[EdgeKey], store: EdgeStore) -> Evidence:
    return Evidence.combine(
        [Evidence(s.count, s.first_seen, s.last_seen) for s in (store.edges[e] for e in edges)]
    )


def host_prefix(ip: str) -> str:
    """``ip`` as a one-address CIDR (/32 or /128)."""
    address = ipaddress.ip_address(ip)
    return f"{address}/{address.max_prefixlen}"


def port_spec(edge: EdgeKey) -> PortSpec:
    # For ICMP the port is the message type; 0 (not recorded) becomes every type.
    return PortSpec(protocol=edge.protocol, port=edge.port or None)


ENTITY_OF_KIND = {
    EndpointKind.HOST: Entity.HOST,
    EndpointKind.REMOTE_NODE: Entity.REMOTE_NODE,
    EndpointKind.KUBE_APISERVER: Entity.KUBE_APISERVER,
    EndpointKind.UNMANAGED: Entity.UNMANAGED,
    EndpointKind.INGRESS: Entity.INGRESS,
}


def exact_peer(peer: Identity, policy_namespace: str, stats: EdgeStats) -> Peer | None:
    """The narrowest peer that matches ``peer`` exactly; None when it cannot be expressed."""
    if peer.is_pod:
        if not peer.labels:
            # Seen without labels (e.g. only through an L7 proxy) and not resolvable: the
            # namespace is all we know, so allow it and let the report say so.
            same = peer.namespace == policy_namespace
            return PodPeer(namespaces=None if same else namespace_name_selector(peer.namespace))
        pods = LabelSelector(match_labels=peer.labels)
        if peer.namespace == policy_namespace:
            return PodPeer(pods=pods)
        return PodPeer(pods=pods, namespaces=namespace_name_selector(peer.namespace))
    entity = ENTITY_OF_KIND.get(EndpointKind(peer.kind))
    if entity is not None:
        if entity in (Entity.UNMANAGED, Entity.INGRESS) or not peer.address:
            return EntityPeer(entity)  # Cilium-only: no address stands for it elsewhere
        return EntityPeer(entity, (host_prefix(peer.address),))
    if peer.address in FOLDED_CLASSES or peer.address in HIDDEN_ADDRESSES:
        return None  # a whole address space: one block cannot say it
    network = prefix_network(peer.address)
    if network is not None:  # folded by the peer cap: the prefix is the narrowest block
        return CIDRPeer(str(network))
    if peer.address:
        names = tuple(sorted(stats.dns_names))
        return CIDRPeer(host_prefix(peer.address), names=names, fqdns=names)
    return None


def _cluster_cidrs(inventory: Inventory | None) -> tuple[IPNetwork, ...]:
    if inventory is None:
        return ()
    return infer_cluster_cidrs(
        ip for w in inventory.workloads if not w.host_network for ip in w.ips
    )


def implicitly_allowed(peer: Identity, direction: str) -> bool:
    """Traffic from a pod's own node is always allowed in; policy cannot and need not say so."""
    return direction == "ingress" and peer.kind == EndpointKind.HOST


def rules_from_peers(
    peer_ports: dict[Peer, dict[PortSpec, list[EdgeKey]]], store: EdgeStore
) -> tuple[Rule, ...]:
    """Group peers that share a port set into one rule each, in a stable order."""
    by_ports: dict[tuple[PortSpec, ...], list[Peer]] = defaultdict(list)
    for peer, specs in peer_ports.items():
        by_ports[tuple(sorted(specs, key=lambda s: s.order))].append(peer)
    rules = []
    for ports, peers in by_ports.items():
        edges = sorted({e for p in peers for spec in ports for e in peer_ports[p][spec]})
        rules.append(
            Rule(
                peers=tuple(sorted(peers, key=lambda p: p.key)),
                ports=ports,
                edges=tuple(edges),
                evidence=evidence_of(edges, store),
            )
        )
    return tuple(sorted(rules, key=lambda r: r.sort_key))


class BaselineLearner:
    """Full-label, one-rule-per-port-set learner. See the module docstring."""

    def __init__(self) -> None:
        pass

    def fit(self, store: EdgeStore, inventory: Inventory | None = None) -> BaselineLearner:
        ingress: dict[Identity, dict[Peer, dict[PortSpec, list[EdgeKey]]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(list))
        )
        egress: dict[Identity, dict[Peer, dict[PortSpec, list[EdgeKey]]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(list))
        )
        subjects: set[Identity] = set()
        warnings: list[str] = []
        cluster_cidrs = _cluster_cidrs(inventory)
        for edge, stats in store.sorted_edges():
            for subject, other, table, direction in (
                (edge.destination, edge.source, ingress, "ingress"),
                (edge.source, edge.destination, egress, "egress"),
            ):
                if not subject.is_pod or not subject.labels:
                    continue
                subjects.add(subject)
                if implicitly_allowed(other, direction):
                    table[subject]  # noqa: B018 - the subject is isolated all the same
                    continue
                if other.address in HIDDEN_ADDRESSES:
                    # Calico hid the address: only the whole hidden space keeps it working.
                    for block in hidden_peers(other.address, cluster_cidrs)[0]:
                        table[subject][block][port_spec(edge)].append(edge)
                    continue
                peer = exact_peer(other, subject.namespace, stats)
                if peer is None:
                    warnings.append(f"{edge.key}: peer cannot be expressed; left out")
                    continue
                table[subject][peer][port_spec(edge)].append(edge)
        names = policy_names(subjects, store)
        policies = []
        for subject in sorted(subjects):
            policies.append(
                ProposedPolicy(
                    name=names[subject],
                    namespace=subject.namespace,
                    subject=LabelSelector(match_labels=subject.labels),
                    workload=subject.key,
                    ingress=rules_from_peers(ingress.get(subject, {}), store),
                    egress=rules_from_peers(egress.get(subject, {}), store),
                )
            )
        self.proposal_ = Proposal(
            policies=tuple(policies),
            namespaces=tuple(sorted({s.namespace for s in subjects})),
            warnings=tuple(warnings),
            learner="baseline (full label sets, /32 addresses)",
        )
        self.n_edges_ = len(store.edges)
        return self

    @property
    def proposal(self) -> Proposal:
        if not hasattr(self, "proposal_"):
            raise NotFittedError("BaselineLearner is not fitted yet: call fit(store) first")
        return self.proposal_
