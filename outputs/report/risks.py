"""What a run puts at a reviewer's feet: every risk of the proposal, newly blocked traffic first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from learner.model.config import LearnConfig
from learner.model.diff_result import DiffResult
from learner.model.edges import EdgeStore
from learner.model.external import FOLD_MARK
from learner.model.hidden import HIDDEN_MARK
from learner.model.policy import (
    CIDRPeer,
    Entity,
    EntityPeer,
    PodPeer,
    Proposal,
    ProposedPolicy,
    Rule,
)
from learner.model.pool_rule import POOL_MARK, POOL_RULE
from learner.model.run_stats import CollectorStats, NormalizeStats
from outputs.base import has_cilium_companion
from outputs.cilium_companion import SUFFIX as COMPANION_SUFFIX
from outputs.report.names import WorkloadNames, is_public, plural
from outputs.unexpressed import RISK_KIND as UNEXPRESSED_RISK
from outputs.unexpressed import unexpressed_edges

CNI_RISK = "cni"


@dataclass(frozen=True, slots=True)
class Risk:
    kind: str
    """``newly-blocked``, ``world-egress``, ``world-ingress``, ``broad-selector``, ``overreach``,
    ``dns-churn``, ``address-pool``, ``hidden-addresses``, ``folded-addresses``, ``dropped-traffic``, ``lost-events``, ``malformed-input``."""
    policy: str
    detail: str


def rule_risks(policy: ProposedPolicy, rule: Rule, direction: str) -> list[Risk]:
    risks = []
    for peer in rule.peers:
        if isinstance(peer, CIDRPeer) and is_public(peer.cidr):
            kind = "world-egress" if direction == "egress" else "world-ingress"
            names = f" ({', '.join(peer.names[:3])})" if peer.names else ""
            preposition = "to" if direction == "egress" else "from"
            risks.append(Risk(kind, policy.key, f"{direction} {preposition} {peer.cidr}{names}"))
            if peer.names:
                risks.append(
                    Risk(
                        "dns-churn",
                        policy.key,
                        f"{peer.cidr} stands for {', '.join(peer.names[:3])}: addresses behind DNS names change; prefer --format cilium (toFQDNs)",
                    )
                )
        elif isinstance(peer, EntityPeer) and peer.entity == Entity.WORLD:
            kind = "world-egress" if direction == "egress" else "world-ingress"
            risks.append(Risk(kind, policy.key, f"{direction}: any address outside the cluster"))
        elif isinstance(peer, PodPeer) and peer.namespaces is not None and peer.namespaces.is_empty:
            pods = peer.pods.key if peer.pods is not None else "every pod"
            risks.append(
                Risk("broad-selector", policy.key, f"{direction}: {pods} in every namespace")
            )
    if not rule.peers:
        risks.append(Risk("broad-selector", policy.key, f"{direction}: any peer"))
    for admitted in rule.admits:
        if admitted.startswith(HIDDEN_MARK):
            risks.append(Risk("hidden-addresses", policy.key, f"{direction}: {admitted}"))
        if FOLD_MARK in admitted:
            risks.append(Risk("folded-addresses", policy.key, f"{direction}: {admitted}"))
        if POOL_MARK in admitted:
            risks.append(
                Risk("address-pool", policy.key, f"{direction} {admitted} (rule: {POOL_RULE})")
            )
    if rule.admits:
        unique = list(dict.fromkeys(rule.admits))
        shown = ", ".join(unique[:5])
        more = f" +{len(unique) - 5} more" if len(unique) > 5 else ""
        risks.append(
            Risk(
                "overreach",
                policy.key,
                f"{direction} rule also admits {plural(len(unique), 'unobserved peer')}: "
                f"{shown}{more}",
            )
        )
    return risks


def collect_risks(
    proposal: Proposal,
    collected: CollectorStats,
    normalized: NormalizeStats,
    diff: DiffResult | None,
    names: WorkloadNames | None = None,
) -> list[Risk]:
    """Every risk of the run; ``names`` (needed with a diff) says how workloads are called."""
    risks: list[Risk] = []
    if diff is not None:
        if names is None:
            raise ValueError("collect_risks needs the workload names to describe a diff")
        for change in diff.newly_blocked:
            risks.append(
                Risk(
                    "newly-blocked",
                    "",
                    f"{names.edge(change.edge)} ({plural(change.flows, 'flow')}): "
                    f"{change.proposed}",
                )
            )
    for policy in proposal.policies:
        for direction, rules in (("ingress", policy.ingress), ("egress", policy.egress)):
            for rule in rules or ():
                risks.extend(rule_risks(policy, rule, direction))
    dropped = sum(
        n for reason, n in normalized.skipped.items() if reason.startswith(("dropped", "error"))
    )
    if dropped:
        risks.append(
            Risk(
                "dropped-traffic",
                "",
                f"{plural(dropped, 'dropped/errored flow')} seen and not learned from "
                "(--include-dropped)",
            )
        )
    if collected.lost_events:
        risks.append(
            Risk(
                "lost-events",
                "",
                f"the CNI lost {plural(collected.lost_events, 'event')}: some traffic may be "
                "missing",
            )
        )
    for warning, count in sorted(collected.warnings.items()):
        risks.append(Risk("input-warning", "", f"{warning} ({plural(count, 'record')})"))
    if collected.malformed:
        risks.append(
            Risk(
                "malformed-input",
                "",
                f"{plural(collected.malformed, 'malformed input record')} skipped",
            )
        )
    return risks


_CIDR_MATCH_NOTE = (
    "Cilium matches a NetworkPolicy ipBlock for the API server's or a node's address only "
    "when the agent runs with policy-cidr-match-mode: nodes"
)


def cni_notes(proposal: Proposal, config: LearnConfig, files: Mapping[str, str]) -> list[str]:
    """What the proposal relies on from the CNI that enforces it (``--cni``)."""
    if not has_cilium_companion(config):
        return []
    node_entities = {Entity.HOST, Entity.REMOTE_NODE, Entity.KUBE_APISERVER}
    uses_nodes = any(
        isinstance(peer, EntityPeer) and peer.entity in node_entities
        for policy in proposal.policies
        for rule in (*(policy.ingress or ()), *(policy.egress or ()))
        for peer in rule.peers
    )
    notes = []
    if uses_nodes and config.cidr_match_nodes:
        notes.append(
            f"{_CIDR_MATCH_NOTE}; this proposal assumes it does (--cilium-cidr-match-nodes)"
        )
    companions = sorted(path for path in files if path.endswith(COMPANION_SUFFIX + ".yaml"))
    if companions:
        shown = ", ".join(companions[:5]) + (" ..." if len(companions) > 5 else "")
        notes.append(
            f"{_CIDR_MATCH_NOTE} (off by default), and NetworkPolicy cannot name unmanaged pods "
            f"or the ingress proxy: {len(companions)} CiliumNetworkPolicy companions allow "
            f"those peers by entity; apply them with the NetworkPolicies ({shown})"
        )
    return notes


def all_risks(
    proposal: Proposal,
    store: EdgeStore,
    collected: CollectorStats,
    normalized: NormalizeStats,
    config: LearnConfig,
    policy_files: Mapping[str, str],
    diff: DiffResult | None,
    names: WorkloadNames,
) -> list[Risk]:
    """The run's risks, what the format cannot express and the CNI's caveats included."""
    risks = collect_risks(proposal, collected, normalized, diff, names)
    risks += [
        Risk(UNEXPRESSED_RISK, "", u.reason) for u in unexpressed_edges(store, proposal, config)
    ]
    risks += [Risk(CNI_RISK, "", note) for note in cni_notes(proposal, config, policy_files)]
    return risks
