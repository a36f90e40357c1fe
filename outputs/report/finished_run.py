"""What a report is handed: a run's proposal and what it found, all computed already."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from learner.model.config import LearnConfig
from learner.model.diff_result import DiffResult
from learner.model.edges import EdgeStore
from learner.model.policy import Proposal
from learner.model.run_stats import CollectorStats, NormalizeStats
from outputs.report.risks import Risk


@dataclass(frozen=True)
class FinishedRun:
    proposal: Proposal
    store: EdgeStore
    collected: CollectorStats
    normalized: NormalizeStats
    config: LearnConfig
    risks: list[Risk]
    diff: DiffResult | None = None
    """The comparison with the policies in force, when the run made one."""
    statuses: Mapping[str, str] | None = None
    """Workload → Learning/Stabilizing/Stable, for a live learner's proposal."""
