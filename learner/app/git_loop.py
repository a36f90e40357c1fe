"""When ``learn`` publishes a proposal to git, and what it tells about it.

After each proposal: if every workload that gained an edge since the last publication is
Stable, the bundle goes to the git branch (which commits only when a manifest changed). A
failure (remote unreachable, push refused) never stops learning: it is logged, counted in
the metrics and written into ``status.json`` under ``git``, and the next proposal tries again.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence

from learner.app.git_publish import (
    GitPublisher,
    GitPublishError,
    PublishOutcome,
    PublishResult,
    unstable_changed_workloads,
)
from learner.ingest.stability import WorkloadProgress
from learner.ingest.state import StateStore

log = logging.getLogger(__name__)

META_PUBLISHED_CLOCK = "git.published_clock"
"""State meta key: the stream clock of the proposal the branch last matched."""
SHOWN_WAITING = 5


class ProposalPublishing:
    def __init__(self, publisher: GitPublisher, state: StateStore) -> None:
        self.publisher = publisher
        self.state = state
        self.published_clock = float(state.meta(META_PUBLISHED_CLOCK, "0"))
        self.outcomes: Counter[str] = Counter()
        self.last: PublishOutcome | None = None
        self.last_push = 0.0

    def after_proposal(
        self,
        files: Mapping[str, str],
        progress: Sequence[WorkloadProgress],
        *,
        clock: float,
        fields: Mapping[str, object],
        status: Mapping[str, object],
        output: str,
    ) -> PublishOutcome:
        outcome = self._publish(files, progress, clock, fields)
        self.outcomes[outcome.result.value] += 1
        self.last = outcome
        if outcome.result is PublishResult.PUSHED:
            self.last_push = outcome.at
        write_status(output, {**status, "git": outcome.as_json()})
        return outcome

    def _publish(
        self,
        files: Mapping[str, str],
        progress: Sequence[WorkloadProgress],
        clock: float,
        fields: Mapping[str, object],
    ) -> PublishOutcome:
        waiting = unstable_changed_workloads(
            [(p.name, str(p.status), p.last_new_edge) for p in progress], self.published_clock
        )
        if waiting:
            more = len(waiting) - SHOWN_WAITING
            names = ", ".join(waiting[:SHOWN_WAITING]) + (f" and {more} more" if more > 0 else "")
            log.info("not publishing to git yet: changed workloads not Stable: %s", names)
            return PublishOutcome(PublishResult.WAITING, f"not Stable yet: {names}")
        target = self.publisher.target
        try:
            outcome = self.publisher.publish(files, fields)
        except GitPublishError as error:
            log.error("could not publish the proposal to %s: %s", target.repo, error)
            return PublishOutcome(PublishResult.FAILED, str(error))
        self.published_clock = clock
        self.state.set_meta(META_PUBLISHED_CLOCK, repr(clock))
        if outcome.result is PublishResult.PUSHED:
            log.info(
                "pushed the proposal to %s branch %s (%s)",
                target.repo,
                target.branch,
                outcome.commit[:12],
            )
        return outcome


def write_status(output: str, status: Mapping[str, object]) -> None:
    """Replace ``output/status.json`` atomically (the rest of the directory stays)."""
    text = json.dumps(status, indent=2, sort_keys=True) + "\n"
    handle, scratch = tempfile.mkstemp(prefix=".status-", dir=output)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(scratch, os.path.join(output, "status.json"))
    except BaseException:
        if os.path.exists(scratch):
            os.unlink(scratch)
        raise
