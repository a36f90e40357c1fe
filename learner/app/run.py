"""One learning run from inputs to a written bundle; what ``generate`` does, as a function."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from learner.app.compare import diff_sources
from learner.app.console import Env
from learner.app.pipeline import (
    build_proposal,
    effective_inventory,
    ingest,
    new_store,
    peer_cap,
    read_flows,
    reading_progress,
    render_policies,
)
from learner.app.scope import check_worth_writing, keep_other_namespaces
from learner.app.selfcheck import PendingCheck, start_self_check
from learner.ingest.edges_file import load_edges, save_edges
from learner.model.config import CNI, DEFAULT_MAX_MALFORMED, LearnConfig
from learner.model.edges import EdgeStore
from learner.model.inventory import Inventory
from learner.model.policy import Proposal
from learner.model.repeats import Repeats
from learner.model.run_stats import CollectorStats, NormalizeStats
from outputs.bundle import manifest_link, report_dir_for, stage_bundle
from outputs.report.documents import report_files

Reader = Callable[[Sequence[str], EdgeStore, CollectorStats, NormalizeStats], None]
"""Another engine's way of reading inputs into a store (e.g. ``--engine spark``)."""


@dataclass
class RunResult:
    proposal: Proposal
    store: EdgeStore
    collected: CollectorStats
    normalized: NormalizeStats
    files_written: int
    report_dir: str
    edges: int
    workloads: int


def load_inventory(
    source: str | None, kubeconfig: str | None, context: str | None
) -> Inventory | None:
    if not source:
        return None
    from learner.ingest import inventory_load  # imports the kubernetes client: only when asked

    return inventory_load.load_inventory(source, kubeconfig=kubeconfig, context=context)


def load_state(path: str, config: LearnConfig) -> EdgeStore:
    from learner.ingest.state import load_store

    return load_store(path, ignore_labels=config.ignore_labels, peer_cap=peer_cap(config))


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
    manifest_link: str = "",
) -> tuple[Proposal, dict[str, str]]:
    """The proposal for ``store`` and every file of the output directory: policies, report.md
    and report.json (with the diff against ``current_source`` when given).

    The rendered policies are self-checked first: SelfCheckError rather than a proposal that
    denies traffic it learned from. ``store`` is changed (unlabelled pods are resolved), so
    pass a copy of a store that keeps learning. ``manifest_link`` is the manifest directory
    seen from the report directory, for report.md's links to the policy files.
    """
    proposal, bundle, _ = _render_checking(
        store,
        inventory,
        config,
        collected=collected,
        normalized=normalized,
        current_source=current_source,
        kubeconfig=kubeconfig,
        context=context,
        statuses=statuses,
        manifest_link=manifest_link,
        check_aside=False,
    )
    return proposal, bundle


def _render_checking(
    store: EdgeStore,
    inventory: Inventory | None,
    config: LearnConfig,
    *,
    collected: CollectorStats,
    normalized: NormalizeStats,
    current_source: str | None,
    kubeconfig: str | None,
    context: str | None,
    statuses: Mapping[str, str] | None,
    manifest_link: str,
    check_aside: bool,
) -> tuple[Proposal, dict[str, str], PendingCheck]:
    """:func:`render_bundle`, with the self-check perhaps still running aside
    (:func:`~learner.app.selfcheck.start_self_check`): nothing may be written before its
    ``wait()``."""
    proposal = build_proposal(store, inventory, config)
    files = render_policies(proposal, config)
    full_inventory = effective_inventory(store, inventory)
    check = start_self_check(proposal, files, store, full_inventory, config, aside=check_aside)
    try:
        bundle = dict(files)
        bundle.update(
            report_files(
                proposal=proposal,
                store=store,
                collected=collected,
                normalized=normalized,
                config=config,
                policy_files=files,
                diff=(
                    diff_sources(
                        current=current_source,
                        proposed_files=files,
                        store=store,
                        inventory=full_inventory,
                        kubeconfig=kubeconfig,
                        context=context,
                        cni=CNI(config.cni),
                        cidr_match_nodes=config.cidr_match_nodes,
                    )
                    if current_source
                    else None
                ),
                statuses=statuses,
                manifest_link=manifest_link,
            )
        )
    except BaseException:
        check.abandon()
        raise
    return proposal, bundle, check


def _ingest_here(
    inputs: Sequence[str],
    store: EdgeStore,
    config: LearnConfig,
    source: str,
    strict: bool,
    collected: CollectorStats,
    normalized: NormalizeStats,
    env: Env,
) -> None:
    """Read ``inputs`` in this process. The repeat tally and the reader's tables end with it,
    before learning and rendering need the memory."""
    repeats = Repeats()
    flows = read_flows(inputs, source=source, strict=strict, stats=collected, repeats=repeats)
    ingest(flows, store, config, normalized, reading_progress(env, inputs), repeats)


def learn_and_render(
    *,
    inputs: Sequence[str],
    output: str,
    config: LearnConfig,
    env: Env,
    report_dir: str | None = None,
    source: str = "auto",
    strict: bool = False,
    inventory_source: str | None = None,
    current_source: str | None = None,
    state_path: str | None = None,
    kubeconfig: str | None = None,
    context: str | None = None,
    jobs: int = 1,
    max_malformed: float = DEFAULT_MAX_MALFORMED,
    allow_empty: bool = False,
    reader: Reader | None = None,
    from_edges: str | None = None,
    save_edges_path: str | None = None,
) -> RunResult:
    reports = report_dir_for(output, report_dir)
    inventory = load_inventory(inventory_source, kubeconfig, context)
    store = load_state(state_path, config) if state_path else new_store(config)
    collected = CollectorStats()
    normalized = NormalizeStats()
    if from_edges:
        load_edges(from_edges, store, collected, normalized)
    if inputs and reader is not None:
        reader(inputs, store, collected, normalized)
    elif inputs and jobs > 1:
        from learner.app.parallel import parallel_ingest  # process pools cost start-up time

        parallel_ingest(
            inputs, store, config, jobs=jobs, source=source, strict=strict,
            collected=collected, normalized=normalized, progress=reading_progress(env, inputs),
        )  # fmt: skip
    elif inputs:
        _ingest_here(inputs, store, config, source, strict, collected, normalized, env)
    if save_edges_path:
        save_edges(save_edges_path, store, collected, normalized, config.cni)
    # With several cores the self-check runs beside the report and the writing, which is put
    # in place only once the check has passed.
    proposal, bundle, check = _render_checking(
        store,
        inventory,
        config,
        collected=collected,
        normalized=normalized,
        current_source=current_source,
        kubeconfig=kubeconfig,
        context=context,
        statuses=None,
        manifest_link=manifest_link(output, reports),
        check_aside=jobs > 1,
    )
    try:
        check_worth_writing(
            policies=len(proposal.policies),
            collected=collected,
            normalized=normalized,
            learned_before=bool(state_path),
            max_malformed=max_malformed,
            allow_empty=allow_empty,
        )
        bundle = keep_other_namespaces(bundle, output, config.namespaces)
        staged = stage_bundle(bundle, output, reports)
    except BaseException:
        check.abandon()
        raise
    try:
        check.wait()
    except BaseException:
        staged.discard()
        raise
    written_report_dir = staged.commit()
    return RunResult(
        proposal=proposal,
        store=store,
        collected=collected,
        normalized=normalized,
        files_written=len(bundle),
        report_dir=written_report_dir,
        edges=len(store.edges),
        workloads=len(store.workloads),
    )
