"""Live learning: stream flows into a state-backed session, save in batches, and keep a fresh
proposal (policies, report, ``status.json``) in an output directory.

Two threads. The *consumer* iterates the flow source through the shared
:func:`learner.normalize.normalize` and adds each flow to the session under a lock, committing
the source's position in the same critical section, so a saved position always matches the saved
edges. The *main* thread wakes on a timer: it saves what changed (captured under the lock, written
outside it) and, every interval, builds a proposal from a copy of the store (outside the lock,
so learning never pauses for long). :meth:`LiveLearner.stop` (SIGTERM/SIGINT) closes the source,
joins the consumer, saves once more and returns.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from collectors.live_sources import FlowSource, RepeatTallying
from learner.app.git_loop import ProposalPublishing
from learner.app.progress import ProgressSink
from learner.app.session import LearningSession
from learner.ingest.normalize import normalize, skip_reason
from learner.ingest.stability import (
    LearningStatus,
    WorkloadProgress,
    status_counts,
    status_document,
    stream_clock,
    workload_progress,
)
from learner.ingest.state import PositionLike, StoredStatus
from learner.model.config import LearnConfig
from learner.model.edges import EdgeStore
from learner.model.errors import NetpolLearnerError, NothingToWriteError
from learner.model.flow import Flow
from learner.model.inventory import Inventory
from learner.model.policy import Proposal
from learner.model.repeats import Repeats
from learner.model.run_stats import CollectorStats, NormalizeStats
from outputs.base import MARKER
from outputs.bundle import manifest_link, report_dir_for, write_bundle

__all__ = [
    "META_INTERVAL",
    "META_STABILIZATION",
    "LiveLearner",
    "LiveSettings",
    "bundle_files",
]

log = logging.getLogger(__name__)

META_INTERVAL = "learn.interval"
META_STABILIZATION = "learn.stabilization_period"
"""State meta keys: the settings ``learn`` last ran with, which ``export`` reuses."""


@dataclass(frozen=True, slots=True)
class LiveSettings:
    output: str
    collector: str
    """Name the source's position is saved under (e.g. ``hubble:localhost:4245``)."""
    report_dir: str | None = None
    """Where report.md, report.json and status.json go (default: beside ``output``)."""
    interval: float = 600.0
    """Seconds between proposals; also the Learning window."""
    stabilization_period: float = 3600.0
    save_interval: float = 5.0
    save_every_flows: int = 100_000
    shutdown_timeout: float = 5.0
    health_timeout: float = 60.0
    """The main loop must have ticked this recently for /healthz to pass."""


def bundle_files(
    store: EdgeStore,
    inventory: Inventory | None,
    config: LearnConfig,
    *,
    collected: CollectorStats,
    normalized: NormalizeStats,
    progress: list[WorkloadProgress],
    status: Mapping[str, object],
    manifest_link: str = "",
) -> tuple[Proposal, dict[str, str]]:
    """The proposal for ``store`` and every file of the output directory, as ``generate``
    makes them (including its self-check, which raises SelfCheckError rather than let a
    proposal deny traffic it learned from). ``store`` is changed (unlabelled pods are
    resolved), so pass a copy of a store that keeps learning."""
    from learner.app.run import render_bundle

    statuses = {p.identity.key: str(p.status) for p in progress}
    proposal, bundle = render_bundle(
        store,
        inventory,
        config,
        collected=collected,
        normalized=normalized,
        statuses=statuses,
        manifest_link=manifest_link,
    )
    bundle["status.json"] = json.dumps(status, indent=2, sort_keys=True) + "\n"
    return proposal, bundle


