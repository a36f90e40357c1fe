"""The settings of a learning run: one :class:`LearnConfig`, whatever the entry point.

A :class:`LearnConfig` checks itself when it is built (from flags or from code): a value out
of range raises :class:`~learner.model.errors.ConfigError` naming the setting, and nothing
downstream checks again.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from learner.model.errors import ConfigError
from learner.model.external import DEFAULT_MAX_EXTERNAL_PEERS

LEARNERS = ("least-privilege", "baseline")
DEFAULT_MAX_MALFORMED = 10.0
"""Percent of malformed records above which a run writes nothing (``--max-malformed``)."""


class CNI(StrEnum):
    """The CNI that enforces the policies (its matching rules: :mod:`learner.semantics.cni`)."""

    GENERIC = "generic"
    """Match addresses as the policy says (Calico, and CNIs without identities)."""
    CILIUM = "cilium"
    CALICO = "calico"


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


LEARNING = "learning"
"""Metadata key of the settings the least-privilege learner reads; the report names the ones
that differ from their default (``least-privilege (max_overreach=2)``)."""


def _learning(default: Any) -> Any:
    return field(default=default, metadata={LEARNING: True})


@dataclass(frozen=True)
class LearnConfig:
    """Every setting of a learning run, whatever the entry point."""

    include_dropped: bool = False
    namespaces: tuple[str, ...] = ()
    ignore_labels: tuple[str, ...] = ()
    learner: str = "least-privilege"
    """One of :data:`LEARNERS`."""
    max_overreach: int = _learning(0)
    """Unobserved workloads a rule may admit to save selector terms."""
    min_flows: int = _learning(1)
    """Edges seen fewer times are pending, not allowed."""
    min_age: float = _learning(0.0)
    """Seconds an edge must have been known for before it is allowed."""
    expire_after: float | None = _learning(None)
    """Edges not seen for this many seconds are dropped (None: never)."""
    now: float | None = _learning(None)
    """The time that ages are measured against; default: the newest flow seen."""
    port_range_min: int = _learning(0)
    """Shortest run of contiguous ports written as one range (0: off)."""
    dns: bool = _learning(True)
    """Add the shared cluster-DNS rules."""
    cluster_cidrs: tuple[str, ...] = _learning(())
    """Pod/service ranges kept out of CIDR blocks (default: inferred from the flows)."""
    node_cidrs: tuple[str, ...] = _learning(())
    """The node network: rules to or from nodes allow it, so that nodes added later are
    reached (default: each group of nodes seen widened to its /16, short of the cluster's
    ranges)."""
    cidr_waste: float = _learning(32.0)
    """How many addresses a CIDR block may hold per observed one."""
    internet_min_networks: int = _learning(8)
    """Public peers in this many /16 networks stand for "the internet" (0 = never widen)."""
    named_ports: bool = _learning(False)
    """Write ports by container port name."""
    format: str = "networkpolicy"
    include_system: bool = False
    """Also write policies for system namespaces (kube-system, the CNI's own)."""
    render: RenderOptions = field(default_factory=RenderOptions)
    cni: str = "generic"
    """The CNI that enforces the policies (:class:`CNI` value): the self-check judges with its
    matching rules and the proposal uses forms that work there."""
    cidr_match_nodes: bool = False
    """Cilium runs with ``policy-cidr-match-mode: nodes`` (ipBlocks match node addresses)."""
    max_external_peers: int = DEFAULT_MAX_EXTERNAL_PEERS
    """Distinct outside addresses one edge group keeps before they are folded into prefixes,
    then into "any public/private address" (0 = no cap). A LearnConfig field, not a
    NormalizeOptions one: it bounds what the edge store keeps (every command builds its store
    from LearnConfig), while normalisation decides flow by flow and never sees the store."""

    def __post_init__(self) -> None:
        _check(
            self.learner in LEARNERS,
            "learner",
            f"must be one of {', '.join(LEARNERS)}, not {self.learner!r}",
        )
        _check(
            _is_int(self.max_overreach) and self.max_overreach >= 0,
            "max_overreach",
            f"must be a whole number >= 0, not {self.max_overreach!r}",
        )
        _check(
            _is_int(self.max_external_peers) and self.max_external_peers >= 0,
            "max_external_peers",
            f"must be a whole number >= 0 (0: no cap), not {self.max_external_peers!r}",
        )
        _check(
            _is_int(self.min_flows) and self.min_flows >= 1,
            "min_flows",
            f"must be a whole number >= 1, not {self.min_flows!r}",
        )
        _check(
            _is_number(self.min_age) and self.min_age >= 0,
            "min_age",
            f"must be >= 0 seconds, not {self.min_age!r}",
        )
        _check(
            self.expire_after is None or (_is_number(self.expire_after) and self.expire_after > 0),
            "expire_after",
            f"must be > 0 seconds, not {self.expire_after!r}",
        )
        _check(
            self.now is None or _is_number(self.now),
            "now",
            f"must be seconds since the epoch, not {self.now!r}",
        )
        _check(
            _is_int(self.port_range_min) and (self.port_range_min == 0 or self.port_range_min >= 2),
            "port_range_min",
            f"must be 0 (off) or >= 2, not {self.port_range_min!r}",
        )
        _check(
            _is_number(self.cidr_waste) and self.cidr_waste >= 1,
            "cidr_waste",
            f"must be >= 1, not {self.cidr_waste!r}",
        )
        _check(
            _is_int(self.internet_min_networks) and self.internet_min_networks >= 0,
            "internet_min_networks",
            f"must be >= 0, not {self.internet_min_networks!r}",
        )
        for setting in ("cluster_cidrs", "node_cidrs"):
            for text in getattr(self, setting):
                try:
                    ipaddress.ip_network(text, strict=False)
                except ValueError:
                    raise ConfigError(setting, f"has {text!r}, which is not a CIDR") from None

    def normalize_options(self) -> NormalizeOptions:
        return NormalizeOptions(
            include_dropped=self.include_dropped, namespaces=frozenset(self.namespaces)
        )

    def changed_learning_settings(self) -> dict[str, object]:
        """The learner's settings that differ from their defaults, in declaration order."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.metadata.get(LEARNING) and getattr(self, f.name) != f.default
        }


def _check(ok: bool, setting: str, problem: str) -> None:
    if not ok:
        raise ConfigError(setting, problem)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
