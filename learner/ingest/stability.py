"""Per-workload learning status: Learning → Stabilizing → Stable.

A workload is *Learning* while it keeps gaining edges (it gained one within the last
regeneration interval), *Stabilizing* once a whole interval passed without a new edge, and
*Stable* once ``stabilization_period`` passed without one. Any new edge sends it back to
Learning. Time is the flows' own clock (the newest flow seen), not the wall clock, so a stalled
stream or a replay of old captures cannot make a workload look stable.

Everything here is derived from an :class:`~learner.aggregate.EdgeStore` (an edge's
``first_seen`` is when it was new), so it needs no bookkeeping per flow and survives restarts
with the store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from learner.model.edges import EdgeStore
from learner.model.identity import Identity

__all__ = [
    "LearningStatus",
    "WorkloadProgress",
    "status_counts",
    "status_document",
    "stream_clock",
    "workload_progress",
]


class LearningStatus(StrEnum):
    LEARNING = "Learning"
    STABILIZING = "Stabilizing"
    STABLE = "Stable"


@dataclass(frozen=True, slots=True)
class WorkloadProgress:
    identity: Identity
    name: str
    status: LearningStatus
    last_new_edge: float
    """When the workload's newest edge was first seen (epoch seconds)."""
    edges: int
    """Edges with this workload at either end."""
    stable_at: float
    """When it becomes (or became) Stable unless a new edge appears."""


def stream_clock(store: EdgeStore) -> float:
    """The newest flow time in ``store`` (0 when empty)."""
    return max((stats.last_seen for stats in store.edges.values()), default=0.0)


def workload_progress(
    store: EdgeStore,
    *,
    now: float,
    learning_window: float,
    stabilization_period: float,
) -> list[WorkloadProgress]:
    """The status of every pod workload in ``store``, sorted by identity."""
    newest: dict[Identity, float] = {}
    edges: Counter[Identity] = Counter()
    for key, stats in store.edges.items():
        for identity in (key.source, key.destination):
            if identity.is_pod:
                edges[identity] += 1
                if stats.first_seen > newest.get(identity, float("-inf")):
                    newest[identity] = stats.first_seen
    progress = []
    for identity in sorted(set(store.workloads) | set(newest)):
        last_new = newest.get(identity, now)
        quiet = now - last_new
        if quiet >= stabilization_period:
            status = LearningStatus.STABLE
        elif quiet >= learning_window:
            status = LearningStatus.STABILIZING
        else:
            status = LearningStatus.LEARNING
        info = store.workloads.get(identity)
        progress.append(
            WorkloadProgress(
                identity=identity,
                name=info.name if info is not None and info.name else identity.key,
                status=status,
                last_new_edge=last_new,
                edges=edges[identity],
                stable_at=last_new + stabilization_period,
            )
        )
    return progress


def status_counts(progress: Iterable[WorkloadProgress]) -> dict[LearningStatus, int]:
    counts = Counter(p.status for p in progress)
    return {status: counts[status] for status in LearningStatus}


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def status_document(
    progress: Iterable[WorkloadProgress],
    *,
    now: float,
    learning_window: float,
    stabilization_period: float,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What ``OUT/status.json`` holds: settings, counts per status, and every workload."""
    items = list(progress)
    return {
        "clock": _iso(now) if now else None,
        "learning_window_seconds": learning_window,
        "stabilization_period_seconds": stabilization_period,
        "counts": {str(k): v for k, v in status_counts(items).items()},
        "workloads": [
            {
                "workload": p.identity.key,
                "namespace": p.identity.namespace,
                "name": p.name,
                "status": str(p.status),
                "edges": p.edges,
                "last_new_edge": _iso(p.last_new_edge),
                "stable_at": _iso(p.stable_at),
            }
            for p in items
        ],
        **(extra or {}),
    }
