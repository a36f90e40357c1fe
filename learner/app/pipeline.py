"""The batch pipeline as plain functions: read → normalise → aggregate → learn → render.

``generate``, ``learn``, ``export`` and the benchmarks all go through these, so every entry
point reads, counts and renders the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Protocol as TypingProtocol

from collectors.base import FILE_SOURCES, Collector
from collectors.detect import detect_source as detect
from collectors.hubble import file as hubble_file
from learner.app.console import Env
from learner.app.progress import Progress, ProgressSink
from learner.app.scope import scope_proposal
from learner.infer.baseline import BaselineLearner
from learner.infer.least_privilege import PolicyLearner
from learner.ingest.normalize import normalize, skip_reason
from learner.ingest.owners import group_by_owner, owner_warnings
from learner.ingest.repeats import apply_repeats
from learner.model.config import LearnConfig
from learner.model.edges import EdgeStore
from learner.model.errors import UsageError
from learner.model.external import PeerCap, describe_fold, is_folded
from learner.model.flow import Flow
from learner.model.identity import IdentityResolver
from learner.model.infra import NODES_KEPT_WARNING, without_node_network
from learner.model.input_files import expand_inputs, metered_reads, total_size
from learner.model.inventory import Inventory, from_store
from learner.model.policy import Evidence, PendingEdge, Proposal, Rule
from learner.model.repeats import Repeats
from learner.model.run_stats import CollectorStats, NormalizeStats
from outputs.base import dialect, has_cilium_companion, renderer


def collector(source: str) -> Collector:
    found = FILE_SOURCES.get(source)
    if found is None:
        raise UsageError(f"unknown source {source!r} (choose from auto, {', '.join(FILE_SOURCES)})")
    return found


def detect_source(path: str) -> str:
    """The collector for a file (or stdin, peeked without consuming it); Hubble by default."""
    return detect(path) or "hubble"


def read_flows(
    inputs: Sequence[str],
    *,
    source: str = "auto",
    strict: bool = False,
    stats: CollectorStats,
    repeats: Repeats | None = None,
) -> Iterator[Flow]:
    """Flows from every input, each file read by its collector (detected when ``auto``).

    With ``repeats`` (for :func:`ingest` only), Hubble lines that repeat an earlier line in
    all but time are tallied there instead of yielded."""
    for path in expand_inputs(inputs):
        kind = detect_source(path) if source == "auto" else source
        if repeats is not None and kind == "hubble":
            yield from hubble_file.iter_flows([path], strict=strict, stats=stats, repeats=repeats)
        else:
            yield from collector(kind).iter_flows([path], strict=strict, stats=stats)


def new_store(config: LearnConfig) -> EdgeStore:
    return EdgeStore(IdentityResolver(config.ignore_labels), peer_cap(config))


def peer_cap(config: LearnConfig) -> PeerCap | None:
    """The cap on distinct outside addresses per edge group that ``config`` sets, if any."""
    if config.max_external_peers <= 0:
        return None
    return PeerCap(config.max_external_peers, config.cluster_cidrs)


def reading_progress(env: Env, inputs: Sequence[str]) -> Progress:
    """Progress of reading ``inputs``: a percentage of their bytes, or a count for stdin."""
    return env.progress("reading flows", total=total_size(expand_inputs(inputs)))


PROGRESS_EVERY = 0x3FF
"""Report progress once per this many + 1 included flows (cheap enough at any rate)."""


def ingest(
    flows: Iterable[Flow],
    store: EdgeStore,
    config: LearnConfig,
    stats: NormalizeStats,
    progress: ProgressSink | None = None,
    repeats: Repeats | None = None,
) -> None:
    """Normalise ``flows`` and add the included ones to ``store``, reporting to ``progress``
    how many flows were read and how many bytes of the files that ``flows`` opened.

    ``repeats``: the tally the reader of ``flows`` keeps of repeated lines
    (:mod:`learner.model.repeats`); settled here as flows are added, applied at the end."""
    add = store.add
    options = config.normalize_options()
    included = normalize(
        flows, options, stats, on_denied=store.note_denied, on_answer=store.note_answers
    )
    if repeats is not None:
        # Applying early changes nothing but memory (a tally lands where its edge is by then,
        # as its lines read one by one would have): the table's tallies are applied whenever
        # it is full.
        repeats.on_flush = lambda: apply_repeats(repeats, store, options, stats)
        repeats.reason_of = lambda flow: skip_reason(flow, options)
    if progress is None:
        if repeats is None:
            for flow in included:
                add(flow)
            return
        settle = repeats.settle
        for flow in included:
            add(flow)
            settle(flow, store)
        apply_repeats(repeats, store, options, stats)
        return
    try:
        with metered_reads() as meter:
            if repeats is not None:
                settle = repeats.settle
                tallied = repeats

                def report() -> None:
                    progress.update(stats.seen + tallied.tallied, meter.position())

                repeats.on_progress = report
                for flow in included:
                    add(flow)
                    settle(flow, store)
                    if stats.included & PROGRESS_EVERY == 0:
                        report()
                apply_repeats(repeats, store, options, stats)
            else:
                for flow in included:
                    add(flow)
                    if stats.included & PROGRESS_EVERY == 0:
                        progress.update(stats.seen, meter.position())
            progress.update(stats.seen, meter.position())
    finally:
        progress.close()


class Learner(TypingProtocol):
    """What every learner is: ``fit`` on an edge store, then ``proposal_``."""

    @property
    def proposal_(self) -> Proposal: ...

    def fit(self, store: EdgeStore, inventory: Inventory | None = None) -> Learner: ...


def make_learner(config: LearnConfig) -> Learner:
    if config.learner == "baseline":
        return BaselineLearner()
    return PolicyLearner(config)


def effective_inventory(store: EdgeStore, inventory: Inventory | None) -> Inventory:
    """The given inventory completed with what the flows show (never less than observed)."""
    observed = from_store(store)
    return observed if inventory is None else inventory.merged(observed)


CONTESTED_REASON = (
    "allowed where it left but dropped where it arrived: the destination's current policy "
    "denies it (--include-dropped to learn it anyway)"
)


def build_proposal(store: EdgeStore, inventory: Inventory | None, config: LearnConfig) -> Proposal:
    store.resolve_unlabelled()
    known_owners = inventory is not None and not inventory.inferred
    grouping = group_by_owner(store, inventory) if inventory is not None and known_owners else None
    contested = {} if config.include_dropped else {k: store.edges.pop(k) for k in store.contested()}
    learner = make_learner(config)
    try:
        learner.fit(store, effective_inventory(store, inventory))
    finally:
        store.edges.update(contested)
    proposal: Proposal = learner.proposal_
    if contested:
        held = tuple(
            PendingEdge(key, CONTESTED_REASON, Evidence(s.count, s.first_seen, s.last_seen))
            for key, s in sorted(contested.items())
        )
        proposal = replace(
            proposal,
            pending=tuple(sorted(proposal.pending + held, key=lambda p: (p.edge, p.reason))),
        )
    if config.render.l7:
        proposal = with_http_rules(proposal, store)
    proposal = replace(
        proposal,
        warnings=proposal.warnings + owner_warnings(grouping) + folded_denied_warnings(store),
    )
    if dialect(config.format) == "cilium":
        proposal = without_node_network_admits(proposal)
    return scope_proposal(proposal, config.namespaces, config.include_system)


def without_node_network_admits(proposal: Proposal) -> Proposal:
    """Cilium names nodes by entity (``toEntities: host``), not by the node network's
    addresses, so a rule there admits no address beyond the nodes for them, and a node added
    later is reached whatever its address."""

    def kept(rules: tuple[Rule, ...] | None) -> tuple[Rule, ...] | None:
        if rules is None:
            return None
        return tuple(replace(rule, admits=without_node_network(rule.admits)) for rule in rules)

    policies = tuple(
        replace(p, ingress=kept(p.ingress), egress=kept(p.egress)) for p in proposal.policies
    )
    warnings = tuple(w for w in proposal.warnings if not w.startswith(NODES_KEPT_WARNING))
    return replace(proposal, policies=policies, warnings=warnings)


def folded_denied_warnings(store: EdgeStore) -> tuple[str, ...]:
    """What the peer cap did to dropped flows: they are judged by their folded ends."""
    folded = store.folded_denied()
    if not folded or store.denied_cap is None:
        return ()
    ends = sorted(
        {e.address for k in folded for e in (k.source, k.destination) if is_folded(e.address)}
    )
    shown = ", ".join(ends[:5]) + (f" +{len(ends) - 5} more" if len(ends) > 5 else "")
    return (
        f"dropped flows to or from {describe_fold(store.denied_cap.limit, [shown])}: the "
        "report lists those refusals by their folded ends",
    )


def with_http_rules(proposal: Proposal, store: EdgeStore) -> Proposal:
    """Each ingress rule restricted to the HTTP requests seen on its edges (for ``--l7``).

    Rules whose edges carried no L7 HTTP flows stay L3/L4: no requests seen is not "no
    requests allowed".
    """
    from learner.infer.l7 import generalize_http

    policies = []
    for policy in proposal.policies:
        ingress = policy.ingress
        if ingress:
            rules = []
            for rule in ingress:
                requests = [r for e in rule.edges for r in store.edges[e].http]
                seen_everywhere = all(store.edges[e].http for e in rule.edges)
                if requests and seen_everywhere:
                    rule = replace(rule, http=generalize_http(requests))
                rules.append(rule)
            ingress = tuple(rules)
        policies.append(replace(policy, ingress=ingress))
    return replace(proposal, policies=tuple(policies))


def render_policies(proposal: Proposal, config: LearnConfig) -> dict[str, str]:
    files = renderer(config.format)(proposal, config.render)
    if has_cilium_companion(config):
        from outputs.cilium_companion import with_companions

        files = with_companions(files, proposal, config.render, config.cidr_match_nodes)
    return files
