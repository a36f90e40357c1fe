"""The format-neutral policy model: what the learner proposes and every renderer translates.

Semantics follow Kubernetes NetworkPolicy v1 (the common denominator); richer dialects
(Cilium, Calico) render the same rules with their own vocabulary and never re-learn anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from learner.model.edges import EdgeKey
from learner.model.flow import Labels

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""Set by the control plane on every namespace, immutable: the way to select a namespace by name."""


class Operator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


@dataclass(frozen=True, slots=True, order=True)
class Requirement:
    key: str
    operator: Operator
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, order=True)
class LabelSelector:
    """A Kubernetes label selector. The empty selector matches everything (what a selector
    matches is the semantics engine's question: :func:`learner.semantics.selector_matches`)."""

    match_labels: Labels = ()
    match_expressions: tuple[Requirement, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.match_labels and not self.match_expressions

    @property
    def key(self) -> str:
        parts = [f"{k}={v}" for k, v in self.match_labels]
        for r in self.match_expressions:
            if r.values:
                parts.append(f"{r.key} {r.operator} ({','.join(r.values)})")
            else:
                parts.append(f"{r.operator}({r.key})")
        return ",".join(parts) or "<all>"


def namespace_name_selector(namespace: str) -> LabelSelector:
    return LabelSelector(match_labels=((NAMESPACE_NAME_LABEL, namespace),))


@dataclass(frozen=True, slots=True, order=True)
class PodPeer:
    """Pods, as a NetworkPolicy peer.

    ``namespaces`` None: the policy's own namespace. ``pods`` None: every pod of the selected
    namespaces. Both set: pods matching ``pods`` inside namespaces matching ``namespaces``.
    """

    pods: LabelSelector | None = None
    namespaces: LabelSelector | None = None

    @property
    def key(self) -> str:
        ns = "<own namespace>" if self.namespaces is None else f"ns({self.namespaces.key})"
        pods = "<all pods>" if self.pods is None else self.pods.key
        return f"{ns}/{pods}"


@dataclass(frozen=True, slots=True, order=True)
class CIDRPeer:
    """Addresses outside the cluster."""

    cidr: str
    excepts: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    """DNS names observed for addresses in this block (for comments and warnings)."""
    fqdns: tuple[str, ...] = ()
    """FQDN selectors (exact names, or patterns with ``*``) a DNS-aware dialect may use instead."""

    @property
    def key(self) -> str:
        return self.cidr + (f" except {','.join(self.excepts)}" if self.excepts else "")


class Entity(StrEnum):
    """Reserved peers a dialect may name directly (Cilium entities)."""

    WORLD = "world"
    HOST = "host"
    REMOTE_NODE = "remote-node"
    KUBE_APISERVER = "kube-apiserver"
    CLUSTER = "cluster"
    UNMANAGED = "unmanaged"
    INGRESS = "ingress"


@dataclass(frozen=True, slots=True, order=True)
class EntityPeer:
    """A reserved peer. ``cidrs`` is how plain NetworkPolicy must spell it (node or API IPs)."""

    entity: Entity
    cidrs: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"entity:{self.entity}"


Peer = PodPeer | CIDRPeer | EntityPeer


@dataclass(frozen=True, slots=True, order=True)
class PortSpec:
    protocol: str
    """TCP, UDP, SCTP, ICMPv4 or ICMPv6."""
    port: int | None = None
    """The port; for ICMP the message type (None: every type)."""
    end_port: int | None = None
    name: str = ""
    """Named container port, used instead of ``port`` when set."""

    @property
    def order(self) -> tuple[str, int, int, str]:
        """A sort key that also orders "every port" (None) against numbers: first."""
        return (
            self.protocol,
            -1 if self.port is None else self.port,
            self.end_port or 0,
            self.name,
        )

    @property
    def key(self) -> str:
        if self.name:
            return f"{self.name}/{self.protocol}"
        if self.port is None:
            return f"any/{self.protocol}"
        if self.end_port:
            return f"{self.port}-{self.end_port}/{self.protocol}"
        return f"{self.port}/{self.protocol}"


@dataclass(frozen=True, slots=True, order=True)
class HTTPRule:
    method: str
    path: str
    """A regular expression over the path (Cilium ``rules.http.path`` semantics)."""


@dataclass(frozen=True, slots=True)
class Evidence:
    flows: int
    first_seen: float
    last_seen: float

    @staticmethod
    def combine(items: list[Evidence]) -> Evidence:
        if not items:
            return Evidence(0, 0.0, 0.0)
        return Evidence(
            sum(i.flows for i in items),
            min(i.first_seen for i in items),
            max(i.last_seen for i in items),
        )


@dataclass(frozen=True, slots=True)
class Rule:
    """One ingress or egress rule: any of ``peers`` on any of ``ports``.

    Empty ``peers`` means every peer; empty ``ports`` means every port.
    """

    peers: tuple[Peer, ...]
    ports: tuple[PortSpec, ...]
    edges: tuple[EdgeKey, ...] = ()
    """The observed edges this rule stands for."""
    evidence: Evidence = Evidence(0, 0.0, 0.0)
    admits: tuple[str, ...] = ()
    """Workloads or addresses the rule admits that were never observed (its overreach)."""
    http: tuple[HTTPRule, ...] = ()
    """Optional L7 restriction, for dialects that support it."""
    dns_names: tuple[str, ...] = ()
    """For a DNS rule: the names the workload looked up."""
    dns_selectors: tuple[str, ...] = ()
    """For a DNS rule: the FQDN selectors the learner chose for ``dns_names`` (what a
    DNS-aware dialect lets the proxy see; invalid names left out)."""
    purpose: str = ""
    """Why the rule exists when it is not plain observed traffic, e.g. ``cluster DNS``."""

    @property
    def sort_key(self) -> tuple[str, str, str]:
        return (
            self.purpose,
            ";".join(p.key for p in self.peers),
            ";".join(p.key for p in self.ports),
        )


@dataclass(frozen=True, slots=True)
class ProposedPolicy:
    """The policy for one workload. ``None`` rules: the direction is not isolated."""

    name: str
    namespace: str
    subject: LabelSelector
    workload: str
    """Identity key of the workload the policy is for."""
    ingress: tuple[Rule, ...] | None
    egress: tuple[Rule, ...] | None

    @property
    def policy_types(self) -> tuple[str, ...]:
        types = []
        if self.ingress is not None:
            types.append("Ingress")
        if self.egress is not None:
            types.append("Egress")
        return tuple(types)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class PendingEdge:
    """An observed edge left out of the proposal, and why (below --min-flows, expired, ...)."""

    edge: EdgeKey
    reason: str
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class Proposal:
    """Everything the learner proposes, ready for any renderer and the report."""

    policies: tuple[ProposedPolicy, ...]
    namespaces: tuple[str, ...] = ()
    """Namespaces the proposal covers (for per-namespace defaults such as default-deny)."""
    dns_peers: tuple[Peer, ...] = ()
    """The cluster DNS as detected (empty when none was seen)."""
    pending: tuple[PendingEdge, ...] = ()
    warnings: tuple[str, ...] = ()
    learner: str = ""
    """Name and settings of the learner that made it, for the report."""
