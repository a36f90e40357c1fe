"""report.md: the finished result for a reviewer, as a pull-request body.

Risks first (newly blocked observed traffic, new world egress, broad selectors), then a
summary table, a Mermaid graph, and long lists inside ``<details>``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from learner.model.config import LearnConfig
from learner.model.diff_result import DiffResult
from learner.model.edges import EdgeStore, flows_in
from learner.model.external import has_folded_class_end
from learner.model.hidden import has_hidden_end
from learner.model.policy import Proposal, ProposedPolicy
from outputs.report.finished_run import FinishedRun
from outputs.report.mermaid import FanOut, GraphEdge, GraphNode, charts, observed_graph
from outputs.report.names import WorkloadNames, iso, plural
from outputs.report.risks import CNI_RISK, Risk
from outputs.unexpressed import RISK_KIND as UNEXPRESSED_RISK

MAX_LIST = 50


INLINE_ITEMS = 3
"""Items of each risk shown inline; the rest are folded."""


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


def report_markdown(run: FinishedRun, paths: Mapping[str, str], names: WorkloadNames) -> str:
    """report.md of a finished run (``paths``: policy → the link to its file)."""
    unexpressed = sum(1 for r in run.risks if r.kind == UNEXPRESSED_RISK)
    hidden = sum(1 for edge in run.store.edges if has_hidden_end(edge.source, edge.destination))
    exceptions = []
    if unexpressed:
        exceptions.append(
            f"{unexpressed} that `{run.config.format}` cannot express (listed under Risks as "
            "cannot-express)"
        )
    if hidden:
        exceptions.append(
            f"{plural(hidden, 'edge')} whose address (outside the cluster, or a node's) "
            "Calico's aggregation hid, allowed by the whole hidden space (listed under Risks as "
            "hidden-addresses)"
        )
    folded = sum(1 for edge in run.store.edges if has_folded_class_end(edge))
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
        f"{plural(len(run.proposal.policies), 'policy', 'policies')} ({run.config.format}) for "
        f"{plural(len(run.store.workloads), 'workload')}, learned by "
        f"{learner_name(run.proposal, run.config)} from {plural(run.normalized.included, 'record')} "
        f"({plural(flows_in(run.store.edges.values()), 'flow')}: a connection reported at both of "
        f"its ends is one flow, in `verify` too) on {plural(len(run.store.edges), 'edge')} (an edge "
        f"is one source, destination and port). {checked}",
        "",
    ]
    lines += risk_section(run.risks)
    changed: dict[str, str] = {}
    if run.diff is not None:
        for path in run.diff.added_files:
            changed[path.removesuffix(".yaml")] = "new"
        for path in run.diff.changed_files:
            changed[path.removesuffix(".yaml")] = "changed"
    lines += summary_table(run.proposal, paths, run.statuses, changed)
    if run.diff is not None:
        lines += diff_section(run.diff, names)
    graph_edges = observed_graph(run.store, run.diff, names)
    if graph_edges:
        lines += graph_section(graph_edges)
    rule_body = "\n\n".join(
        f"**{p.key}** (selects {code(p.subject.key)})\n\n{rules_markdown(p)}"
        for p in run.proposal.policies
    )
    if rule_body:
        lines.append(details("Rules and their evidence", rule_body))
    if run.proposal.pending:
        body = "\n".join(
            f"- {md_escape(names.edge(p.edge))}: {p.reason} ({plural(p.evidence.flows, 'flow')}, "
            f"last {iso(p.evidence.last_seen)})"
            for p in run.proposal.pending[:MAX_LIST]
        )
        lines.append(details(f"Pending edges, not yet allowed ({len(run.proposal.pending)})", body))
    skipped = "\n".join(
        f"- {reason}: {n:,}" for reason, n in sorted(run.normalized.skipped.items())
    )
    errors = "\n".join(f"- {code(str(e))}" for e in run.collected.errors)
    input_body = (
        f"- files: {run.collected.files}, records: {run.collected.records:,}, flows: {run.collected.flows:,}\n"
        f"- malformed: {run.collected.malformed:,}; lost events: {run.collected.lost_events:,}\n"
        + (f"{skipped}\n" if skipped else "")
        + (f"\nFirst malformed records:\n\n{errors}\n" if errors else "")
    )
    lines.append(details("Input", input_body))
    if run.proposal.warnings:
        lines.append(
            details(
                f"Warnings ({len(run.proposal.warnings)})",
                "\n".join(f"- {md_escape(w)}" for w in run.proposal.warnings[:MAX_LIST]),
            )
        )
    return "\n".join(lines).rstrip() + "\n"


def diff_markdown(diff: DiffResult, store: EdgeStore) -> str:
    names = WorkloadNames(None, store)
    lines = [
        "# Network policy change",
        "",
        f"{code(diff.current_label)} → {code(diff.proposed_label)}, judged on "
        f"{plural(len(store.edges), 'observed edge')} (source, destination and port).",
        "",
        "## Risks",
        "",
    ]
    if diff.newly_blocked:
        count = plural(len(diff.newly_blocked), "observed connection")
        lines.append(f"- 🔴 **{count} would be blocked**:")
        lines.append("")
        for change in diff.newly_blocked[:MAX_LIST]:
            lines.append(
                f"  - {md_escape(names.edge(change.edge))} ({plural(change.flows, 'flow')}): "
                f"{md_escape(change.proposed)}"
            )
        lines.append("")
    else:
        lines += ["No observed connection would be blocked.", ""]
    if diff.pairs_newly_allowed:
        pairs = plural(len(diff.pairs_newly_allowed), "workload pair × port", "pairs × ports")
        lines += [f"- 🟠 {pairs} become reachable.", ""]
    lines += diff_section(diff, names)
    changed = [e for e in observed_graph(store, diff, names) if e.change]
    if changed:
        lines += graph_section(changed, "Changed connections")
    return "\n".join(lines).rstrip() + "\n"
