"""Records that repeat an earlier record in everything but their time, tallied instead of
mapped, normalised and aggregated one by one.

A reader that can tell such records apart cheaply (collectors/hubble/repeat_key.py) keys each
line on every field the mapping, normalisation and aggregation read except its time. The first
line of a key goes the whole way as a :class:`~learner.model.flow.Flow`, in order, so every
order-dependent detail (sample pods, first names, first malformed lines) is what one flow at a
time gives. What a later line of the key would add is then order-free: one more count, and its
time widening the edge's first/last seen; those are tallied here and applied by :meth:`flush`.

The protocol between the reader and the consumer (:func:`learner.app.pipeline.ingest`):

* the reader yields a key's first flow and sets :attr:`Repeats.latest` to its tally;
* the consumer adds an included flow to the store and calls :meth:`Repeats.settle`;
* when the reader resumes and the tally is still undecided, normalisation set the flow aside
  (a reply, a health check...), and later lines of the key only count as set aside too.

A tally applied to an edge goes where a new flow of that edge would go then
(:meth:`EdgeStore.add_repeats`): an edge to an outside address may have been folded by the
peer cap since its first flow, and later lines land on the folded edge, as they would have
when read one by one and moved with it (folding depends on the distinct addresses only, never
on how often one is seen, so repeats never fold anything).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from enum import Enum

from learner.model.edges import EdgeKey, EdgeStore
from learner.model.flow import Flow
from learner.model.run_stats import SkipReason

__all__ = ["Repeats", "Tally", "TallyState"]


class TallyState(Enum):
    UNDECIDED = "undecided"
    """The first flow was yielded; the consumer has not settled it yet."""
    SET_ASIDE = "set aside"
    """Normalisation set the first flow aside: later lines count the same reason."""
    EDGE = "edge"
    """The first flow went to an edge: later lines count there, or where the peer cap has
    folded it since."""


class Tally:
    """What later lines of one key add. The first flow is kept only until the consumer has
    decided it: a full table holds ENTRY_LIMIT tallies, and a flow with its strings is several
    times a decided tally's size."""

    __slots__ = ("count", "direction", "edge", "first", "flow", "last", "reason", "state", "weight")

    def __init__(self, flow: Flow) -> None:
        self.flow: Flow | None = flow
        self.state = TallyState.UNDECIDED
        self.edge: EdgeKey | None = None
        self.reason: SkipReason | None = None
        """Why normalisation set the first flow aside (TallyState.SET_ASIDE)."""
        self.direction = flow.direction
        self.weight = flow.count
        self.count = 0
        """Later lines tallied since the last flush."""
        self.first = flow.time
        self.last = flow.time

    def add(self, time: float) -> None:
        self.count += 1
        if time < self.first:
            self.first = time
        elif time > self.last:
            self.last = time


ENTRY_LIMIT = 1 << 16
"""Keys kept at once. Past it everything tallied is flushed and the keys are forgotten: a key
seen again then goes the whole way once more, which adds nothing new but its count."""

PROGRESS_EVERY = 0x3FF

ALIAS_LIMIT = ENTRY_LIMIT
"""Aliases kept at once (:attr:`Repeats.aliases`; a reader's aliases can be finer than its
keys, so there can be more of them); past it they are forgotten and found again."""


class Repeats:
    """The keys of one reader's lines and what their later lines add."""

    def __init__(self) -> None:
        self.entries: dict[Hashable, Tally] = {}
        self.aliases: dict[Hashable, Tally] = {}
        """A reader's cheaper keys (collectors/hubble/wire_key.py), each bound to the tally of
        the key it implies: an alias is never coarser than that key. Forgotten with the keys."""
        self.latest: Tally | None = None
        self.tallied = 0
        """Lines tallied so far (for progress: they never reach the consumer)."""
        self.on_progress: Callable[[], object] | None = None
        """Called every PROGRESS_EVERY + 1 tallied lines."""
        self.on_flush: Callable[[], object] | None = None
        """Applies what is tallied (:meth:`tally`) before the keys are forgotten: without it
        the tallies wait for the end, each holding its first flow."""
        self.before_forget: Callable[[], object] | None = None
        """Called before the keys are forgotten, so that a reader that counts lines of its own
        (collectors/hubble/line_scan.py) hands them to their tallies first."""
        self.reason_of: Callable[[Flow], SkipReason | None] | None = None
        """Why normalisation sets a flow aside: a set-aside tally keeps that, not its flow."""
        self.reader_state: object = None
        """What such a reader keeps across the files of one run."""
        self._flushed: list[Tally] = []

    def resume(self) -> None:
        """The reader goes on: a first flow nobody settled was set aside by normalisation."""
        latest = self.latest
        if latest is not None:
            if latest.state is TallyState.UNDECIDED:
                latest.state = TallyState.SET_ASIDE
                if self.reason_of is not None and latest.flow is not None:
                    latest.reason = self.reason_of(latest.flow)
                    latest.flow = None
            self.latest = None

    def first_of(self, key: Hashable, flow: Flow) -> None:
        """``flow`` is the first of ``key``: it goes the whole way."""
        if len(self.entries) >= ENTRY_LIMIT:
            if self.before_forget is not None:
                self.before_forget()
            if self.on_flush is not None:
                self.on_flush()
            else:
                self._flushed.extend(tally for tally in self.entries.values() if tally.count)
            self.entries.clear()
            self.aliases.clear()
        tally = self.entries[key] = Tally(flow)
        self.latest = tally

    def alias(self, alias: Hashable, tally: Tally) -> None:
        """``alias`` implies the key of ``tally``."""
        aliases = self.aliases
        if len(aliases) >= ALIAS_LIMIT:
            aliases.clear()
        aliases[alias] = tally

    def settle(self, flow: Flow, store: EdgeStore) -> None:
        """The consumer added ``flow`` to ``store``."""
        latest = self.latest
        if latest is None or latest.flow is not flow:
            return
        latest.state = TallyState.EDGE
        latest.edge = store.key_of(flow)
        latest.flow = None

    def tally(self) -> list[Tally]:
        """Every tally with lines to apply (the caller applies them and zeroes their count)."""
        tallies = self._flushed + [tally for tally in self.entries.values() if tally.count]
        self._flushed = []
        return tallies
