"""Reading flow files on several cores: map files (or line ranges of one big file) to edge
stores, merge the stores.

Aggregation is a merge (counts add, first/last seen take min/max, samples union), so each
worker reads whole files, or a byte range of a big plain Hubble export cut at line starts, into
its own :class:`~learner.aggregate.EdgeStore`, and the parent folds them together in input
order: the same result as one process, on ``jobs`` cores. The same map-and-merge is how a
distributed engine would run the pipeline (see docs/performance.md).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from collectors.hubble.file import iter_flows_in_range, read_by_lines
from collectors.hubble.ranges import line_ranges
from learner.app.console import Progress
from learner.app.pipeline import detect_source, ingest, new_store, read_flows
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


RANGE_MIN_BYTES = 32 << 20
"""A file is cut into line ranges only when each range would be at least this long: below it,
starting a process costs more than it saves."""


def ingest_range(
    path: str, start: int, end: int, config: LearnConfig, strict: bool
) -> tuple[EdgeStore, CollectorStats, NormalizeStats]:
    """One worker's share of a big plain Hubble file: the lines in bytes ``[start, end)``."""
    store = new_store(config)
    collected, normalized = CollectorStats(), NormalizeStats()
    flows = iter_flows_in_range(path, start, end, strict=strict, stats=collected)
    ingest(flows, store, config, normalized)
    store.forget_endpoints()
    return store, collected, normalized


def file_ranges(path: str, source: str, jobs: int, min_bytes: int) -> list[tuple[int, int]]:
    """The line ranges to read ``path`` in: several only for a big plain Hubble export."""
    if jobs < 2 or (source if source != "auto" else detect_source(path)) != "hubble":
        return []
    if os.path.getsize(path) < 2 * min_bytes or not read_by_lines(path):
        return []
    ranges = line_ranges(path, jobs, min_bytes)
    return ranges if len(ranges) > 1 else []


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
    min_share_bytes: int = RANGE_MIN_BYTES,
) -> None:
    """Read ``inputs`` on up to ``jobs`` processes and merge everything into ``store``.

    Standard input cannot be shared between processes, so ``-`` is read here, and so are
    inputs smaller than two shares of ``min_share_bytes``.
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
    ranges = file_ranges(files[0], source, jobs, min_share_bytes) if len(files) == 1 else []
    small = sum(os.path.getsize(path) for path in files) < 2 * min_share_bytes
    if (len(files) == 1 and not ranges) or (len(files) > 1 and small):
        # Nothing worth sharing: reading it here spares starting processes.
        flows = read_flows(files, source=source, strict=strict, stats=collected)
        ingest(flows, store, config, normalized, progress)
        return
    with ProcessPoolExecutor(max_workers=min(jobs, max(len(files), len(ranges)))) as pool:
        if ranges:
            futures = [
                pool.submit(ingest_range, files[0], start, end, config, strict)
                for start, end in ranges
            ]
        else:
            futures = [
                pool.submit(ingest_files, share, config, source, strict)
                for share in shares(files, jobs)
            ]
        # In submission order, which is input order: the same merge, and under --strict the
        # same first error, as one reader.
        for done, future in enumerate(futures, start=1):
            merge_part(store, collected, normalized, future.result())
            if progress is not None:
                progress.update(done, len(futures), unit="shares")
    if progress is not None:
        progress.close()


def merge_part(
    store: EdgeStore,
    collected: CollectorStats,
    normalized: NormalizeStats,
    part: tuple[EdgeStore, CollectorStats, NormalizeStats],
) -> None:
    part_store, part_collected, part_normalized = part
    store.merge(part_store)
    collected.merge(part_collected)
    normalized.merge(part_normalized)
