"""report.md / report.json for ``netpol-learner diff``: the change, risks first."""

from __future__ import annotations

import json
from typing import Any

from learner.model.diff_result import DiffResult
from learner.model.edges import EdgeStore
from outputs.report.names import WorkloadNames, plural
from outputs.report.proposal_report import (
    SCHEMA_VERSION,
    code,
    diff_json,
    diff_section,
    graph_section,
    md_escape,
    observed_graph,
)

MAX_LIST = 50


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


def diff_report_files(diff: DiffResult, store: EdgeStore) -> dict[str, str]:
    data: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": "diff",
        "current": diff.current_label,
        "proposed": diff.proposed_label,
        "edges": len(store.edges),
        "diff": diff_json(diff),
    }
    return {
        "report.md": diff_markdown(diff, store),
        "report.json": json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
    }
