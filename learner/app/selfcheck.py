"""``generate`` proves its own output: every observed, included edge must be allowed by the
rendered policies under the semantics engine. The policies judged are the data each file was
written from, which its YAML reads back to exactly (tests/outputs/test_yamlio.py and its fuzz
test hold that). A failure is a bug in the learner or a renderer, so it stops the run loudly.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import yaml

from learner.model.config import CNI, LearnConfig
from learner.model.edges import EdgeKey, EdgeStore
from learner.model.errors import SelfCheckError
from learner.model.external import has_folded_class_end, prefix_probes
from learner.model.hidden import has_hidden_end
from learner.model.inventory import Inventory
from learner.model.policy import Proposal
from learner.semantics import PolicyDocument, PolicySet, compile_policies, traffic_for_edge
from learner.semantics.cni import as_enforced_by
from outputs.unexpressed import unexpressed_edges
from outputs.yamlio import YamlText

log = logging.getLogger(__name__)
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def documents_from_files(files: Mapping[str, str]) -> list[PolicyDocument]:
    documents = []
    for path, text in sorted(files.items()):
        if not path.endswith((".yaml", ".yml")) or path.endswith("kustomization.yaml"):
            continue
        for index, document in enumerate(_read_back(text)):
            if isinstance(document, dict):
                documents.append(PolicyDocument(path, index, document))
    return documents


def _read_back(text: str) -> Iterable[Any]:
    # Text this process rendered carries the data it was written from (exactly what parsing
    # would give): parsing a rule that lists 64,000 ports took most of a run, even in C.
    if isinstance(text, YamlText):
        return text.documents
    return yaml.load_all(text, Loader=_Loader)


def checked_edges(store: EdgeStore, proposal: Proposal, config: LearnConfig) -> list[EdgeKey]:
    """Every learned edge the dialect can express and an address can judge (the rest are
    report risks: what the dialect cannot express, and ends whose address Calico hid, which
    the learner allows by the whole hidden space)."""
    skipped = {p.edge for p in proposal.pending}
    skipped |= {u.edge for u in unexpressed_edges(store, proposal, config)}
    return sorted(
        edge
        for edge in store.edges
        if edge not in skipped
        and not has_hidden_end(edge.source, edge.destination)
        and not has_folded_class_end(edge)
    )


def denied_edges(
    policies: PolicySet, edges: list[EdgeKey], store: EdgeStore, inventory: Inventory
) -> list[str]:
    problems = []
    for edge in edges:
        stats = store.edges.get(edge)
        # A prefix the peer cap folded is judged at both its ends: the rule must cover it all.
        for probe in prefix_probes(edge) or (edge,):
            decision = policies.evaluate(traffic_for_edge(probe, inventory, stats))
            if not decision.allowed:
                problems.append(f"{probe.key}: {decision.reason}")
    return problems


def self_check(
    proposal: Proposal,
    files: Mapping[str, str],
    store: EdgeStore,
    inventory: Inventory,
    config: LearnConfig,
) -> None:
    policies = as_enforced_by(
        compile_policies(documents_from_files(files)),
        CNI(config.cni),
        cidr_match_nodes=config.cidr_match_nodes,
    )
    problems = denied_edges(policies, checked_edges(store, proposal, config), store, inventory)
    if problems:
        shown = "; ".join(problems[:3])
        raise SelfCheckError(
            f"the proposal would deny {len(problems)} observed connections it was learned from "
            f"(a bug: please report it): {shown}"
        )


ASIDE_MIN_EDGES = 200
"""Below this many edges the check takes milliseconds: less than starting a process."""


class PendingCheck:
    """A self-check that may still be running in a child process (:func:`start_self_check`)."""

    def __init__(self, pid: int | None, check: Callable[[], None]) -> None:
        self.pid = pid
        self.check = check
        self.judge_here = False
        """The child could not say the check passed: this process's check is the verdict."""

    def wait(self) -> None:
        """Return once the check has passed; raise what the check raises when it has not."""
        if self.pid is not None:
            try:
                _, status = os.waitpid(self.pid, 0)
            except ChildProcessError:  # reaped by someone else (SIGCHLD ignored): no verdict
                passed = False
            except BaseException:  # interrupted while waiting: the child must not outlive it
                self.abandon()
                raise
            else:
                passed = os.waitstatus_to_exitcode(status) == 0
            self.pid = None
            # The child tells only pass or fail: the check runs again here, to raise its own
            # error (or to pass, when the child died of something else, such as memory).
            self.judge_here = not passed
        if self.judge_here:
            self.check()

    def abandon(self) -> None:
        """Stop the check: the run failed before it needed the verdict."""
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def start_self_check(
    proposal: Proposal,
    files: Mapping[str, str],
    store: EdgeStore,
    inventory: Inventory,
    config: LearnConfig,
    *,
    aside: bool,
) -> PendingCheck:
    """:func:`self_check`, now, or with ``aside`` in a forked child on another core while this
    process writes the report and stages the files, which it puts in place only after
    :meth:`PendingCheck.wait`. The child sees the run as it is at the fork and changes nothing
    this process reads. Small runs, other threads (a fork copies only this one, and locks
    another holds stay held) and systems other than Linux check here."""

    def check() -> None:
        self_check(proposal, files, store, inventory, config)

    if not (aside and _can_fork() and len(store.edges) >= ASIDE_MIN_EDGES):
        check()
        return PendingCheck(None, check)
    parent = os.getpid()
    try:
        pid = os.fork()
    except OSError:  # no process to be had (a process limit): the check runs here
        check()
        return PendingCheck(None, check)
    except BaseException:
        # A signal handled right after the fork raises in both processes: the child must
        # never go back into the caller's code.
        if os.getpid() != parent:
            os._exit(1)
        raise
    if pid == 0:  # the child: its exit status is the verdict, and it never returns
        status = 1
        try:
            # The collector would touch every object, copying the parent's pages; the child
            # lives for one check.
            gc.disable()
            check()
            status = 0
        finally:
            os._exit(status)
    return PendingCheck(pid, check)


def _can_fork() -> bool:
    return sys.platform == "linux" and threading.active_count() == 1
