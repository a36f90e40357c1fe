"""What Spark executors run: the project's own collectors, normaliser and EdgeStore.

Pure Python with no pyspark import, so the functions are the same code the local engine runs.
A task receives rows ``(text, file, block_start)`` of one or more file blocks and returns one
partial result per block; the driver merges them in file order (see :mod:`learner.spark_engine`).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby

from collectors.calico import file as calico_file
from collectors.calico.model import WARN_NAME_LABEL
from collectors.calico.records import RecordMapper
from collectors.hubble import file as hubble_file
from learner.app.pipeline import ingest, new_store
from learner.model.config import LearnConfig
from learner.model.edges import EdgeStore
from learner.model.errors import InputError
from learner.model.flow import Flow
from learner.model.run_stats import MAX_REPORTED_ERRORS, CollectorStats, NormalizeStats

STRICT_MARKER = "NETPOL_LEARNER_STRICT"
"""Prefix of the message a task fails with under ``--strict``: the driver turns it back into
an :class:`InputError` with the line counted from the start of the file."""


@dataclass(frozen=True, slots=True)
class FilePlan:
    """One input file as the driver saw it."""

    index: int
    display: str
    """The name reported to the user (as given, for local files)."""
    source: str
    """``hubble`` or ``calico``."""
    whole: bool
    """Read as one text (pretty-printed JSON or an array) rather than line by line."""


@dataclass
class Partial:
    """What one file block contributed."""

    store: EdgeStore
    collected: CollectorStats
    normalized: NormalizeStats
    blocks: dict[tuple[int, int], int] = field(default_factory=dict)
    """Lines read per (file index, block start)."""
    errors: list[tuple[int, int, int, str]] = field(default_factory=list)
    """(file index, block start, line within the block, reason) of the first few malformed
    records."""


def _flows(
    plan: FilePlan, texts: Iterable[str], strict: bool, stats: CollectorStats
) -> Iterator[Flow]:
    if plan.whole:
        for text in texts:
            handle = io.StringIO(text)
            if plan.source == "calico":
                mapper = RecordMapper()
                yield from calico_file._FileReader(plan.display, mapper, strict, stats).flows(
                    handle
                )
                if mapper.endpoints.named_only:
                    stats.warnings[WARN_NAME_LABEL] += mapper.endpoints.named_only
            else:
                yield from hubble_file._flows_in_file(plan.display, handle, strict, stats)
        return
    if plan.source == "calico":
        mapper = RecordMapper()
        yield from calico_file._FileReader(plan.display, mapper, strict, stats).lines(texts, 1)
        if mapper.endpoints.named_only:
            stats.warnings[WARN_NAME_LABEL] += mapper.endpoints.named_only
    else:
        yield from hubble_file._flows_in_lines(plan.display, texts, 1, strict, stats)


def ingest_block(
    plan: FilePlan, block_start: int, texts: Iterable[str], config: LearnConfig, strict: bool
) -> Partial:
    """One block of one file into a fresh store (line numbers relative to the block)."""
    counted = [0]

    def numbered() -> Iterator[str]:
        for n, text in enumerate(texts, 1):
            counted[0] = n
            if n == 1 and block_start == 0:
                text = text.lstrip("\ufeff")
            # Spark drops the line break; the collectors expect it (blank lines are skipped)
            yield text if plan.whole else text + "\n"

    store = new_store(config)
    collected, normalized = CollectorStats(), NormalizeStats()
    try:
        ingest(_flows(plan, numbered(), strict, collected), store, config, normalized)
    except InputError as error:
        raise RuntimeError(
            f"{STRICT_MARKER}\t{plan.index}\t{block_start}\t{error.line}\t{error.reason}"
        ) from None
    store.forget_endpoints()
    errors = [(plan.index, block_start, e.line, e.reason) for e in collected.errors]
    collected.errors = []
    return Partial(store, collected, normalized, {(plan.index, block_start): counted[0]}, errors)


Row = tuple[str, str, int]


def ingest_rows(
    rows: Iterable[Row], plans: dict[str, FilePlan], config: LearnConfig, strict: bool
) -> Iterator[tuple[tuple[int, int], Partial]]:
    """A task's rows, grouped by (file, block), each group into its own partial result."""
    for (file, block_start), group in groupby(rows, key=lambda r: (r[1], r[2])):
        plan = plans[file]
        partial = ingest_block(plan, block_start, (r[0] for r in group), config, strict)
        yield (plan.index, block_start), partial


def merge_partials(partials: Iterable[tuple[tuple[int, int], Partial]]) -> Partial | None:
    """Fold partials in (file, block) order, the order the local engine reads them in."""
    merged: Partial | None = None
    for _, partial in sorted(partials, key=lambda p: p[0]):
        if merged is None:
            merged = partial
            continue
        merged.store.merge(partial.store)
        merged.collected.merge(partial.collected)
        merged.normalized.merge(partial.normalized)
        merged.blocks.update(partial.blocks)
        room = MAX_REPORTED_ERRORS - len(merged.errors)
        merged.errors.extend(partial.errors[: max(room, 0)])
    return merged
