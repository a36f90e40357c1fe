"""One learning model for batch and live learning: an edge store backed by a state file.

``ingest`` (files) and ``learn`` (a gRPC stream) both feed normalised flows to
:meth:`LearningSession.add`, and both save through :meth:`LearningSession.capture` +
:meth:`LearningSession.write`: capture serialises what changed since the last save (cheap, done
under the caller's lock), write commits it in one transaction (outside the lock). Counters saved
are cumulative across runs: what the file held when the session opened plus this run's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from learner.app.pipeline import new_store
from learner.ingest.repeats import apply_repeats
from learner.ingest.state import PositionLike, SaveBatch, StateStore
from learner.model.config import LearnConfig
from learner.model.edges import EdgeKey
from learner.model.flow import Flow
from learner.model.repeats import Repeats
from learner.model.run_stats import CollectorStats, NormalizeStats, SkipReason

__all__ = ["LearningSession", "stats_from_counters"]


class LearningSession:
    """The in-memory model of a state file, and what changed since it was last saved."""

    def __init__(self, state: StateStore, config: LearnConfig) -> None:
        self.state = state
        self.config = config
        self.store = new_store(config)
        self._removed: set[EdgeKey] = set()
        self._folded_into: set[EdgeKey] = set()
        self._removed_denied: set[EdgeKey] = set()
        self._folded_denied: set[EdgeKey] = set()
        if self.store.peer_cap is not None:
            # Edges the cap folds (on load or later) are replaced in the file at the next save.
            self.store.peer_cap.removed = self._removed
            self.store.peer_cap.folded_into = self._folded_into
        if self.store.denied_cap is not None:
            self.store.denied_cap.removed = self._removed_denied
            self.store.denied_cap.folded_into = self._folded_denied
        state.load_into(self.store)
        self.normalized = NormalizeStats()
        self.collected = CollectorStats()
        self.counter_sources: list[Callable[[], Mapping[str, int]]] = []
        """More counters of this run (a stream's reconnects ...), read whenever it saves."""
        self._saved_counters = state.counters()
        self._dirty: set[EdgeKey] = set()
        self._dirty_denied: set[EdgeKey] = set()
        self.flows_since_save = 0

    def add(self, flow: Flow) -> EdgeKey:
        """Take in one normalised flow; the edge it went to."""
        edge = self.store.add(flow)
        self._dirty.add(edge)
        self.flows_since_save += 1
        return edge

    def apply_repeats(self, repeats: Repeats) -> None:
        """Take in the flows ``repeats`` tallied since the last call (the caller holds the
        lock the tallying reader holds)."""
        options = self.config.normalize_options()
        self._dirty |= apply_repeats(repeats, self.store, options, self.normalized)

    def note_answers(self, flow: Flow) -> None:
        """Take in a DNS response's addresses (saved with every capture)."""
        self.store.note_answers(flow)

    def note_denied(self, flow: Flow) -> None:
        """Take in a dropped flow set aside by normalisation (see EdgeStore.contested)."""
        self._dirty_denied.add(self.store.note_denied(flow))

    @property
    def unsaved_edges(self) -> int:
        return len(self._dirty)

    def counters(self) -> Counter[str]:
        """Cumulative counters: those saved before this session plus this session's."""
        totals = Counter(self._saved_counters)
        normalized, collected = self.normalized, self.collected
        totals["flows.seen"] += normalized.seen
        totals["flows.included"] += normalized.included
        for reason, count in normalized.skipped.items():
            totals[f"flows.skipped:{reason.name.lower()}"] += count
        totals["collector.records"] += collected.records
        totals["collector.flows"] += collected.flows
        totals["collector.malformed"] += collected.malformed
        totals["collector.lost_events"] += collected.lost_events
        for kind, count in collected.non_flow.items():
            totals[f"collector.non_flow:{kind}"] += count
        for source in self.counter_sources:
            for name, count in source().items():
                totals[name] += count
        return totals

    def capture(
        self,
        positions: Mapping[str, PositionLike] | None = None,
        files: Iterable[tuple[str, str]] = (),
    ) -> SaveBatch:
        """Serialise the changes since the last capture; the caller holds its lock."""
        self._dirty |= self._folded_into
        self._folded_into.clear()
        self._dirty_denied |= self._folded_denied
        self._folded_denied.clear()
        batch = SaveBatch.capture(
            self.store,
            self._dirty,
            positions=positions,
            counters=self.counters(),
            files=files,
            denied=self._dirty_denied,
            removed=self._removed,
            removed_denied=self._removed_denied,
        )
        self._removed.clear()
        self._removed_denied.clear()
        self._dirty = set()
        self._dirty_denied = set()
        self.flows_since_save = 0
        return batch

    def write(self, batch: SaveBatch) -> None:
        """Commit a captured batch (one transaction)."""
        self.state.write(batch)

    def save(self, positions: Mapping[str, PositionLike] | None = None) -> None:
        self.write(self.capture(positions))


def stats_from_counters(counters: Mapping[str, int]) -> tuple[CollectorStats, NormalizeStats]:
    """The cumulative statistics saved by :meth:`LearningSession.counters`, for reports."""
    collected = CollectorStats(
        records=counters.get("collector.records", 0),
        flows=counters.get("collector.flows", 0),
        lost_events=counters.get("collector.lost_events", 0),
        malformed=counters.get("collector.malformed", 0),
    )
    normalized = NormalizeStats(
        seen=counters.get("flows.seen", 0), included=counters.get("flows.included", 0)
    )
    reasons = {reason.name.lower(): reason for reason in SkipReason}
    for name, count in counters.items():
        kind, _, detail = name.partition(":")
        if kind == "collector.non_flow":
            collected.non_flow[detail] += count
        elif kind == "flows.skipped" and detail in reasons:
            normalized.skipped[reasons[detail]] += count
    return collected, normalized
