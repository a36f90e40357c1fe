"""The least-privilege learner: edges in, a :class:`~learner.policy.Proposal` out.

:class:`PolicyLearner` takes a :class:`~learner.model.config.LearnConfig` (checked when it was
built); :meth:`PolicyLearner.fit` learns and sets the trailing-underscore results. Nothing is random and every collection is sorted, so the same edges give the same
proposal byte for byte.

How one fit runs:

1. Every pod identity is mapped onto the :class:`~learner.selectors.Universe` (inventory
   workloads plus workloads only the flows know).
2. Each edge is classified: cluster DNS (absorbed by the shared DNS rule), ingress from the
   pod's own node (implicitly allowed, no rule), held back (``min_flows``, ``min_age``,
   ``expire_after``: goes to ``Proposal.pending`` with the reason), or evidence. Evidence
   splits into an egress half for the source pod and an ingress half for the destination pod.
3. Per workload and direction, peers are grouped by the exact set of ports they used; each
   group becomes one rule whose pod peers come from :class:`~learner.selectors.PeerSelector`,
   external addresses from :mod:`learner.cidr`, and reserved peers from :mod:`learner.infra`.
   Rules whose peers came out identical are merged.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from learner.infer.cidr import (
    IPAddress,
    aggregate,
    distinct_networks,
    host_cidr,
    infer_cluster_cidrs,
    internet_blocks,
    is_public,
    parse_address,
    parse_networks,
)
from learner.infer.folded import class_peers, fold_admits, peer_address, prefix_peers
from learner.infer.hidden_peers import hidden_peers
from learner.infer.node_network import NodeBlocks, hidden_node_blocks, node_blocks
from learner.infer.pools import POOL_MARK, pool_evidence
from learner.infer.selectors import (
    PeerSelector,
    UniverseBuilder,
    exact_selector,
    peer_sort_key,
)
from learner.infer.universe import iter_bits
from learner.model.config import LearnConfig
from learner.model.edges import EdgeKey, EdgeStats, EdgeStore
from learner.model.errors import NotFittedError
from learner.model.external import FOLDED_CLASSES, is_folded, prefix_network
from learner.model.flow import EndpointKind, Protocol
from learner.model.fqdn import fqdn_selectors
from learner.model.fqdn import selector_matches as fqdn_selector_matches
from learner.model.hidden import HIDDEN_ADDRESSES
from learner.model.identity import Identity, dns_label
from learner.model.infra import (
    DNS_PURPOSE,
    EVERY_NAMESPACE_ADMITS,
    MONITORING_PURPOSE,
    NODES_KEPT_WARNING,
    DnsPorts,
    is_dns_address,
    is_dns_port,
    is_dns_server,
    is_ingress_controller,
    is_monitoring,
    is_nodelocal_dns,
)
from learner.model.inventory import Inventory, from_store
from learner.model.policy import (
    CIDRPeer,
    Entity,
    EntityPeer,
    Evidence,
    LabelSelector,
    Peer,
    PendingEdge,
    PodPeer,
    PortSpec,
    Proposal,
    ProposedPolicy,
    Rule,
    namespace_name_selector,
)

ENTITY_OF_KIND: dict[str, Entity] = {
    EndpointKind.HOST: Entity.HOST,
    EndpointKind.REMOTE_NODE: Entity.REMOTE_NODE,
    EndpointKind.KUBE_APISERVER: Entity.KUBE_APISERVER,
    EndpointKind.UNMANAGED: Entity.UNMANAGED,
    EndpointKind.INGRESS: Entity.INGRESS,
}
CLUSTER_WIDE_NAMESPACES_MIN = 3
"""Namespaces a scraper or ingress controller must be seen reaching on the same ports before its
rule admits every namespace on them."""
ASSUMED_DNS_PEER = PodPeer(
    pods=LabelSelector(match_labels=(("k8s-app", "kube-dns"),)),
    namespaces=namespace_name_selector("kube-system"),
)
INGRESS = "ingress"
EGRESS = "egress"


@dataclass(frozen=True, slots=True)
class Widening:
    """Something a rule or subject admits beyond the evidence, and why."""

    policy: str
    """``namespace/name`` of the policy."""
    direction: str
    """``ingress``, ``egress`` or ``subject``."""
    admits: tuple[str, ...]
    reason: str
    rule: Rule | None = None


@dataclass(frozen=True, slots=True)
class ImplicitEdge:
    """An observed edge allowed without any rule (e.g. from the pod's own node)."""

    edge: EdgeKey
    reason: str
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class _PeerRef:
    """The far end of a half edge: pod members, an external address, or a reserved entity."""

    kind: str
    """``pod``, ``address``, ``hidden`` (an address Calico aggregated away) or ``entity``."""
    bits: int = 0
    address: str = ""
    entity: Entity | None = None


@dataclass(frozen=True, slots=True)
class _Half:
    edge: EdgeKey
    evidence: Evidence
    peer: _PeerRef
    names: frozenset[str]
    """DNS names known for an external peer address."""


@dataclass
class _Subject:
    bits: int
    ingress: list[_Half] = field(default_factory=list)
    egress: list[_Half] = field(default_factory=list)
    dns_edges: list[tuple[EdgeKey, Evidence]] = field(default_factory=list)
    dns_served: list[tuple[EdgeKey, Evidence]] = field(default_factory=list)
    dns_names: set[str] = field(default_factory=set)


class PolicyLearner:
    """Learns short, label-based, least-privilege policies from an :class:`EdgeStore`.

    Takes its settings from a :class:`~learner.model.config.LearnConfig` (checked when that
    was built). Fitted attributes: ``proposal_`` (:class:`~learner.policy.Proposal`),
    ``justification_`` (rule → the edge keys it stands for), ``widened_`` (every
    :class:`Widening`), ``implicit_`` (edges allowed without a rule) and ``n_edges_`` (edges
    read); reading one before :meth:`fit` raises :class:`NotFittedError`.
    """

    def __init__(self, config: LearnConfig | None = None) -> None:
        self.config = config if config is not None else LearnConfig()
        self._fitted: _Fitted | None = None

    def __repr__(self) -> str:
        changed = ", ".join(
            f"{k}={v!r}" for k, v in self.config.changed_learning_settings().items()
        )
        return f"{type(self).__name__}({changed})"

    def description(self) -> str:
        """How the report names this learner: ``least-privilege (max_overreach=2)``."""
        settings = repr(self).removeprefix(f"{type(self).__name__}(").removesuffix(")")
        return "least-privilege" + (f" ({settings})" if settings else "")

    def _result(self, name: str) -> _Fitted:
        if self._fitted is None:
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet: call fit(store) before using {name}"
            )
        return self._fitted

    @property
    def proposal_(self) -> Proposal:
        return self._result("proposal_").proposal

    @property
    def justification_(self) -> dict[Rule, tuple[EdgeKey, ...]]:
        return self._result("justification_").justification

    @property
    def widened_(self) -> tuple[Widening, ...]:
        return self._result("widened_").widened

    @property
    def implicit_(self) -> tuple[ImplicitEdge, ...]:
        return self._result("implicit_").implicit

    @property
    def n_edges_(self) -> int:
        return self._result("n_edges_").n_edges

    def fit(self, store: EdgeStore, inventory: Inventory | None = None) -> PolicyLearner:
        """Learn policies from ``store`` (and ``inventory``, for negatives and port names)."""
        fit = _Fit(self.config, store, inventory if inventory is not None else from_store(store))
        fit.run()
        proposal = Proposal(
            policies=fit.policies,
            # A default deny would cut off pods whose labels are unknown (no policy can name
            # them), so their namespaces are left out of it, with a warning.
            namespaces=tuple(sorted({p.namespace for p in fit.policies} - fit.unknown_namespaces)),
            dns_peers=fit.dns_peers,
            pending=tuple(sorted(fit.pending, key=lambda p: (p.edge, p.reason))),
            warnings=tuple(fit.warnings)
            + tuple(
                f"namespace {ns}: pods seen without labels; no default deny is proposed for it "
                "(give --inventory so they can be named)"
                for ns in sorted(fit.unknown_namespaces)
            ),
            learner=self.description(),
        )
        self._fitted = _Fitted(
            proposal=proposal,
            justification={
                rule: rule.edges
                for policy in fit.policies
                for rule in (*(policy.ingress or ()), *(policy.egress or ()))
            },
            widened=tuple(fit.widened),
            implicit=tuple(fit.implicit),
            n_edges=len(store),
        )
        return self


