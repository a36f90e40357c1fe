"""report.md (a pull-request body) and report.json (for tools) beside the policies.

report.md puts risks first (newly blocked observed traffic, new world egress, broad
selectors), then a summary table, a Mermaid graph, and long lists inside ``<details>``.
report.json follows ``outputs/schemas/report.schema.json``.
"""

from __future__ import annotations

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
from learner.model.external import FOLD_MARK, has_folded_class_end
from learner.model.hidden import HIDDEN_MARK, has_hidden_end
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
from outputs.report.mermaid import (
    ADDED,
    REACHABLE,
    REMOVED,
    FanOut,
    GraphEdge,
    GraphNode,
    charts,
)
from outputs.report.names import WorkloadNames, is_public, parse_identity_key, place, plural
from outputs.unexpressed import RISK_KIND as UNEXPRESSED_RISK
from outputs.unexpressed import unexpressed_edges

SCHEMA_VERSION = 1
CNI_RISK = "cni"
MAX_LIST = 50
INLINE_ITEMS = 3
"""Items of each risk shown inline; the rest are folded."""


def iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds)) if seconds else ""


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


def graph_node(
    identity: Identity, names: WorkloadNames, dns_names: set[str] | None = None
) -> GraphNode:
    """One node per workload, named as its policy; outside peers by DNS name or place (one
    node for all internet clients, all nodes ...), so graphs stay readable."""
    if identity.is_pod:
        name = names.name(identity)
        return GraphNode(identity.namespace, name, f"{identity.namespace}/{name}")
    label = place(identity, dns_names or ())
    return GraphNode("external", label, f"external:{label}")


def observed_graph(
    store: EdgeStore, diff: DiffResult | None, names: WorkloadNames
) -> list[GraphEdge]:
    """Workload-level edges with their ports; with a diff, changed edges marked, and pairs the
    proposal newly opens without observed traffic (a widened rule) added as ``reachable``."""
    change: dict[tuple[str, str, str], str] = {}
    if diff is not None:
        for item in diff.newly_allowed:
            e = item.edge
            change[(e.source.key, e.destination.key, f"{e.port}/{e.protocol}")] = ADDED
        for item in diff.newly_blocked:
            e = item.edge
            change[(e.source.key, e.destination.key, f"{e.port}/{e.protocol}")] = REMOVED
    grouped: dict[tuple[GraphNode, GraphNode, str], list[str]] = defaultdict(list)
    for edge, stats in store.sorted_edges():
        if edge.source.kind == "host" and edge.destination.is_pod:
            continue  # probes from the pod's own node: always allowed, only clutter
        if is_dns_server(edge.destination.labels) and is_dns_port(edge.protocol, edge.port):
            continue  # every workload's lookups: one shared rule, said in a sentence
        port = f"{edge.port}/{edge.protocol}" if edge.port else edge.protocol
        state = change.get(
            (edge.source.key, edge.destination.key, f"{edge.port}/{edge.protocol}"), ""
        )
        src = graph_node(edge.source, names)
        dst = graph_node(edge.destination, names, stats.dns_names)
        if src.group == "external" and dst.group == "external":
            continue
        grouped[(src, dst, state)].append(port)
    observed = {(e.source.key, e.destination.key, f"{e.port}/{e.protocol}") for e in store.edges}
    for pair in diff.pairs_newly_allowed if diff is not None else ():
        source, destination = parse_identity_key(pair.source), parse_identity_key(pair.destination)
        if (
            source is None
            or destination is None
            or (pair.source, pair.destination, pair.port) in observed
        ):
            continue
        key = (graph_node(source, names), graph_node(destination, names), REACHABLE)
        grouped[key].append(pair.port)
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


def code(text: str) -> str:
    """An inline code span; its content is shown as written, so it is never entity-escaped."""
    text = _CONTROL.sub(" ", text)
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


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


def risk_line(risk: Risk) -> str:
    return f"{(code(risk.policy) + ': ') if risk.policy else ''}{md_escape(risk.detail)}"


def risk_section(risks: list[Risk]) -> list[str]:
    """Each kind of risk with its first items inline and the rest folded below them."""
    lines = ["## Risks", ""]
    if not risks:
        return [*lines, "None found.", ""]
    by_kind: dict[str, list[Risk]] = defaultdict(list)
    for risk in risks:
        by_kind[risk.kind].append(risk)
    for kind in RISK_TITLES:
        items = list(dict.fromkeys(by_kind.get(kind, ())))
        if not items:
            continue
        marker = "🔴" if kind in ("newly-blocked", UNEXPRESSED_RISK) else "🟠"
        lines.append(f"- {marker} **{RISK_TITLES[kind]}** ({len(items)})")
        lines += [f"  - {risk_line(r)}" for r in items[:INLINE_ITEMS]]
        rest = items[INLINE_ITEMS:]
        if rest:
            body = "\n".join(f"- {risk_line(r)}" for r in rest[:MAX_LIST])
            if len(rest) > MAX_LIST:
                body += f"\n- +{len(rest) - MAX_LIST} more in report.json"
            lines += ["", "  " + details(f"+{len(rest)} more", body).replace("\n", "\n  "), ""]
    lines.append("")
    return lines