class LiveLearner:
    def __init__(
        self,
        session: LearningSession,
        source: FlowSource,
        settings: LiveSettings,
        *,
        inventory: Inventory | None = None,
        inventory_loader: Callable[[], Inventory] | None = None,
        publishing: ProposalPublishing | None = None,
        progress: ProgressSink | None = None,
    ) -> None:
        self.session = session
        self.progress = progress
        """Told how many flows were read this run (a count and rate: a stream has no end)."""
        self.publishing = publishing
        """Publishes each proposal to a git branch when set (learn --git-repo)."""
        self.source = source
        self.settings = settings
        self.inventory = inventory
        self.inventory_loader = inventory_loader
        """Called before each proposal to refresh ``inventory`` (e.g. from the cluster)."""
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._consumer: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._heartbeat = time.monotonic()
        self._regenerating = False
        self.last_save = 0.0
        self._saved_position: PositionLike | None = None
        self.last_regeneration = 0.0
        self.regeneration_seconds = 0.0
        self.policies = 0
        self.statuses: dict[LearningStatus, int] = {}
        self.repeats: Repeats | None = None
        """Flows the source tallied as repeats, applied to the session before each save and
        proposal (under :attr:`lock`, which the source tallies under too)."""
        self._tallied_applied = 0
        if isinstance(source, RepeatTallying):
            self.repeats = Repeats()
            options = session.config.normalize_options()
            self.repeats.reason_of = lambda flow: skip_reason(flow, options)
            source.tally_repeats(self.repeats, self.lock)

    # -- health ---------------------------------------------------------------------------

    def healthy(self) -> bool:
        """The consumer runs and the main loop ticks (a long regeneration counts as a tick)."""
        consumer_ok = self._consumer is None or self._consumer.is_alive() or self._stop.is_set()
        ticking = self._regenerating or (
            time.monotonic() - self._heartbeat < self.settings.health_timeout
        )
        return consumer_ok and ticking and self._failure is None

    def ready(self) -> bool:
        return bool(self.source.connected) and not self._stop.is_set()

    # -- control --------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask :meth:`run` to finish (safe from a signal handler or another thread)."""
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        """Learn until :meth:`stop` or the end of the source. Raises the source's error."""
        self._consumer = threading.Thread(target=self._consume, name="flows", daemon=True)
        self._consumer.start()
        now = time.monotonic()
        next_save = now + self.settings.save_interval
        next_proposal = now if self.session.store.edges else now + self.settings.interval
        try:
            while True:
                self._wake.wait(max(0.0, min(next_save, next_proposal) - time.monotonic()))
                self._wake.clear()
                now = self._heartbeat = time.monotonic()
                if self._stop.is_set() or not self._consumer.is_alive():
                    break
                if (
                    now >= next_save
                    or self.session.flows_since_save >= self.settings.save_every_flows
                ):
                    self.save()
                    next_save = now + self.settings.save_interval
                if now >= next_proposal:
                    self._regenerating = True
                    try:
                        self.regenerate()
                    finally:
                        self._regenerating = False
                        self._heartbeat = time.monotonic()
                    next_proposal = self._heartbeat + self.settings.interval
        finally:
            self._shutdown()
        if self._failure is not None:
            raise self._failure
        if not self._stop.is_set():  # the source ended by itself: write what it taught us
            self.regenerate()

    def _shutdown(self) -> None:
        self.source.close()
        if self._consumer is not None:
            self._consumer.join(self.settings.shutdown_timeout)
            if self._consumer.is_alive():
                log.warning("the flow reader did not stop in time; saving what it committed")
        if self.progress is not None:
            self.progress.close()
        self.save()

    def _consume(self) -> None:
        session = self.session
        lock = self.lock
        add = session.add
        commit = self.source.commit
        limit = self.settings.save_every_flows
        progress = self.progress
        normalized = session.normalized
        seen_before = normalized.seen
        repeats = self.repeats
        store = session.store

        def read() -> int:
            """Flows read this run, tallied ones not applied yet included."""
            tallied = 0 if repeats is None else repeats.tallied - self._tallied_applied
            return normalized.seen + tallied - seen_before

        if repeats is not None and progress is not None:
            repeats.on_progress = lambda: progress.update(read())
        try:
            flows = normalize(
                self.source.flows(),
                session.config.normalize_options(),
                session.normalized,
                on_denied=self._note_denied,
                on_answer=self._note_answers,
            )
            settle = None if repeats is None else repeats.settle
            for flow in flows:
                with lock:
                    add(flow)
                    if settle is not None:
                        settle(flow, store)
                    commit()
                if session.flows_since_save >= limit:
                    self._wake.set()
                if progress is not None:  # a stream can be slow: every flow, throttled there
                    progress.update(read())
        except BaseException as error:  # handed to the main thread, which re-raises it
            self._failure = error
        finally:
            self._wake.set()

    def _note_answers(self, flow: Flow) -> None:
        with self.lock:
            self.session.note_answers(flow)

    def _note_denied(self, flow: Flow) -> None:
        with self.lock:
            self.session.note_denied(flow)

    # -- work -----------------------------------------------------------------------------

    def _apply_repeats(self) -> None:
        """Take the tallied flows into the session (the caller holds :attr:`lock`)."""
        repeats = self.repeats
        if repeats is not None:
            self.session.apply_repeats(repeats)
            self._tallied_applied = repeats.tallied

    def save(self) -> None:
        """Write what changed since the last save, with the position, in one transaction."""
        with self.lock:
            self._apply_repeats()
            position = self.source.position
            session = self.session
            if (
                not session.unsaved_edges
                and not session.flows_since_save
                and position == self._saved_position
            ):
                return
            positions = {self.settings.collector: position} if position is not None else {}
            batch = session.capture(positions)
        session.write(batch)
        self._saved_position = position
        self.last_save = time.time()
        log.debug("saved %d edges", len(batch.edges))

    def refresh_inventory(self) -> None:
        if self.inventory_loader is None:
            return
        try:
            inventory = self.inventory_loader()
        except NetpolLearnerError as error:
            log.warning("keeping the previous inventory: %s", error)
            return
        self.inventory = inventory
        self.session.state.save_inventory(inventory)

    def regenerate(self) -> None:
        """Write a fresh proposal to the output directory, replacing it atomically."""
        started = time.monotonic()
        self.refresh_inventory()
        with self.lock:
            self._apply_repeats()
            store = self.session.store.copy()
            collected = _copy_collected(self.session.collected)
            normalized = _copy_normalized(self.session.normalized)
        store.resolve_unlabelled()  # as the proposal will, so statuses name the same workloads
        clock = stream_clock(store)
        progress = workload_progress(
            store,
            now=clock,
            learning_window=self.settings.interval,
            stabilization_period=self.settings.stabilization_period,
        )
        counts = status_counts(progress)
        status = status_document(
            progress,
            now=clock,
            learning_window=self.settings.interval,
            stabilization_period=self.settings.stabilization_period,
            extra={"edges": len(store.edges), "generated_at": time.time()},
        )
        reports = report_dir_for(self.settings.output, self.settings.report_dir)
        try:
            proposal, files = bundle_files(
                store,
                self.inventory,
                self.session.config,
                collected=collected,
                normalized=normalized,
                progress=progress,
                status=status,
                manifest_link=manifest_link(self.settings.output, reports),
            )
            if not proposal.policies and os.path.exists(os.path.join(self.settings.output, MARKER)):
                raise NothingToWriteError(
                    "the proposal has 0 policies: keeping the last good proposal"
                )
            write_bundle(files, self.settings.output, reports)
        except NetpolLearnerError as error:
            # Keep the last good proposal and keep learning: an output directory that cannot
            # be written now may be writable later, and a failed self-check is logged loudly.
            log.error("could not write the proposal: %s", error)
            return
        now = time.time()
        self.session.state.save_statuses(
            StoredStatus(p.identity, str(p.status), p.last_new_edge, now) for p in progress
        )
        self.policies = len(proposal.policies)
        self.statuses = counts
        self.last_regeneration = now
        self.regeneration_seconds = time.monotonic() - started
        log.info(
            "wrote %d policies for %d workloads (%s) to %s in %.2fs",
            self.policies,
            len(progress),
            ", ".join(f"{n} {s.value.lower()}" for s, n in counts.items()),
            self.settings.output,
            self.regeneration_seconds,
            extra={"edges": len(store.edges), "flows": normalized.included},
        )
        if self.publishing is not None:
            self.publishing.after_proposal(
                files,
                progress,
                clock=clock,
                fields={
                    "policies": self.policies,
                    "workloads": len(progress),
                    "edges": len(store.edges),
                },
                status=status,
                output=self.settings.output,
            )


def _copy_collected(stats: CollectorStats) -> CollectorStats:
    copy = CollectorStats()
    copy.merge(stats)
    return copy


def _copy_normalized(stats: NormalizeStats) -> NormalizeStats:
    copy = NormalizeStats()
    copy.merge(stats)
    return copy
