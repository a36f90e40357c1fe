"""The settings of a learning run: one :class:`LearnConfig`, whatever the entry point."""

from __future__ import annotations

from dataclasses import dataclass, field

from learner.model.external import DEFAULT_MAX_EXTERNAL_PEERS


@dataclass(frozen=True, slots=True)
class RenderOptions:
    default_deny: bool = False
    """Also write a per-namespace default-deny policy."""
    l7: bool = False
    """Emit L7 (HTTP) rules where the dialect supports them."""
    tier: str = "default"
    """Calico tier."""
    evidence: bool = True
    """Comment every rule with its evidence (flow count, first/last seen)."""


@dataclass(frozen=True, slots=True)
class NormalizeOptions:
    include_dropped: bool = False
    namespaces: frozenset[str] = frozenset()
    """When non-empty, keep only flows with a pod end in one of these namespaces."""


@dataclass(frozen=True)
class LearnConfig:
    """Every setting of a learning run, whatever the entry point."""

    include_dropped: bool = False
    namespaces: tuple[str, ...] = ()
    ignore_labels: tuple[str, ...] = ()
    learner: str = "least-privilege"
    max_overreach: int = 0
    min_flows: int = 1
    min_age: float = 0.0
    expire_after: float | None = None
    now: float | None = None
    """The time that ages are measured against; default: the newest flow seen."""
    port_range_min: int = 0
    cluster_cidrs: tuple[str, ...] = ()
    internet_min_networks: int = 8
    """Public peers in this many /16 networks stand for "the internet" (0 = never widen)."""
    format: str = "networkpolicy"
    include_system: bool = False
    """Also write policies for system namespaces (kube-system, the CNI's own)."""
    render: RenderOptions = field(default_factory=RenderOptions)
    cni: str = "generic"
    """The CNI that enforces the policies (:class:`learner.semantics.cni.CNI` value): the
    self-check judges with its matching rules and the proposal uses forms that work there."""
    cidr_match_nodes: bool = False
    """Cilium runs with ``policy-cidr-match-mode: nodes`` (ipBlocks match node addresses)."""
    max_external_peers: int = DEFAULT_MAX_EXTERNAL_PEERS
    """Distinct outside addresses one edge group keeps before they are folded into prefixes,
    then into "any public/private address" (0 = no cap). A LearnConfig field, not a
    NormalizeOptions one: it bounds what the edge store keeps (every command builds its store
    from LearnConfig), while normalisation decides flow by flow and never sees the store."""

    def normalize_options(self) -> NormalizeOptions:
        return NormalizeOptions(
            include_dropped=self.include_dropped, namespaces=frozenset(self.namespaces)
        )