def summary_table(
    proposal: Proposal,
    paths: Mapping[str, str],
    statuses: Mapping[str, str] | None,
    changed: Mapping[str, str],
) -> list[str]:
    """The one table: a row per policy, with its change against the current policies."""
    header = "| workload | policy | ingress rules | egress rules | flows | last seen |"
    rule = "|---|---|---:|---:|---:|---|"
    if statuses:
        header += " status |"
        rule += "---|"
    if changed:
        header += " change |"
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
        row = f"| {md_escape(policy.key)} | {md_escape(name)} | {ingress} | {egress} | {flows:,} | {iso(last)} |"
        if statuses:
            row += f" {statuses.get(policy.workload, '')} |"
        if changed:
            row += f" {changed.get(policy.key, '')} |"
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
        for number, rule in enumerate(rules, start=1):
            peers = "; ".join(p.key for p in rule.peers) or "any peer"
            ports = ", ".join(p.key for p in rule.ports) or "any port"
            text = f"- **{direction} rule {number}** {md_escape(peers)} on {ports}"
            if rule.purpose:
                text += f" — {rule.purpose}"
            if rule.evidence.flows:
                text += (
                    f" ({plural(rule.evidence.flows, 'flow')}, {plural(len(rule.edges), 'edge')})"
                )
            if rule.admits:
                admitted = list(dict.fromkeys(rule.admits))
                more = f" +{len(admitted) - 10} more" if len(admitted) > 10 else ""
                text += f"; also admits: {md_escape(', '.join(admitted[:10]))}{more}"
            out.append(text)
    return "\n".join(out)


def diff_counts(diff: DiffResult) -> str:
    return (
        f"Of the observed connections, {len(diff.newly_blocked)} become blocked, "
        f"{len(diff.newly_allowed)} become allowed, {diff.unchanged} keep their verdict and "
        f"{diff.blocked_both} are blocked by both. Between the workloads the inventory knows "
        f"({diff.pairs_total} pairs × ports), {len(diff.pairs_newly_allowed)} become reachable "
        f"and {len(diff.pairs_newly_denied)} unreachable."
    )


