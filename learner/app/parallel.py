"""Reading many flow files on several cores: map files to edge stores, merge the stores.

Aggregation is a commutative merge (counts add, first/last seen take min/max, samples union),
so each worker reads whole files into its own :class:`~learner.aggregate.EdgeStore` and the
parent folds them together: the same result as one process, on ``jobs`` cores. The same
map-and-merge is how a distributed engine would run the pipeline (see docs/performance.md).

Workers report how far they are (flows, bytes) in shared counters, one slot per share, which
the parent sums into one progress display while it waits.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, wait
from typing import TYPE_CHECKING

from learner.app.pipeline import ingest, new_store, read_flows
from learner.app.progress import ProgressSink
from learner.model.config import LearnConfig
from learner.model.edges import EdgeStore
from learner.model.input_files import expand_inputs
from learner.model.run_stats import CollectorStats, NormalizeStats

POLL_SECONDS = 0.2
"""How often the parent sums the workers' counters while it waits."""

if TYPE_CHECKING:
    from multiprocessing.sharedctypes import SynchronizedArray

    Counters = SynchronizedArray[int]
_shared: tuple[Counters, Counters] | None = None  # noqa: F821 - only for the type checker
"""In a worker: the (flows, bytes) counters of every share, set by :func:`_share_counters`."""


def _share_counters(items: Counters, positions: Counters) -> None:
    global _shared
    _shared = (items, positions)


class SharedSlot:
    """A worker's progress: written to its share's slot of the shared counters."""

    def __init__(self, slot: int) -> None:
        self.slot = slot

    def update(self, items: int, position: int | None = None) -> None:
        if _shared is None:
            return
        _shared[0][self.slot] = items
        if position is not None:
            _shared[1][self.slot] = position

    def close(self) -> None:
        pass


def ingest_files(
    paths: Sequence[str], config: LearnConfig, source: str, strict: bool, slot: int | None = None
) -> tuple[EdgeStore, CollectorStats, NormalizeStats]:
    """One worker's share: read ``paths`` into a fresh store."""
    store = new_store(config)
    collected, normalized = CollectorStats(), NormalizeStats()
    ingest(
        read_flows(paths, source=source, strict=strict, stats=collected),
        store,
        config,
        normalized,
        None if slot is None else SharedSlot(slot),
    )
    store.forget_endpoints()
    return store, collected, normalized


def shares(paths: Sequence[str], jobs: int) -> list[list[str]]:
    """Files dealt to ``jobs`` workers, largest first, so shares end up about equal in bytes."""
    sized = sorted(paths, key=lambda p: (-os.path.getsize(p), p))
    buckets: list[tuple[int, list[str]]] = [(0, []) for _ in range(jobs)]
    for path in sized:
        size, files = min(buckets, key=lambda b: b[0])
        buckets.remove((size, files))
        files.append(path)
        buckets.append((size + os.path.getsize(path), files))
    return [sorted(files) for _, files in buckets if files]


def parallel_ingest(
    inputs: Sequence[str],
    store: EdgeStore,
    config: LearnConfig,
    *,
    jobs: int,
    source: str = "auto",
    strict: bool = False,
    collected: CollectorStats,
    normalized: NormalizeStats,
    progress: ProgressSink | None = None,
) -> None:
    """Read ``inputs`` on up to ``jobs`` processes and merge everything into ``store``.

    Standard input cannot be shared between processes, so ``-`` is read here (before the
    files, without progress: its size is unknown).
    """
    paths = expand_inputs(inputs)
    files = [p for p in paths if p != "-"]
    if "-" in paths:
        ingest(
            read_flows(["-"], source=source, strict=strict, stats=collected),
            store,
            config,
            normalized,
        )
    try:
        if files:
            _map_and_merge(
                files, store, config, jobs, source, strict, collected, normalized, progress
            )
    finally:
        if progress is not None:
            progress.close()


def _map_and_merge(
    files: list[str],
    store: EdgeStore,
    config: LearnConfig,
    jobs: int,
    source: str,
    strict: bool,
    collected: CollectorStats,
    normalized: NormalizeStats,
    progress: ProgressSink | None,
) -> None:
    dealt = shares(files, jobs)
    items = multiprocessing.Array("q", len(dealt))
    positions = multiprocessing.Array("q", len(dealt))
    with ProcessPoolExecutor(
        max_workers=min(jobs, len(files)),
        initializer=_share_counters,
        initargs=(items, positions),
    ) as pool:
        futures = [
            pool.submit(ingest_files, share, config, source, strict, slot)
            for slot, share in enumerate(dealt)
        ]
        for future in futures:  # merged in order, so the result never depends on timing
            while progress is not None and not future.done():
                wait([future], timeout=POLL_SECONDS)
                progress.update(sum(items[:]), sum(positions[:]))
            part, part_collected, part_normalized = future.result()
            store.merge(part)
            collected.merge(part_collected)
            normalized.merge(part_normalized)
        if progress is not None:
            progress.update(sum(items[:]), sum(positions[:]))
