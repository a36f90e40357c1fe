"""Applying what tallied repeat lines add (see :mod:`learner.model.repeats`)."""

from __future__ import annotations

from learner.ingest.normalize import skip_reason
from learner.model.config import NormalizeOptions
from learner.model.edges import EdgeKey, EdgeStore
from learner.model.repeats import Repeats, TallyState
from learner.model.run_stats import NormalizeStats


def apply_repeats(
    repeats: Repeats, store: EdgeStore, options: NormalizeOptions, stats: NormalizeStats
) -> set[EdgeKey]:
    """Count every tallied line as normalisation and ``store`` would have, one by one.
    Returns the edges that changed."""
    changed: set[EdgeKey] = set()
    for tally in repeats.tally():
        count = tally.count
        stats.seen += count
        if tally.state is TallyState.EDGE and tally.edge is not None:
            stats.included += count
            changed.add(
                store.add_repeats(
                    tally.edge, tally.direction, count * tally.weight, tally.first, tally.last
                )
            )
        else:
            reason = tally.reason
            if reason is None and tally.flow is not None:
                reason = skip_reason(tally.flow, options)
            if tally.state is not TallyState.SET_ASIDE or reason is None:
                raise AssertionError(f"a tally in state {tally.state} cannot be applied")
            stats.skipped[reason] += count
        tally.count = 0
    return changed
