"""What a run read and set aside: the collectors' and normalisation's counters, for summaries and the report."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from learner.model.errors import InputError
from learner.model.flow import Flow

MAX_REPORTED_ERRORS = 5


@dataclass
class CollectorStats:
    records: int = 0
    """Lines or records read, of any kind."""
    flows: int = 0
    non_flow: Counter[str] = field(default_factory=Counter)
    """Records that are valid but not flows (lost_events, node_status, agent events...)."""
    lost_events: int = 0
    """Events the CNI reported as lost before they reached us."""
    malformed: int = 0
    errors: list[InputError] = field(default_factory=list)
    """The first few malformed records."""
    files: int = 0
    warnings: Counter[str] = field(default_factory=Counter)
    """Conditions the user should know about: message → how many records had it."""

    def bad_record(self, error: InputError, strict: bool) -> None:
        if strict:
            raise error
        self.malformed += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(error)

    def merge(self, other: CollectorStats) -> None:
        self.records += other.records
        self.flows += other.flows
        self.non_flow.update(other.non_flow)
        self.lost_events += other.lost_events
        self.malformed += other.malformed
        room = MAX_REPORTED_ERRORS - len(self.errors)
        self.errors.extend(other.errors[: max(room, 0)])
        self.files += other.files
        self.warnings.update(other.warnings)


class SkipReason(StrEnum):
    REPLY = "reply"
    PROBABLE_REPLY = "unflagged reply (service port to ephemeral port)"
    DROPPED = "dropped (use --include-dropped)"
    ERROR = "error verdict"
    UNKNOWN_VERDICT = "unknown verdict"
    NAMESPACE = "outside the selected namespaces"
    HEALTH = "cilium health check"
    NO_POD = "neither end is a pod"
    NO_PORT = "no destination port"
    ICMP_ERROR = "ICMP error message (about another exchange)"
    ICMP_LINK_LOCAL = "ICMP neighbour discovery or multicast listener message"


@dataclass
class NormalizeStats:
    seen: int = 0
    included: int = 0
    skipped: Counter[SkipReason] = field(default_factory=Counter)
    dropped_samples: list[Flow] = field(default_factory=list)
    """A few of the dropped/errored flows set aside, for the report."""

    def merge(self, other: NormalizeStats) -> None:
        self.seen += other.seen
        self.included += other.included
        self.skipped.update(other.skipped)
        room = 20 - len(self.dropped_samples)
        self.dropped_samples.extend(other.dropped_samples[: max(room, 0)])
