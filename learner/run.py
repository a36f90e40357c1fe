"""One learning run from inputs to a written bundle; what ``generate`` does, as a function."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from collectors.base import CollectorStats
from learner.aggregate import EdgeStore
from learner.console import Env
from learner.inventory import Inventory
from learner.normalize import NormalizeStats
from learner.parallel import parallel_ingest
from learner.pipeline import (
    LearnConfig,
    build_proposal,
    effective_inventory,
    ingest,
    new_store,
    read_flows,
    render_policies,
)
from learner.policy import Proposal
from learner.selfcheck import self_check
from outputs.base import write_tree
from outputs.report import report_files

Reader = Callable[[Sequence[str], EdgeStore, CollectorStats, NormalizeStats], None]
"""Another engine's way of reading inputs into a store (e.g. ``--engine spark``)."""


@dataclass
class RunResult:
    proposal: Proposal
    store: EdgeStore
    collected: CollectorStats
    normalized: NormalizeStats
    files_written: int
    edges: int
    workloads: int


def load_inventory(
    source: str | None, kubeconfig: str | None, context: str | None
) -> Inventory | None:
    if not source:
        return None
    from learner import inventory_load  # imports the kubernetes client: only when asked

    return inventory_load.load_inventory(source, kubeconfig=kubeconfig, context=context)


def load_state(path: str, config: LearnConfig) -> EdgeStore:
    from learner.state import load_store

    return load_store(path, ignore_labels=config.ignore_labels)


def render_bundle(
    store: EdgeStore,
    inventory: Inventory | None,
    config: LearnConfig,
    *,
    collected: CollectorStats,
    normalized: NormalizeStats,
    current_source: str | None = None,
    kubeconfig: str | None = None,
    context: str | None = None,
    statuses: Mapping[str, str] | None = None,
) -> tuple[Proposal, dict[str, str]]:
    """The proposal for ``store`` and every file of the output directory: policies, report.md
    and report.json (with the diff against ``current_source`` when given).

    The rendered policies are self-checked first: SelfCheckError rather than a proposal that
    denies traffic it learned from. ``store`` is changed (unlabelled pods are resolved), so
    pass a copy of a store that keeps learning.
    """
    proposal = build_proposal(store, inventory, config)
    files = render_policies(proposal, config)
    full_inventory = effective_inventory(store, inventory)
    self_check(proposal, files, store, full_inventory, config)
    bundle = dict(files)
    bundle.update(
        report_files(
            proposal=proposal,
            store=store,
            collected=collected,
            normalized=normalized,
            config=config,
            policy_files=files,
            inventory=full_inventory,
            current_source=current_source,
            kubeconfig=kubeconfig,
            context=context,
            statuses=statuses,
        )
    )
    return proposal, bundle


def learn_and_render(
    *,
    inputs: Sequence[str],
    output: str,
    config: LearnConfig,
    env: Env,
    source: str = "auto",
    strict: bool = False,
    inventory_source: str | None = None,
    current_source: str | None = None,
    state_path: str | None = None,
    kubeconfig: str | None = None,
    context: str | None = None,
    jobs: int = 1,
    reader: Reader | None = None,
) -> RunResult:
    inventory = load_inventory(inventory_source, kubeconfig, context)
    store = load_state(state_path, config) if state_path else new_store(config)
    collected = CollectorStats()
    normalized = NormalizeStats()
    if inputs and reader is not None:
        reader(inputs, store, collected, normalized)
    elif inputs and jobs > 1:
        parallel_ingest(
            inputs, store, config, jobs=jobs, source=source, strict=strict,
            collected=collected, normalized=normalized, progress=env.progress("reading flows"),
        )  # fmt: skip
    elif inputs:
        flows = read_flows(inputs, source=source, strict=strict, stats=collected)
        ingest(flows, store, config, normalized, env.progress("reading flows"))
    proposal, bundle = render_bundle(
        store,
        inventory,
        config,
        collected=collected,
        normalized=normalized,
        current_source=current_source,
        kubeconfig=kubeconfig,
        context=context,
    )
    write_tree(bundle, output)
    return RunResult(
        proposal=proposal,
        store=store,
        collected=collected,
        normalized=normalized,
        files_written=len(bundle),
        edges=len(store.edges),
        workloads=len(store.workloads),
    )