def diff_section(diff: DiffResult, names: WorkloadNames) -> list[str]:
    lines = ["## Change against current policies", "", diff_counts(diff), ""]

    def change_list(items: list[Any]) -> str:
        return "\n".join(
            f"- {md_escape(names.edge(c.edge))} ({plural(c.flows, 'flow')}): "
            f"{md_escape(c.current)} → {md_escape(c.proposed)}"
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

        def pair(sign: str, p: Any) -> str:
            source, destination = names.qualified_key(p.source), names.qualified_key(p.destination)
            return f"- {sign} {source} → {destination} {p.port}"

        body = "\n".join(
            [pair("➕", p) for p in diff.pairs_newly_allowed[:MAX_LIST]]
            + [pair("➖", p) for p in diff.pairs_newly_denied[:MAX_LIST]]
        )
        lines.append(details("Reachability changes between workloads", body))
    if diff.unused_rules:
        body = "\n".join(
            f"- {code(u.policy)} {u.direction} rule {u.index + 1}: {md_escape(u.summary)}"
            for u in diff.unused_rules[:MAX_LIST]
        )
        lines.append(
            details(f"Current rules no observed flow used ({len(diff.unused_rules)})", body)
        )
    if diff.text:
        body = "\n".join(f"```diff\n{text.rstrip()}\n```" for _, text in sorted(diff.text.items()))
        lines.append(details(f"Textual diff ({plural(len(diff.text), 'file')})", body))
    return lines


def shown(node: GraphNode) -> str:
    """A graph node as the text under the graph names it: ``shop/api``, ``internet``."""
    return f"{node.group}/{node.label}" if node.group and node.group != "external" else node.label


def fan_out_lines(fans: tuple[FanOut, ...]) -> list[str]:
    """What each group edge of a graph stands for."""
    lines = []
    for fan in fans:
        peers = [(e.destination if fan.outgoing else e.source, e.label) for e in fan.members]
        listed = ", ".join(f"{shown(peer)} ({label})" for peer, label in peers)
        arrow = "→" if fan.outgoing else "←"
        lines.append(f"- {md_escape(shown(fan.hub))} {arrow} {len(peers)}: {md_escape(listed)}")
    return lines


def graph_section(edges: list[GraphEdge], title: str = "Observed traffic") -> list[str]:
    lines = [
        f"## {title}",
        "",
        "Lookups to the cluster DNS and probes from each pod's own node are left out; a node "
        "talking to many peers is drawn with one edge to a group, listed under the graph.",
        "",
    ]
    if any(e.change for e in edges):
        lines += [
            "Changes against the current policies: green `+` newly allowed (dashed where no "
            "traffic was observed, e.g. a widened rule), red `-` newly blocked.",
            "",
        ]
    found = charts(edges)
    for chart in found:
        body = [chart.block]
        if chart.fans:
            body += ["", "Group edges:", "", *fan_out_lines(chart.fans)]
        if not chart.title:
            lines += [*body, ""]
        elif chart.title == "overview":
            lines += [
                "### Namespaces",
                "",
                "Each edge is labelled with the number of workload connections it stands for; "
                "traffic inside a namespace is in that namespace's graph below.",
                "",
                *body,
                "",
            ]
        else:
            lines.append(details(f"Namespace {chart.title}", "\n".join(body)))
    return lines


def learner_name(proposal: Proposal, config: LearnConfig) -> str:
    """``the least-privilege learner (max_overreach=2)``."""
    name, _, settings = (proposal.learner or config.learner).partition(" ")
    return f"the {name} learner" + (f" {settings}" if settings else "")


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
    names: WorkloadNames,
    statuses: Mapping[str, str] | None = None,
) -> str:
    unexpressed = sum(1 for r in risks if r.kind == UNEXPRESSED_RISK)
    hidden = sum(1 for edge in store.edges if has_hidden_end(edge.source, edge.destination))
    exceptions = []
    if unexpressed:
        exceptions.append(
            f"{unexpressed} that `{config.format}` cannot express (listed under Risks as "
            "cannot-express)"
        )
    if hidden:
        exceptions.append(
            f"{plural(hidden, 'edge')} whose outside address Calico's aggregation hid, allowed "
            "by the whole hidden space (listed under Risks as hidden-addresses)"
        )
    folded = sum(1 for edge in store.edges if has_folded_class_end(edge))
    if folded:
        exceptions.append(
            f"{plural(folded, 'edge')} whose outside addresses --max-external-peers folded into "
            "a whole address class, allowed by that class (listed under Risks as "
            "folded-addresses)"
        )
    checked = (
        "Every observed connection they stand for was checked against the rendered policies."
        if not exceptions
        else "The observed connections they stand for were checked against the rendered "
        f"policies, except {' and '.join(exceptions)}."
    )
    lines = [
        "# Proposed network policies",
        "",
        f"{plural(len(proposal.policies), 'policy', 'policies')} ({config.format}) for "
        f"{plural(len(store.workloads), 'workload')}, learned by "
        f"{learner_name(proposal, config)} from {plural(normalized.included, 'record')} "
        f"({plural(flows_in(store.edges.values()), 'flow')}: a connection reported at both of "
        f"its ends is one flow, in `verify` too) on {plural(len(store.edges), 'edge')} (an edge "
        f"is one source, destination and port). {checked}",
        "",
    ]
    lines += risk_section(risks)
    changed: dict[str, str] = {}
    if diff is not None:
        for path in diff.added_files:
            changed[path.removesuffix(".yaml")] = "new"
        for path in diff.changed_files:
            changed[path.removesuffix(".yaml")] = "changed"
    lines += summary_table(proposal, paths, statuses, changed)
    if diff is not None:
        lines += diff_section(diff, names)
    graph_edges = observed_graph(store, diff, names)
    if graph_edges:
        lines += graph_section(graph_edges)
    rule_body = "\n\n".join(
        f"**{p.key}** (selects {code(p.subject.key)})\n\n{rules_markdown(p)}"
        for p in proposal.policies
    )
    if rule_body:
        lines.append(details("Rules and their evidence", rule_body))
    if proposal.pending:
        body = "\n".join(
            f"- {md_escape(names.edge(p.edge))}: {p.reason} ({plural(p.evidence.flows, 'flow')}, "
            f"last {iso(p.evidence.last_seen)})"
            for p in proposal.pending[:MAX_LIST]
        )
        lines.append(details(f"Pending edges, not yet allowed ({len(proposal.pending)})", body))
    skipped = "\n".join(f"- {reason}: {n:,}" for reason, n in sorted(normalized.skipped.items()))
    errors = "\n".join(f"- {code(str(e))}" for e in collected.errors)
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
    manifest_link: str = "",
) -> dict[str, str]:
    """report.md and report.json for a finished run; ``diff`` compares with the current
    policies; ``manifest_link`` is the manifest directory as seen from the report's (links in
    report.md go through it)."""
    names = WorkloadNames(proposal, store)
    risks = collect_risks(proposal, collected, normalized, diff, names)
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
        risks=risks,
        diff=diff,
        statuses=statuses,
    )
    data = report_json(paths=paths, **common)
    prefix = manifest_link.rstrip("/") + "/" if manifest_link else ""
    links = {key: prefix + path for key, path in paths.items()}
    return {
        "report.md": report_markdown(paths=links, names=names, **common),
        "report.json": json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
    }
