"""Reading many flow files on several cores: map files to edge stores, merge the stores.

Aggregation is a commutative merge (counts add, first/last seen take min/max, samples union),
so each worker reads whole files into its own :class:`~learner.aggregate.EdgeStore` and the
parent folds them together: the same result as one process, on ``jobs`` cores. The same
map-and-merge is how a distributed engine would run the pipeline (see docs/performance.md).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from learner.app.console import Progress
from learner.app.pipeline import ingest, new_store, read_flows
from learner.model.config import LearnConfig
from learner.model.edges import EdgeStore
from learner.model.input_files import expand_inputs
from learner.model.run_stats import CollectorStats, NormalizeStats


def ingest_files(
    paths: Sequence[str], config: LearnConfig, source: str, strict: bool
) -> tuple[EdgeStore, CollectorStats, NormalizeStats]:
    """One worker's share: read ``paths`` into a fresh store."""
    store = new_store(config)
    collected, normalized = CollectorStats(), NormalizeStats()
    ingest(
        read_flows(paths, source=source, strict=strict, stats=collected), store, config, normalized
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
    progress: Progress | None = None,
) -> None:
    """Read ``inputs`` on up to ``jobs`` processes and merge everything into ``store``.

    Standard input cannot be shared between processes, so ``-`` is read here.
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
    if not files:
        return
    with ProcessPoolExecutor(max_workers=min(jobs, len(files))) as pool:
        futures = [
            pool.submit(ingest_files, share, config, source, strict)
            for share in shares(files, jobs)
        ]
        for done, future in enumerate(futures, start=1):
            part, part_collected, part_normalized = future.result()
            store.merge(part)
            collected.merge(part_collected)
            normalized.merge(part_normalized)
            if progress is not None:
                progress.update(done, len(futures), unit="shares")
    if progress is not None:
        progress.close()
