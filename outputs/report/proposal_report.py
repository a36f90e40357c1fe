"""report.md (a pull-request body) and report.json (for tools) beside the policies.

report.md puts risks first (newly blocked observed traffic, new world egress, broad
selectors), then a summary table, a Mermaid graph, and long lists inside ``<details>``.
report.json follows ``outputs/schemas/report.schema.json``.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from learner.model.config import LearnConfig
from learner.model.diff_result import DiffResult
from learner.model.edges import EdgeStore, flows_in
from learner.model.hidden import HIDDEN_MARK
from learner.model.identity import Identity
from learner.model.infra import is_dns_port, is_dns_server
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
from outputs.cilium_companion import SUFFIX as COMPANION_SUFFIX
from outputs.report.mermaid import GraphEdge, GraphNode, blocks
from outputs.unexpressed import RISK_KIND as UNEXPRESSED_RISK
from outputs.unexpressed import unexpressed_edges

SCHEMA_VERSION = 1
CNI_RISK = "cni"
MAX_LIST = 50


def iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds)) if seconds else ""


@dataclass(frozen=True, slots=True)
class Risk:
    kind: str
    """``newly-blocked``, ``world-egress``, ``world-ingress``, ``broad-selector``, ``overreach``,
    ``dns-churn``, ``address-pool``, ``hidden-addresses``, ``dropped-traffic``, ``lost-events``, ``malformed-input``."""
    policy: str
    detail: str


def is_public(cidr: str) -> bool:
    network = ipaddress.ip_network(cidr, strict=False)
    return not (network.is_private or network.is_loopback or network.is_link_local)


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
        if POOL_MARK in admitted:
            risks.append(
                Risk("address-pool", policy.key, f"{direction} {admitted} (rule: {POOL_RULE})")
            )
    if rule.admits:
        risks.append(
            Risk(
                "overreach",
                policy.key,
                f"{direction} rule also admits {len(rule.admits)} unobserved: {', '.join(rule.admits[:5])}",
            )
        )
    return risks


def collect_risks(
    proposal: Proposal,
    collected: CollectorStats,
    normalized: NormalizeStats,
    diff: DiffResult | None,
) -> list[Risk]:
    risks: list[Risk] = []
    if diff is not None:
        for change in diff.newly_blocked:
            risks.append(
                Risk(
                    "newly-blocked",
                    "",
                    f"{change.edge.key} ({change.flows} flows): {change.proposed}",
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
                f"{dropped} dropped/errored flows were seen and not learned from (--include-dropped)",
            )
        )
    if collected.lost_events:
        risks.append(
            Risk(
                "lost-events",
                "",
                f"the CNI lost {collected.lost_events} events: some traffic may be missing",
            )
        )
    for warning, count in sorted(collected.warnings.items()):
        risks.append(Risk("input-warning", "", f"{warning} ({count} records)"))
    if collected.malformed:
        risks.append(
            Risk(
                "malformed-input", "", f"{collected.malformed} malformed input records were skipped"
            )
        )
    return risks


def external_name(identity: Identity, names: set[str]) -> str:
    """How the graph shows a non-pod peer: by DNS name, else as a kind of place (one node for
    all internet clients, all nodes ...), so graphs stay readable with thousands of addresses."""
    if identity.kind == "world":
        if names:
            first = sorted(names)[0]
            return first if len(names) == 1 else f"{first} +{len(names) - 1}"
        if identity.address and not is_public(identity.address):
            return "private network"
        return "internet"
    if identity.kind in ("host", "remote-node"):
        return "nodes"
    return identity.kind


def graph_node(identity: Identity, store: EdgeStore, names: set[str] | None = None) -> GraphNode:
    if identity.is_pod:
        info = store.workloads.get(identity)
        name = info.name if info is not None and info.name else identity.key
        return GraphNode(identity.namespace, name, identity.key)
    label = external_name(identity, names or set())
    return GraphNode("external", label, f"external:{label}")


def observed_graph(store: EdgeStore, diff: DiffResult | None) -> list[GraphEdge]:
    """Workload-level edges with their ports; with a diff, changed edges marked."""
    change: dict[tuple[str, str, str], str] = {}
    if diff is not None:
        for item in diff.newly_allowed:
            e = item.edge
            change[(e.source.key, e.destination.key, f"{e.port}/{e.protocol}")] = "added"
        for item in diff.newly_blocked:
            e = item.edge
            change[(e.source.key, e.destination.key, f"{e.port}/{e.protocol}")] = "removed"
    grouped: dict[tuple[GraphNode, GraphNode, str], list[str]] = defaultdict(list)
    for edge, stats in store.sorted_edges():
        if edge.source.kind == "host" and edge.destination.is_pod:
            continue  # probes from the pod's own node: always allowed, only clutter
        if is_dns_server(edge.destination.labels) and is_dns_port(edge.protocol, edge.port):
            continue  # every workload's lookups: one shared rule, drawn as an arrow from all
        port = f"{edge.port}/{edge.protocol}" if edge.port else edge.protocol
        state = change.get(
            (edge.source.key, edge.destination.key, f"{edge.port}/{edge.protocol}"), ""
        )
        src = graph_node(edge.source, store)
        dst = graph_node(edge.destination, store, stats.dns_names)
        if src.group == "external" and dst.group == "external":
            continue
        grouped[(src, dst, state)].append(port)
    edges = []
    for (src, dst, state), ports in grouped.items():
        shown = sorted(set(ports))
        label = ", ".join(shown[:4]) + (f" +{len(shown) - 4}" if len(shown) > 4 else "")
        edges.append(GraphEdge(src, dst, label, state))
    return edges


def rule_json(rule: Rule) -> dict[str, Any]:
    return {
        "peers": [p.key for p in rule.peers],
        "ports": [p.key for p in rule.ports],
        "purpose": rule.purpose,
        "evidence": {
            "flows": rule.evidence.flows,
            "first_seen": iso(rule.evidence.first_seen),
            "last_seen": iso(rule.evidence.last_seen),
        },
        "edges": [e.key for e in rule.edges],
        "admits_unobserved": list(rule.admits),
    }


def policy_json(policy: ProposedPolicy, path: str) -> dict[str, Any]:
    return {
        "namespace": policy.namespace,
        "name": policy.name,
        "file": path,
        "workload": policy.workload,
        "subject": policy.subject.key,
        "policy_types": list(policy.policy_types),
        "ingress": [rule_json(r) for r in policy.ingress or ()],
        "egress": [rule_json(r) for r in policy.egress or ()],
    }


def diff_json(diff: DiffResult) -> dict[str, Any]:
    def change(c: Any) -> dict[str, Any]:
        return {"edge": c.edge.key, "flows": c.flows, "current": c.current, "proposed": c.proposed}

    return {
        "newly_blocked": [change(c) for c in diff.newly_blocked],
        "newly_allowed": [change(c) for c in diff.newly_allowed],
        "unchanged": diff.unchanged,
        "blocked_both": diff.blocked_both,
        "pairs": {
            "total": diff.pairs_total,
            "newly_allowed": [
                {"source": p.source, "destination": p.destination, "port": p.port}
                for p in diff.pairs_newly_allowed
            ],
            "newly_denied": [
                {"source": p.source, "destination": p.destination, "port": p.port}
                for p in diff.pairs_newly_denied
            ],
        },
        "unused_rules": [
            {"policy": u.policy, "direction": u.direction, "index": u.index, "summary": u.summary}
            for u in diff.unused_rules
        ],
        "files": {
            "added": diff.added_files,
            "removed": diff.removed_files,
            "changed": diff.changed_files,
        },
    }


def report_json(
    *,
    proposal: Proposal,
    store: EdgeStore,
    collected: CollectorStats,
    normalized: NormalizeStats,
    config: LearnConfig,
    paths: Mapping[str, str],
    risks: list[Risk],
    diff: DiffResult | None,
    statuses: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "format": config.format,
        "learner": proposal.learner or config.learner,
        "input": {
            "files": collected.files,
            "records": collected.records,
            "flows": collected.flows,
            "non_flow_records": dict(sorted(collected.non_flow.items())),
            "malformed": collected.malformed,
            "malformed_examples": [str(e) for e in collected.errors],
            "lost_events": collected.lost_events,
            "flows_used": normalized.included,
            "flows_set_aside": {str(k): v for k, v in sorted(normalized.skipped.items())},
        },
        "edges": len(store.edges),
        "workloads": len(store.workloads),
        "risks": [{"kind": r.kind, "policy": r.policy, "detail": r.detail} for r in risks],
        "policies": [policy_json(p, paths.get(p.key, "")) for p in proposal.policies],
        "pending": [
            {
                "edge": p.edge.key,
                "reason": p.reason,
                "flows": p.evidence.flows,
                "first_seen": iso(p.evidence.first_seen),
                "last_seen": iso(p.evidence.last_seen),
            }
            for p in proposal.pending
        ],
        "warnings": list(proposal.warnings),
        "workload_status": dict(sorted((statuses or {}).items())),
        "diff": diff_json(diff) if diff is not None else None,
    }


def details(summary: str, body: str) -> str:
    return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>\n"


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def md_escape(text: str) -> str:
    """Text from input, safe in a Markdown line, table cell or code span: control characters
    (line breaks) become spaces so nothing can start a fence or heading, and a backtick becomes
    a quote so nothing can end a code span."""
    text = _CONTROL.sub(" ", text).replace("`", "'")
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


RISK_TITLES = {
    "newly-blocked": "Observed traffic the proposal would block",
    UNEXPRESSED_RISK: "Observed connections this dialect cannot express",
    CNI_RISK: "Depends on how the CNI matches peers",
    "world-egress": "Egress to addresses outside the cluster",
    "world-ingress": "Ingress from addresses outside the cluster",
    "broad-selector": "Broad selectors",
    "overreach": "Rules that admit unobserved workloads",
    "dns-churn": "External addresses known by DNS name",
    "dropped-traffic": "Dropped traffic seen",
    "lost-events": "Lost events",
    "malformed-input": "Malformed input",
    "input-warning": "Input warnings",
}


_CIDR_MATCH_NOTE = (
    "Cilium matches a NetworkPolicy ipBlock for the API server's or a node's address only "
    "when the agent runs with policy-cidr-match-mode: nodes"
)


def cni_notes(proposal: Proposal, config: LearnConfig, files: Mapping[str, str]) -> list[str]:
    """What the proposal relies on from the CNI that enforces it (``--cni``)."""
    if config.cni != "cilium" or config.format != "networkpolicy":
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


def risk_section(risks: list[Risk]) -> list[str]:
    lines = ["## Risks", ""]
    if not risks:
        return [*lines, "None found.", ""]
    by_kind: dict[str, list[Risk]] = defaultdict(list)
    for risk in risks:
        by_kind[risk.kind].append(risk)
    for kind in RISK_TITLES:
        items = by_kind.get(kind)
        if not items:
            continue
        marker = "🔴" if kind in ("newly-blocked", UNEXPRESSED_RISK) else "🟠"
        lines.append(f"- {marker} **{RISK_TITLES[kind]}**: {len(items)}")
        body = "\n".join(
            f"- {('`' + md_escape(r.policy) + '`: ') if r.policy else ''}{md_escape(r.detail)}"
            for r in items[:MAX_LIST]
        )
        if len(items) > MAX_LIST:
            body += f"\n- ... {len(items) - MAX_LIST} more in report.json"
        lines.append("")
        lines.append(details(f"{len(items)} item{'s' if len(items) != 1 else ''}", body))
    return lines


def summary_table(
    proposal: Proposal, paths: Mapping[str, str], statuses: Mapping[str, str] | None
) -> list[str]:
    header = "| namespace | policy | ingress rules | egress rules | flows | last seen |"
    rule = "|---|---|---:|---:|---:|---|"
    if statuses:
        header += " status |"
        rule += "---|"
    lines = ["## Policies", "", header, rule]
    for policy in proposal.policies:
        rules = [*(policy.ingress or ()), *(policy.egress or ())]
        flows = sum(r.evidence.flows for r in rules)
        last = max((r.evidence.last_seen for r in rules), default=0.0)
        ingress = "–" if policy.ingress is None else str(len(policy.ingress))
        egress = "–" if policy.egress is None else str(len(policy.egress))
        path = paths.get(policy.key, "")
        name = f"[{policy.name}]({path})" if path else policy.name
        row = f"| {md_escape(policy.namespace)} | {md_escape(name)} | {ingress} | {egress} | {flows:,} | {iso(last)} |"
        if statuses:
            row += f" {statuses.get(policy.workload, '')} |"
        lines.append(row)
    lines.append("")
    return lines


def rules_markdown(policy: ProposedPolicy) -> str:
    out = []
    for direction, rules in (("ingress", policy.ingress), ("egress", policy.egress)):
        if rules is None:
            continue
        if not rules:
            out.append(f"- **{direction}**: deny all")
        for rule in rules:
            peers = "; ".join(p.key for p in rule.peers) or "any peer"
            ports = ", ".join(p.key for p in rule.ports) or "any port"
            text = f"- **{direction}** {md_escape(peers)} on {ports}"
            if rule.purpose:
                text += f" — {rule.purpose}"
            if rule.evidence.flows:
                text += f" ({rule.evidence.flows:,} flows, {len(rule.edges)} edges)"
            if rule.admits:
                text += f"; also admits: {md_escape(', '.join(rule.admits[:10]))}"
            out.append(text)
    return "\n".join(out)


def diff_section(diff: DiffResult) -> list[str]:
    lines = [
        "## Change against current policies",
        "",
        "| observed connections | count |",
        "|---|---:|",
        f"| newly blocked | {len(diff.newly_blocked)} |",
        f"| newly allowed | {len(diff.newly_allowed)} |",
        f"| unchanged | {diff.unchanged} |",
        f"| blocked by both | {diff.blocked_both} |",
        "",
        f"Workload pairs × ports (inventory): {len(diff.pairs_newly_allowed)} become allowed, "
        f"{len(diff.pairs_newly_denied)} become denied, of {diff.pairs_total}.",
        "",
    ]

    def change_list(items: list[Any]) -> str:
        return "\n".join(
            f"- `{md_escape(c.edge.key)}` ({c.flows} flows): {md_escape(c.current)} → {md_escape(c.proposed)}"
            for c in items[:MAX_LIST]
        )

    if diff.newly_allowed:
        lines.append(
            details(
                f"Newly allowed observed connections ({len(diff.newly_allowed)})",
                change_list(diff.newly_allowed),
            )
        )
    if diff.pairs_newly_denied or diff.pairs_newly_allowed:
        body = "\n".join(
            [
                f"- ➕ {p.source} → {p.destination} {p.port}"
                for p in diff.pairs_newly_allowed[:MAX_LIST]
            ]
            + [
                f"- ➖ {p.source} → {p.destination} {p.port}"
                for p in diff.pairs_newly_denied[:MAX_LIST]
            ]
        )
        lines.append(details("Reachability changes between workloads", body))
    if diff.unused_rules:
        body = "\n".join(
            f"- `{md_escape(u.policy)}` {u.direction} rule {u.index}: {md_escape(u.summary)}"
            for u in diff.unused_rules[:MAX_LIST]
        )
        lines.append(
            details(f"Current rules no observed flow used ({len(diff.unused_rules)})", body)
        )
    if diff.text:
        body = "\n".join(f"```diff\n{text.rstrip()}\n```" for _, text in sorted(diff.text.items()))
        lines.append(details(f"Textual diff ({len(diff.text)} files)", body))
    return lines


def report_markdown(
    *,
    proposal: Proposal,
    store: EdgeStore,
    collected: CollectorStats,
    normalized: NormalizeStats,
    config: LearnConfig,
    paths: Mapping[str, str],
    risks: list[Risk],
    diff: DiffResult | None,
    statuses: Mapping[str, str] | None = None,
) -> str:
    unexpressed = sum(1 for r in risks if r.kind == UNEXPRESSED_RISK)
    checked = (
        "Every observed connection they stand for was checked against the rendered policies."
        if not unexpressed
        else f"The observed connections they stand for were checked against the rendered "
        f"policies, except {unexpressed} that `{config.format}` cannot express (listed under "
        "Risks as cannot-express)."
    )
    lines = [
        "# Proposed network policies",
        "",
        f"{len(proposal.policies)} `{config.format}` policies for {len(store.workloads)} workloads, "
        f"learned by `{proposal.learner or config.learner}` from {normalized.included:,} records "
        f"({flows_in(store.edges.values()):,} flows, {len(store.edges):,} edges). {checked}",
        "",
    ]
    lines += risk_section(risks)
    if diff is not None:
        lines += diff_section(diff)
    lines += summary_table(proposal, paths, statuses)
    graph_edges = observed_graph(store, diff)
    if graph_edges:
        lines += [
            "## Observed traffic",
            "",
            "Lookups to the cluster DNS and probes from each pod's own node are left out.",
            "",
        ]
        for title, block in blocks(graph_edges):
            if title:
                lines.append(f"### {md_escape(title)}")
                lines.append("")
            lines.append(block)
            lines.append("")
    rule_body = "\n\n".join(
        f"**{md_escape(p.key)}** (`{md_escape(p.subject.key)}`)\n\n{rules_markdown(p)}"
        for p in proposal.policies
    )
    if rule_body:
        lines.append(details("Rules and their evidence", rule_body))
    if proposal.pending:
        body = "\n".join(
            f"- `{md_escape(p.edge.key)}`: {p.reason} ({p.evidence.flows} flows, last {iso(p.evidence.last_seen)})"
            for p in proposal.pending[:MAX_LIST]
        )
        lines.append(details(f"Pending edges, not yet allowed ({len(proposal.pending)})", body))
    skipped = "\n".join(f"- {reason}: {n:,}" for reason, n in sorted(normalized.skipped.items()))
    errors = "\n".join(f"- `{md_escape(str(e))}`" for e in collected.errors)
    input_body = (
        f"- files: {collected.files}, records: {collected.records:,}, flows: {collected.flows:,}\n"
        f"- malformed: {collected.malformed:,}; lost events: {collected.lost_events:,}\n"
        + (f"{skipped}\n" if skipped else "")
        + (f"\nFirst malformed records:\n\n{errors}\n" if errors else "")
    )
    lines.append(details("Input", input_body))
    if proposal.warnings:
        lines.append(
            details(
                f"Warnings ({len(proposal.warnings)})",
                "\n".join(f"- {md_escape(w)}" for w in proposal.warnings[:MAX_LIST]),
            )
        )
    return "\n".join(lines).rstrip() + "\n"


def policy_paths(proposal: Proposal, policy_files: Mapping[str, str]) -> dict[str, str]:
    """``namespace/name`` → file path, for the renderers' ``<ns>/<name>.yaml`` layout."""
    out = {}
    for policy in proposal.policies:
        path = f"{policy.namespace}/{policy.name}.yaml"
        if path in policy_files:
            out[policy.key] = path
    return out


def report_files(
    *,
    proposal: Proposal,
    store: EdgeStore,
    collected: CollectorStats,
    normalized: NormalizeStats,
    config: LearnConfig,
    policy_files: Mapping[str, str],
    diff: DiffResult | None = None,
    statuses: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """report.md and report.json for a finished run; ``diff`` compares with the current policies."""
    risks = collect_risks(proposal, collected, normalized, diff)
    risks += [
        Risk(UNEXPRESSED_RISK, "", u.reason) for u in unexpressed_edges(store, proposal, config)
    ]
    risks += [Risk(CNI_RISK, "", note) for note in cni_notes(proposal, config, policy_files)]
    paths = policy_paths(proposal, policy_files)
    common: dict[str, Any] = dict(
        proposal=proposal,
        store=store,
        collected=collected,
        normalized=normalized,
        config=config,
        paths=paths,
        risks=risks,
        diff=diff,
        statuses=statuses,
    )
    data = report_json(**common)
    return {
        "report.md": report_markdown(**common),
        "report.json": json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
    }
