"""Reading flow files on several cores: map files (or line ranges of one big file) to edge
stores, merge the stores.

Aggregation is a merge (counts add, first/last seen take min/max, samples union), so each
share (whole files, or a byte range of a big plain Hubble export cut at line starts) is read
into its own :class:`~learner.model.edges.EdgeStore`, the first by this process and the others
by ``jobs - 1`` workers, and the stores are folded together in input order: the same result as
one process, on ``jobs`` cores. The same map-and-merge is how a distributed engine would run
the pipeline (see docs/performance.md).

Every share reports how far it is (flows, bytes) in shared counters, one slot per share, which
this process sums into one progress display as it reads and while it waits.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

from collectors.hubble.file import iter_flows_in_range, read_by_lines
from collectors.hubble.ranges import line_ranges
from learner.app.pipeline import detect_source, ingest, new_store, read_flows
from learner.app.progress import ProgressSink
from learner.model.config import LearnConfig
from learner.model.edges import EdgeStore
from learner.model.input_files import expand_inputs
from learner.model.repeats import Repeats
from learner.model.run_stats import CollectorStats, NormalizeStats

Part = tuple[EdgeStore, CollectorStats, NormalizeStats]
"""What one share gives: its store and its counters."""

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


class ShownSlot:
    """The share read by the parent: its progress goes to its slot of ``counters``, and every
    share's sum is shown (the workers' slots included) as it reads."""

    def __init__(
        self, slot: int, counters: tuple[Counters, Counters], show: Callable[[], None]
    ) -> None:
        self.slot = slot
        self.counters = counters
        self.show = show

    def update(self, items: int, position: int | None = None) -> None:
        self.counters[0][self.slot] = items
        if position is not None:
            self.counters[1][self.slot] = position
        self.show()

    def close(self) -> None:
        pass


def ingest_files(
    paths: Sequence[str],
    config: LearnConfig,
    source: str,
    strict: bool,
    progress: ProgressSink | None = None,
) -> Part:
    """One share: read ``paths`` into a fresh store."""
    store = new_store(config)
    collected, normalized = CollectorStats(), NormalizeStats()
    repeats = Repeats()
    ingest(
        read_flows(paths, source=source, strict=strict, stats=collected, repeats=repeats),
        store,
        config,
        normalized,
        progress,
        repeats,
    )
    store.forget_endpoints()
    return store, collected, normalized


RANGE_MIN_BYTES = 32 << 20
"""A file is cut into line ranges only when each range would be at least this long: below it,
starting a process costs more than it saves."""


def ingest_range(
    path: str,
    start: int,
    end: int,
    config: LearnConfig,
    strict: bool,
    progress: ProgressSink | None = None,
) -> Part:
    """One share of a big plain Hubble file: the lines in bytes ``[start, end)``."""
    store = new_store(config)
    collected, normalized = CollectorStats(), NormalizeStats()
    repeats = Repeats()
    flows = iter_flows_in_range(path, start, end, strict=strict, stats=collected, repeats=repeats)
    ingest(flows, store, config, normalized, progress, repeats)
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
    progress: ProgressSink | None = None,
    min_share_bytes: int = RANGE_MIN_BYTES,
) -> None:
    """Read ``inputs`` on up to ``jobs`` processes and merge everything into ``store``.

    Standard input cannot be shared between processes, so ``-`` is read here (before the
    files, without progress: its size is unknown), and so are inputs smaller than two shares
    of ``min_share_bytes``.
    """
    paths = expand_inputs(inputs)
    files = [p for p in paths if p != "-"]
    if "-" in paths:
        # Alone, standard input gets the count and rate; beside files their sizes make the
        # percentage, which the stream's unknown length would spoil.
        repeats = Repeats()
        ingest(
            read_flows(["-"], source=source, strict=strict, stats=collected, repeats=repeats),
            store,
            config,
            normalized,
            None if files else progress,
            repeats,
        )
    if not files:
        return
    ranges = file_ranges(files[0], source, jobs, min_share_bytes) if len(files) == 1 else []
    small = sum(os.path.getsize(path) for path in files) < 2 * min_share_bytes
    if (len(files) == 1 and not ranges) or (len(files) > 1 and small):
        # Nothing worth sharing: reading it here spares starting processes.
        repeats = Repeats()
        flows = read_flows(files, source=source, strict=strict, stats=collected, repeats=repeats)
        ingest(flows, store, config, normalized, progress, repeats)
        return
    try:
        _map_and_merge(
            files, ranges, store, config, jobs, source, strict, collected, normalized, progress
        )
    finally:
        if progress is not None:
            progress.close()


def _map_and_merge(
    files: list[str],
    ranges: list[tuple[int, int]],
    store: EdgeStore,
    config: LearnConfig,
    jobs: int,
    source: str,
    strict: bool,
    collected: CollectorStats,
    normalized: NormalizeStats,
    progress: ProgressSink | None,
) -> None:
    # Imported here: a small input is read in-process, and never pays for process pools.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, wait

    dealt = [] if ranges else shares(files, jobs)
    slots = len(ranges) or len(dealt)
    items = multiprocessing.Array("q", slots)
    positions = multiprocessing.Array("q", slots)

    def show() -> None:
        if progress is not None:
            progress.update(sum(items[:]), sum(positions[:]))

    def share(slot: int, sink: ProgressSink) -> Callable[[], Part]:
        if ranges:
            start, end = ranges[slot]
            return partial(ingest_range, files[0], start, end, config, strict, sink)
        return partial(ingest_files, dealt[slot], config, source, strict, sink)

    with ProcessPoolExecutor(
        max_workers=max(1, min(jobs, slots) - 1),
        initializer=_share_counters,
        initargs=(items, positions),
    ) as pool:
        futures = [pool.submit(share(slot, SharedSlot(slot))) for slot in range(1, slots)]
        # The first share is read here while the workers read the others: this process would
        # only wait otherwise, and its share is not sent between processes.
        _merge(share(0, ShownSlot(0, (items, positions), show))(), store, collected, normalized)
        # In submission order, never completion order, so the result never depends on timing.
        # Line ranges are in file order: the same merge, and under --strict the same first
        # error, as one reader. Whole files are dealt by size.
        for future in futures:
            while progress is not None and not future.done():
                wait([future], timeout=POLL_SECONDS)
                show()
            _merge(future.result(), store, collected, normalized)
        show()


def _merge(
    part: Part, store: EdgeStore, collected: CollectorStats, normalized: NormalizeStats
) -> None:
    part_store, part_collected, part_normalized = part
    store.merge(part_store)
    collected.merge(part_collected)
    normalized.merge(part_normalized)
