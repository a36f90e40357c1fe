"""The result of comparing current and proposed policies (see :mod:`learner.diff`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from learner.model.edges import EdgeKey


@dataclass(frozen=True, slots=True)
class EdgeChange:
    """An observed edge whose verdict differs between current and proposed policies."""

    edge: EdgeKey
    flows: int
    current: str
    """Why the current policies decide as they do (deciding policies, or 'not isolated')."""
    proposed: str


@dataclass(frozen=True, slots=True)
class PairChange:
    """A workload pair × port whose reachability changes (from the inventory, observed or not)."""

    source: str
    destination: str
    port: str
    allowed_now: bool


@dataclass(frozen=True, slots=True)
class UnusedRule:
    policy: str
    """``namespace/name`` and file."""
    direction: str
    index: int
    summary: str


@dataclass
class DiffResult:
    newly_blocked: list[EdgeChange] = field(default_factory=list)
    newly_allowed: list[EdgeChange] = field(default_factory=list)
    blocked_both: int = 0
    """Observed edges denied by both (e.g. dropped flows included for review)."""
    unchanged: int = 0
    pairs_newly_allowed: list[PairChange] = field(default_factory=list)
    pairs_newly_denied: list[PairChange] = field(default_factory=list)
    pairs_total: int = 0
    unused_rules: list[UnusedRule] = field(default_factory=list)
    text: dict[str, str] = field(default_factory=dict)
    """Unified diff per changed file (path relative to the compared directories)."""
    added_files: list[str] = field(default_factory=list)
    removed_files: list[str] = field(default_factory=list)
    changed_files: list[str] = field(default_factory=list)
    current_label: str = "current"
    proposed_label: str = "proposed"

    @property
    def any_change(self) -> bool:
        return bool(
            self.newly_blocked
            or self.newly_allowed
            or self.pairs_newly_allowed
            or self.pairs_newly_denied
            or self.added_files
            or self.removed_files
            or self.changed_files
        )