@dataclass(frozen=True, slots=True)
class _Fitted:
    proposal: Proposal
    justification: dict[Rule, tuple[EdgeKey, ...]]
    widened: tuple[Widening, ...]
    implicit: tuple[ImplicitEdge, ...]
    n_edges: int


def _evidence(stats: EdgeStats) -> Evidence:
    return Evidence(stats.count, stats.first_seen, stats.last_seen)


class _Fit:
    """The state of one ``fit`` call."""

    def __init__(self, settings: LearnConfig, store: EdgeStore, inventory: Inventory) -> None:
        self.settings = settings
        self.store = store
        self.inventory = inventory
        self.builder = UniverseBuilder(inventory, store.resolver)
        self.policies: tuple[ProposedPolicy, ...] = ()
        self.dns_peers: tuple[Peer, ...] = ()
        self.pending: list[PendingEdge] = []
        self.warnings: list[str] = []
        self.widened: list[Widening] = []
        self.implicit: list[ImplicitEdge] = []
        self.unknown_namespaces: set[str] = set()
        self.subjects: dict[int, _Subject] = {}
        self.senders: set[int] = set()
        """Workloads (bits) seen as the client of any edge: allowed, held back or DNS."""
        self.edges = list(store.sorted_edges())
        self.now = settings.now
        if self.now is None:
            self.now = max((s.last_seen for _, s in self.edges), default=0.0)
        self.pod_ips: dict[str, Identity] = {}
        for identity, info in sorted(store.workloads.items()):
            for ip in sorted(info.ips):
                self.pod_ips.setdefault(ip, identity)
        self.entity_addresses: dict[Entity, set[str]] = {e: set() for e in ENTITY_OF_KIND.values()}

    # -- step 1: the universe -------------------------------------------------------------
    def resolve_pod(self, identity: Identity) -> int:
        info = self.store.workloads.get(identity)
        return self.builder.resolve(identity, info.name if info else "", identity.address)

    def peer_of(self, identity: Identity) -> _PeerRef | None:
        if identity.is_pod:
            return _PeerRef("pod", bits=self.resolve_pod(identity))
        entity = ENTITY_OF_KIND.get(identity.kind)
        if identity.address in HIDDEN_ADDRESSES:  # Calico hid it: a node's or an outside one
            return _PeerRef("hidden", address=identity.address, entity=entity)
        if entity is not None:
            if identity.address:
                self.entity_addresses[entity].add(identity.address)
            return _PeerRef("entity", entity=entity, address=identity.address)
        if identity.kind == EndpointKind.WORLD:
            if identity.address in FOLDED_CLASSES:
                return _PeerRef("hidden", address=identity.address)
            if prefix_network(identity.address) is not None:
                return _PeerRef("address", address=identity.address)  # folded by the peer cap
            if parse_address(identity.address) is None:
                return None
            # A known pod's address is that pod, never an ipBlock.
            pod = self.pod_ips.get(identity.address)
            if pod is not None:
                return _PeerRef("pod", bits=self.resolve_pod(pod))
            member = self.builder.member_for_ip(identity.address)
            if member:
                return _PeerRef("pod", bits=member)
            return _PeerRef("address", address=identity.address)
        return None

    @functools.cached_property
    def nodes(self) -> NodeBlocks:
        """What rules to or from nodes are written with: every node seen, as any node may host
        the peer next time, and the node network around them, as the next node may be a new
        one. Worked out once, after the edges named the nodes; warns where no network could
        be guessed."""
        nodes = self.entity_addresses[Entity.HOST] | self.entity_addresses[Entity.REMOTE_NODE]
        nodes |= {ip for w in self.inventory.workloads if w.host_network for ip in w.ips}
        blocks = node_blocks(
            nodes,
            waste=self.settings.cidr_waste,
            cluster_cidrs=self.cluster_cidrs,
            node_cidrs=self.node_cidrs,
        )
        if blocks.kept and not self.node_cidrs:
            self.warnings.append(
                f"{NODES_KEPT_WARNING} {', '.join(blocks.kept)} with no node "
                "network around them (public, link-local or inside the cluster's ranges): a node "
                "added later is refused there; give --node-cidr"
            )
        return blocks

    def run(self) -> None:
        refs = [(key, stats, self.peer_of(key.source), self.peer_of(key.destination))
                for key, stats in self.edges]  # fmt: skip
        refused = {key.source: self.peer_of(key.source) for key in self.store.denied
                   if key.source.is_pod and key.source.labels}  # fmt: skip
        self.universe = self.builder.build(self.store.namespace_labels)
        self.peers = PeerSelector(self.universe)
        self.cluster_cidrs = parse_networks(self.settings.cluster_cidrs) or infer_cluster_cidrs(
            self._pod_addresses()
        )
        self.node_cidrs = parse_networks(self.settings.node_cidrs)
        self.detect_dns()
        for key, stats, source, destination in refs:
            self.classify(key, stats, source, destination)
        self.isolate_refused(refused)
        self.name_counts = self._planned_names()
        self.policies = tuple(
            sorted(
                (self.policy_for(bits, subject) for bits, subject in self.subjects.items()),
                key=lambda p: (p.namespace, p.name),
            )
        )

    def _pod_addresses(self) -> list[str]:
        addresses = list(self.pod_ips)
        for workload in self.inventory.workloads:
            if not workload.host_network:
                addresses.extend(workload.ips)
        return addresses

    # -- step 2: classification -----------------------------------------------------------
    def detect_dns(self) -> None:
        universe = self.universe
        self.dns_bits = 0
        for index, member in enumerate(universe.members):
            if is_dns_server(member.labels):
                self.dns_bits |= 1 << index
        self.dns_ports = DnsPorts.for_servers(
            [universe.members[i].labels for i in iter_bits(self.dns_bits)]
        )
        if not self.settings.dns:
            return
        peers: list[Peer] = []
        if self.dns_bits:
            peers.extend(self.peers.choose(self.dns_bits, "", 0).peers)
        nodelocal = {
            key.destination.address
            for key, _ in self.edges
            if is_dns_address(key.destination.address) and is_dns_port(key.protocol, key.port)
        }
        if any(w.host_network and is_nodelocal_dns(w.labels) for w in self.inventory.workloads):
            nodelocal.add("169.254.20.10")
        # Cilium reports NodeLocal DNSCache's address with the node's identity (host or
        # remote-node), which it never matches by address: name that entity, with the address
        # for dialects that only have addresses.
        node_kinds = {
            key.destination.address: ENTITY_OF_KIND[key.destination.kind]
            for key, _ in self.edges
            if key.destination.address in nodelocal
            and key.destination.kind in (EndpointKind.HOST, EndpointKind.REMOTE_NODE)
        }
        for address in sorted(nodelocal):
            entity = node_kinds.get(address)
            if entity is None:
                peers.append(CIDRPeer(host_cidr(address)))
            else:
                peers.append(EntityPeer(entity, (host_cidr(address),)))
        if any(self.is_unmanaged_dns(key) for key, _ in self.edges):
            # The cluster DNS seen as a pod Cilium does not manage: only the unmanaged entity
            # reaches it (an endpoint selector would only look right).
            peers.append(EntityPeer(Entity.UNMANAGED))
        if not peers:
            peers.append(ASSUMED_DNS_PEER)
            self.warnings.append(
                "no cluster DNS seen in the flows or the inventory: DNS rules assume "
                "kube-system pods labelled k8s-app=kube-dns"
            )
        self.dns_peers = tuple(sorted(peers, key=peer_sort_key))

    def isolate_refused(self, refused: Mapping[Identity, _PeerRef | None]) -> None:
        """Workloads whose every connection attempt was dropped get a policy allowing none.

        Such a pod tried to send and nothing it tried worked all day: least privilege is to
        keep it that way. Writing no policy for it would leave its egress open - to the
        internet, and to the cluster DNS, which answers every pod."""
        for identity, ref in sorted(refused.items(), key=lambda item: item[0].key):
            if ref is None or ref.kind != "pod" or not ref.bits or not self.labels_known(ref):
                continue
            if ref.bits in self.senders or ref.bits in self.subjects:
                continue
            self.subject(ref.bits)
            self.warnings.append(
                f"{identity.key}: every connection it attempted was dropped; its policy allows none"
            )

    def labels_known(self, ref: _PeerRef) -> bool:
        return not ref.bits & self.peers.unknown

    def subject(self, bits: int) -> _Subject:
        found = self.subjects.get(bits)
        if found is None:
            found = self.subjects[bits] = _Subject(bits)
        return found

    def is_dns_edge(self, key: EdgeKey, destination: _PeerRef | None) -> bool:
        if not self.settings.dns or destination is None:
            return False
        if not is_dns_port(key.protocol, key.port):
            return False
        if destination.kind == "pod":
            return bool(self.dns_bits) and destination.bits & ~self.dns_bits == 0
        return is_dns_address(destination.address) or self.is_unmanaged_dns(key)

    @staticmethod
    def is_unmanaged_dns(key: EdgeKey) -> bool:
        """A lookup sent to an unmanaged pod in kube-system (CoreDNS started before Cilium)."""
        destination = key.destination
        return (
            destination.kind == EndpointKind.UNMANAGED
            and destination.namespace == "kube-system"
            and is_dns_port(key.protocol, key.port)
        )

    def classify(
        self,
        key: EdgeKey,
        stats: EdgeStats,
        source: _PeerRef | None,
        destination: _PeerRef | None,
    ) -> None:
        evidence = _evidence(stats)
        source_pod = source is not None and source.kind == "pod"
        destination_pod = destination is not None and destination.kind == "pod"
        if (source is not None and source_pod and not self.labels_known(source)) or (
            destination is not None and destination_pod and not self.labels_known(destination)
        ):
            # A pod whose labels are unknown cannot be a subject; it stays a peer (allowed by
            # its whole namespace) and the report says so.
            self.warnings.append(
                f"{key.key}: a pod end was seen without labels; its namespace stands for it"
            )
            for ref, identity in ((source, key.source), (destination, key.destination)):
                if ref is not None and ref.kind == "pod" and not self.labels_known(ref):
                    self.unknown_namespaces.add(identity.namespace)
        if source is not None and source_pod:
            self.senders.add(source.bits)
        if not (source_pod or destination_pod):
            self.hold(key, evidence, "neither end is a pod")
            return
        if source is None or destination is None:
            self.hold(key, evidence, "peer cannot be expressed in policy (unknown kind or address)")
            return
        if destination_pod and source.entity is Entity.HOST:
            self.implicit.append(
                ImplicitEdge(key, "from the pod's own node: always allowed", evidence)
            )
            return
        if source_pod and self.is_dns_edge(key, destination):
            client = self.subject(source.bits)
            client.dns_edges.append((key, evidence))
            client.dns_names.update(stats.dns_queries)
            if destination_pod:
                self.subject(destination.bits).dns_served.append((key, evidence))
            return
        reason = self.hold_reason(stats)
        if reason:
            self.hold(key, evidence, reason)
            return
        if source_pod and self.labels_known(source):
            client = self.subject(source.bits)
            client.egress.append(_Half(key, evidence, destination, frozenset(stats.dns_names)))
            client.dns_names.update(stats.dns_names)
        if destination_pod and self.labels_known(destination):
            server = self.subject(destination.bits)
            server.ingress.append(_Half(key, evidence, source, frozenset()))

    def hold_reason(self, stats: EdgeStats) -> str:
        settings, now = self.settings, self.now or 0.0
        if stats.count < settings.min_flows:
            return f"seen {stats.count} times, fewer than min_flows={settings.min_flows}"
        age = now - stats.first_seen
        if age < settings.min_age:
            return f"first seen {age:.0f}s ago, younger than min_age={settings.min_age:g}s"
        if settings.expire_after is not None and now - stats.last_seen > settings.expire_after:
            idle = now - stats.last_seen
            return f"not seen for {idle:.0f}s, longer than expire_after={settings.expire_after:g}s"
        return ""

    def hold(self, key: EdgeKey, evidence: Evidence, reason: str) -> None:
        self.pending.append(PendingEdge(key, reason, evidence))

    # -- step 3: policies -----------------------------------------------------------------
    def policy_for(self, bits: int, subject: _Subject) -> ProposedPolicy:
        universe = self.universe
        members = [universe.members[i] for i in iter_bits(bits)]
        namespace = members[0].namespace
        selector, selected = exact_selector(universe, bits, namespace)
        name = self.policy_name(bits, namespace, selector)
        policy_key = f"{namespace}/{name}"
        if selected != bits:
            self.widened.append(
                Widening(policy_key, "subject", universe.names(selected & ~bits),
                         "no label selector tells these workloads apart from the subject")
            )  # fmt: skip
        workload = ";".join(sorted(Identity("pod", m.namespace, m.labels).key for m in members))
        builder = _RuleBuilder(self, policy_key, namespace, bits)
        ingress = builder.rules(INGRESS, subject.ingress)
        egress = builder.rules(EGRESS, subject.egress)
        if bits & self.dns_bits and self.settings.dns:
            ingress.append(builder.dns_server_rule(subject.dns_served))
        if self.settings.dns and self.needs_cluster_dns(bits, subject):
            egress.append(builder.dns_rule(subject.dns_edges, subject.dns_names))
        return ProposedPolicy(
            name=name,
            namespace=namespace,
            subject=selector,
            workload=workload,
            ingress=tuple(sorted(ingress, key=lambda r: r.sort_key)),
            egress=tuple(sorted(egress, key=lambda r: r.sort_key)),
        )

    def needs_cluster_dns(self, bits: int, subject: _Subject) -> bool:
        """Whether a workload's egress gets the cluster-DNS rule.

        A workload that queried the cluster DNS, or connected anywhere at all, resolves names
        and will again tomorrow (new addresses, a restart), so it gets DNS even if its lookups
        were not captured. A workload that sent nothing all day gains nothing from DNS but a
        channel out (DNS tunnelling), so its isolated egress stays closed. The DNS servers
        themselves resolve through their upstreams (``dnsPolicy: Default``; a CoreDNS asking
        the cluster DNS is a forwarding loop its ``loop`` plugin stops), which are learned as
        ordinary edges: they get the rule only when seen querying the cluster DNS.
        """
        if subject.dns_edges:
            return True
        if bits & ~self.dns_bits == 0:
            return False
        return bits in self.senders

    def policy_name(self, bits: int, namespace: str, selector: LabelSelector) -> str:
        members = [self.universe.members[i] for i in iter_bits(bits)]
        names = sorted(n for m in members for n in m.names)
        base = dns_label(names[0] if names else selector.key, 50)
        if self.name_counts.get((namespace, base), 0) > 1:
            digest = hashlib.sha256(selector.key.encode()).hexdigest()[:6]
            return f"{base}-{digest}"
        return base

    def _planned_names(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        for bits in self.subjects:
            members = [self.universe.members[i] for i in iter_bits(bits)]
            names = sorted(n for m in members for n in m.names)
            label = dns_label(names[0], 50) if names else ""
            if label:
                key = (members[0].namespace, label)
                counts[key] = counts.get(key, 0) + 1
        return counts


class _RuleBuilder:
    """Turns the half edges of one subject into rules."""

    def __init__(self, fit: _Fit, policy_key: str, namespace: str, bits: int) -> None:
        self.fit = fit
        self.policy_key = policy_key
        self.namespace = namespace
        self.bits = bits

    def rules(self, direction: str, halves: Sequence[_Half]) -> list[Rule]:
        ports_by_peer: dict[_PeerRef, set[tuple[str, int]]] = {}
        for half in halves:
            ports_by_peer.setdefault(half.peer, set()).add((half.edge.protocol, half.edge.port))
        groups: dict[frozenset[tuple[str, int]], list[_PeerRef]] = {}
        for peer, ports in ports_by_peer.items():
            groups.setdefault(frozenset(ports), []).append(peer)
        self.internet = self.internet_families(direction, halves)
        rules = [
            self.rule(direction, ports, peers, halves)
            for ports, peers in sorted(groups.items(), key=lambda item: sorted(item[0]))
        ]
        return self.merge_same_peers(direction, rules)

    def rule(
        self,
        direction: str,
        ports: frozenset[tuple[str, int]],
        peer_refs: list[_PeerRef],
        halves: Sequence[_Half],
    ) -> Rule:
        wanted = set(peer_refs)
        mine = [h for h in halves if h.peer in wanted]
        positives = 0
        addresses: dict[str, set[str]] = {}
        entities: set[Entity] = set()
        hidden: set[str] = set()
        hidden_nodes: set[Entity] = set()
        for half in mine:
            ref = half.peer
            if ref.kind == "pod":
                positives |= ref.bits
            elif ref.kind == "address":
                addresses.setdefault(ref.address, set()).update(half.names)
            elif ref.kind == "hidden" and ref.entity is not None:
                hidden_nodes.add(ref.entity)  # a node Calico named without its address
            elif ref.kind == "hidden":
                hidden.add(ref.address)
            elif ref.entity is not None:
                entities.add(ref.entity)
        peers: list[Peer] = []
        admits: list[str] = []
        every_namespace = bool(positives) and self.reaches_every_namespace(direction, positives)
        if every_namespace:
            peers.append(PodPeer(pods=None, namespaces=LabelSelector()))
        elif positives:
            choice = self.fit.peers.choose(
                positives, self.namespace, self.fit.settings.max_overreach
            )
            peers.extend(choice.peers)
            admits.extend(self.fit.universe.names(choice.admitted & ~positives))
        if addresses and direction == EGRESS:
            admits.extend(self.add_resolved(addresses))
        if addresses:
            cidr_peers, cidr_admits = self.cidr_peers(direction, addresses)
            peers.extend(cidr_peers)
            admits.extend(cidr_admits)
        for stand_in in sorted(hidden - FOLDED_CLASSES):
            hidden_cidrs, hidden_admits = hidden_peers(stand_in, self.fit.cluster_cidrs)
            peers.extend(hidden_cidrs)
            admits.append(hidden_admits)
        for stand_in in sorted(hidden & FOLDED_CLASSES):
            peers.extend(class_peers(stand_in, self.fit.cluster_cidrs))
        folded = self.folded_into(mine)
        if folded:
            admits.append(fold_admits(max(folded.values()), folded))
        for entity in sorted(entities):
            entity_peer, entity_admits = self.entity_peer(entity)
            peers.append(entity_peer)
            admits.extend(entity_admits)
        for entity in sorted(hidden_nodes):
            # Named as the node it is, so that Cilium writes the entity, not addresses.
            cidrs, hidden_admits = hidden_node_blocks(self.fit.node_cidrs)
            peers.append(EntityPeer(entity, cidrs))
            admits.append(hidden_admits)
        only_pods = not addresses and not entities and not hidden and not hidden_nodes
        specs = self.port_specs(direction, ports, positives if only_pods else -1)
        if every_namespace:
            admits.append(self.every_namespace_admits(positives))
        purpose = ""
        if direction == INGRESS and only_pods and self.all_monitoring(positives):
            purpose = MONITORING_PURPOSE
        rule = Rule(
            peers=tuple(sorted(set(peers), key=peer_sort_key)),
            ports=specs,
            edges=tuple(sorted({h.edge for h in mine})),
            evidence=_combine({h.edge: h.evidence for h in mine}),
            admits=tuple(sorted(set(admits))),
            purpose=purpose,
        )
        return rule

    def folded_into(self, halves: Sequence[_Half]) -> dict[str, int]:
        """The cap each folded peer of these halves went over."""
        counts: dict[str, int] = {}
        edges = self.fit.store.edges
        for half in halves:
            if is_folded(half.peer.address) and half.peer.kind != "pod":
                stats = edges.get(half.edge)
                folded = stats.folded if stats is not None else 0
                counts[half.peer.address] = max(counts.get(half.peer.address, 0), folded)
        return counts

    def reaches_every_namespace(self, direction: str, positives: int) -> bool:
        """Whether a cluster-wide client's egress to pods stands for every namespace. A
        monitoring scraper's targets and an ingress controller's backends come with every new
        namespace and Helm release (a ServiceMonitor, an Ingress), so one seen reaching many
        namespaces on the same ports will reach the next one tomorrow."""
        if direction != EGRESS:
            return False
        if not (self.all_monitoring(self.bits) or self.all_ingress(self.bits)):
            return False
        return len(self.namespaces_of(positives)) >= CLUSTER_WIDE_NAMESPACES_MIN

    def every_namespace_admits(self, positives: int) -> str:
        role = "an ingress controller" if self.all_ingress(self.bits) else "a monitoring scraper"
        return (
            f"{EVERY_NAMESPACE_ADMITS}: {role} seen reaching "
            f"{len(self.namespaces_of(positives))} namespaces on them, so that namespaces "
            "added later are reached too"
        )

    def all_ingress(self, bits: int) -> bool:
        members = self.fit.universe.members
        return bool(bits) and all(is_ingress_controller(members[i].labels) for i in iter_bits(bits))

    def namespaces_of(self, bits: int) -> set[str]:
        members = self.fit.universe.members
        return {members[i].namespace for i in iter_bits(bits)}

    def all_monitoring(self, bits: int) -> bool:
        members = self.fit.universe.members
        return bool(bits) and all(is_monitoring(members[i].labels) for i in iter_bits(bits))

    def merge_same_peers(self, direction: str, rules: list[Rule]) -> list[Rule]:
        """Rules whose peers came out identical become one (union of ports: same semantics)."""
        by_peers: dict[tuple[tuple[str, ...], str], list[Rule]] = {}
        for rule in rules:
            by_peers.setdefault((tuple(p.key for p in rule.peers), rule.purpose), []).append(rule)
        merged: list[Rule] = []
        for group in by_peers.values():
            first = group[0]
            if len(group) > 1:
                first = Rule(
                    peers=first.peers,
                    ports=tuple(sorted({p for r in group for p in r.ports})),
                    edges=tuple(sorted({e for r in group for e in r.edges})),
                    evidence=Evidence.combine([r.evidence for r in group]),
                    admits=tuple(sorted({a for r in group for a in r.admits})),
                    purpose=first.purpose,
                )
            if first.admits:
                self.fit.widened.append(
                    Widening(self.policy_key, direction, first.admits,
                             "selectors chosen for compactness or that cannot be narrower",
                             first)
                )  # fmt: skip
            merged.append(first)
        return merged

    # -- peers ----------------------------------------------------------------------------
    def internet_families(self, direction: str, halves: Sequence[_Half]) -> dict[int, str]:
        """Address families in which this workload's peers look like "the internet": public
        addresses in at least ``internet_min_networks`` /16 networks (unnamed ones, for
        egress). Decided once per direction, so every port set agrees."""
        threshold = self.fit.settings.internet_min_networks
        public: dict[int, dict[str, bool]] = {4: {}, 6: {}}
        for half in halves:
            address = peer_address(half.peer.address) if half.peer.kind == "address" else None
            if address is not None and is_public(address):
                named = public[address.version].get(half.peer.address, False)
                public[address.version][half.peer.address] = named or bool(half.names)
        found: dict[int, str] = {}
        for version, addresses in public.items():
            counted = [
                a
                for text, named in addresses.items()
                # Named egress destinations are identified services, not "the internet".
                if (direction == INGRESS or not named) and (a := peer_address(text)) is not None
            ]
            networks = distinct_networks(counted)
            if threshold and networks >= threshold:
                found[version] = (
                    f"any public IPv{version} address "
                    f"({len(addresses)} addresses in {networks} networks observed)"
                )
        return found

    def add_resolved(self, addresses: dict[str, set[str]]) -> list[str]:
        """Add the addresses DNS gave for the names this rule's destinations were reached by.

        A client connects to whichever address of a name its resolver hands out, so tomorrow's
        connection may go to an address of the same answer it has not used yet (a quiet client
        of a small round-robin set uses two of six in a day). Only names seen on the
        workload's own connections count, and the rule keeps its ports; addresses in the
        cluster's ranges, and sinkhole answers (unspecified, loopback, multicast, reserved),
        are never added. Returns the ``admits`` lines saying what was added.
        """
        answers = self.fit.store.dns_answers
        added: dict[str, list[str]] = {}
        for name in sorted({n for names in addresses.values() for n in names}):
            for text in _sorted_addresses(answers.get(name, ())):
                address = parse_address(text)
                if text in addresses or address is None or _never_answered(address):
                    continue
                if any(
                    address.version == c.version and address in c for c in self.fit.cluster_cidrs
                ):
                    continue
                addresses[text] = {name}
                added.setdefault(name, []).append(text)
        lines = []
        for name, found in added.items():
            shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
            lines.append(f"{shown}: DNS answers for {name}, not connected to yet")
        return lines

    def cidr_peers(
        self, direction: str, addresses: Mapping[str, set[str]]
    ) -> tuple[list[CIDRPeer], list[str]]:
        settings = self.fit.settings
        peers: list[CIDRPeer] = []
        admits: list[str] = []
        widened_families = set()
        for version, reason in sorted(self.internet.items()):
            if any(
                (a := peer_address(t)) and a.version == version and is_public(a) for t in addresses
            ):
                widened_families.add(version)
                block = internet_blocks(version, self.fit.cluster_cidrs)
                # No names: the block stands for any address, not for the names seen.
                peers.append(CIDRPeer(block.cidr, block.excepts))
                admits.append(f"{block.cidr}: {reason}")
        rest = [
            t
            for t in sorted(addresses)
            if not ((a := peer_address(t)) and a.version in widened_families and is_public(a))
        ]
        peers.extend(prefix_peers((t for t in rest if is_folded(t)), self.fit.cluster_cidrs))
        rest = [t for t in rest if not is_folded(t)]
        # Patterns are chosen over every name of the rule, so that splitting the addresses
        # into several blocks does not hide a pattern the names share.
        every_name = sorted({n for a in rest for n in addresses[a]})
        selectors = _fqdns(every_name, settings)
        for block in aggregate(
            rest, waste=settings.cidr_waste, cluster_cidrs=self.fit.cluster_cidrs
        ):
            names = sorted({n for a in block.addresses for n in addresses[a]})
            fqdns = _selectors_for(names, selectors)
            peers.append(CIDRPeer(block.cidr, block.excepts, tuple(names), fqdns))
            if block.unobserved:
                admits.append(f"{block.cidr}{POOL_MARK}{pool_evidence(block, names)}")
        return peers, admits

    def entity_peer(self, entity: Entity) -> tuple[EntityPeer, list[str]]:
        """The peer for ``entity`` and what its addresses admit beyond those seen."""
        fit = self.fit
        if entity in (Entity.UNMANAGED, Entity.INGRESS):
            # Cilium-only identities: no address stands for them in other dialects.
            return EntityPeer(entity), []
        if entity is Entity.KUBE_APISERVER:
            addresses = fit.entity_addresses[Entity.KUBE_APISERVER]
            cidrs = tuple(host_cidr(a) for a in _sorted_addresses(addresses))
            return EntityPeer(entity, cidrs), []
        blocks = fit.nodes
        return EntityPeer(entity, blocks.cidrs), list(blocks.admits)

    # -- ports ----------------------------------------------------------------------------
    def port_specs(
        self, direction: str, ports: Iterable[tuple[str, int]], destinations: int
    ) -> tuple[PortSpec, ...]:
        """Port specs for a rule. ``destinations``: the pod members serving on these ports for
        egress (-1 when the rule also reaches non-pods, so names cannot apply)."""
        serving = self.bits if direction == INGRESS else destinations
        name_of = self.port_namer(serving)
        specs: list[PortSpec] = []
        numeric: dict[str, list[int]] = {}
        for protocol, port in sorted(ports):
            if not Protocol(protocol).has_ports:
                # ICMP: the port is the message type; 0 (not recorded) is every type.
                specs.append(PortSpec(protocol, port or None))
                continue
            if port == 0:
                specs.append(PortSpec(protocol))
                continue
            name = name_of(protocol, port)
            if name:
                specs.append(PortSpec(protocol, name=name))
            else:
                numeric.setdefault(protocol, []).append(port)
        for protocol, numbers in numeric.items():
            specs.extend(_ranges(protocol, numbers, self.fit.settings.port_range_min))
        every = {s.protocol for s in specs if s.port is None and not s.name}
        kept = {s for s in specs if s.protocol not in every or (s.port is None and not s.name)}
        return tuple(sorted(kept, key=lambda s: s.order))

    def port_namer(self, serving: int) -> Callable[[str, int], str]:
        """Names a port only when every serving workload names it the same way."""
        fit = self.fit
        if not fit.settings.named_ports or serving <= 0 or fit.inventory.inferred:
            return lambda protocol, port: ""
        members = [fit.universe.members[i] for i in iter_bits(serving)]

        def name_of(protocol: str, port: int) -> str:
            names = set()
            for member in members:
                found = {p.name for p in member.ports if p.port == port and p.protocol == protocol}
                if len(found) != 1 or "" in found:
                    return ""
                names |= found
            return names.pop() if len(names) == 1 else ""

        return name_of

    # -- infrastructure rules -------------------------------------------------------------
    def dns_rule(self, edges: list[tuple[EdgeKey, Evidence]], names: set[str]) -> Rule:
        return Rule(
            peers=self.fit.dns_peers,
            ports=self.dns_port_specs(),
            edges=tuple(sorted({e for e, _ in edges})),
            evidence=_combine(dict(edges)),
            dns_names=tuple(sorted(names)),
            dns_selectors=fqdn_selectors(names),
            purpose=DNS_PURPOSE,
        )

    def dns_server_rule(self, edges: list[tuple[EdgeKey, Evidence]]) -> Rule:
        fit = self.fit
        clients = 0
        for key, _ in edges:
            clients |= fit.resolve_pod(key.source)
        admits = fit.universe.names(fit.universe.all_bits & ~clients)
        rule = Rule(
            peers=(PodPeer(pods=None, namespaces=LabelSelector()),),
            ports=self.dns_port_specs(),
            edges=tuple(sorted({e for e, _ in edges})),
            evidence=_combine(dict(edges)),
            admits=admits,
            purpose=DNS_PURPOSE,
        )
        if admits:
            fit.widened.append(
                Widening(self.policy_key, INGRESS, admits,
                         "cluster DNS answers every pod, observed asking or not", rule)
            )  # fmt: skip
        return rule

    def dns_port_specs(self) -> tuple[PortSpec, ...]:
        return tuple(
            PortSpec(protocol, port)
            for port in self.fit.dns_ports.ports
            for protocol in ("TCP", "UDP")
        )


def _ranges(protocol: str, numbers: list[int], minimum: int) -> list[PortSpec]:
    """Single ports, with runs of at least ``minimum`` consecutive ports as one range."""
    specs: list[PortSpec] = []
    numbers = sorted(set(numbers))
    start = 0
    while start < len(numbers):
        end = start
        while end + 1 < len(numbers) and numbers[end + 1] == numbers[end] + 1:
            end += 1
        if minimum and end - start + 1 >= minimum:
            specs.append(PortSpec(protocol, numbers[start], numbers[end]))
        else:
            specs.extend(PortSpec(protocol, n) for n in numbers[start : end + 1])
        start = end + 1
    return specs


def _combine(by_edge: Mapping[EdgeKey, Evidence]) -> Evidence:
    return Evidence.combine([by_edge[key] for key in sorted(by_edge)])


def _sorted_addresses(addresses: Iterable[str]) -> list[str]:
    parsed = [(a, parse_address(a)) for a in addresses]
    return [
        a
        for a, p in sorted(parsed, key=lambda item: (
            (item[1].version, int(item[1])) if item[1] is not None else (9, 0), item[0]))
    ]  # fmt: skip


def _fqdns(names: Sequence[str], settings: LearnConfig) -> tuple[str, ...]:
    """FQDN selectors for ``names`` (:mod:`learner.model.fqdn`)."""
    if not names:
        return ()
    selectors = fqdn_selectors(tuple(names), max_overreach=settings.max_overreach)
    return tuple(sorted(str(s) for s in selectors))


def _selectors_for(names: Sequence[str], selectors: Sequence[str]) -> tuple[str, ...]:
    """The rule's FQDN selectors that admit at least one of ``names``."""
    if not names:
        return ()
    return tuple(s for s in selectors if any(fqdn_selector_matches(s, n) for n in names))


def _never_answered(address: IPAddress) -> bool:
    """An answer no connection goes out to: a resolver's sinkhole or a non-unicast address."""
    return (
        address.is_unspecified or address.is_loopback or address.is_multicast or address.is_reserved
    )
