"""report.md / report.json for ``netpol-learner diff``: the change, risks first."""

from __future__ import annotations

import json
from typing import Any

from learner.model.diff_result import DiffResult
from learner.model.edges import EdgeStore
from outputs.report.mermaid import blocks
from outputs.report.proposal_report import (
    SCHEMA_VERSION,
    diff_json,
    diff_section,
    md_escape,
    observed_graph,
)

MAX_LIST = 50


def diff_markdown(diff: DiffResult, store: EdgeStore) -> str:
    lines = [
        "# Network policy change",
        "",
        f"`{md_escape(diff.current_label)}` → `{md_escape(diff.proposed_label)}`, judged on "
        f"{len(store.edges):,} observed edges.",
        "",
        "## Risks",
        "",
    ]
    if diff.newly_blocked:
        lines.append(f"- 🔴 **{len(diff.newly_blocked)} observed connections would be blocked**:")
        lines.append("")
        for change in diff.newly_blocked[:MAX_LIST]:
            lines.append(
                f"  - `{md_escape(change.edge.key)}` ({change.flows} flows): {md_escape(change.proposed)}"
            )
        lines.append("")
    else:
        lines += ["No observed connection would be blocked.", ""]
    if diff.pairs_newly_allowed:
        lines += [
            f"- 🟠 {len(diff.pairs_newly_allowed)} workload pairs × ports become reachable.",
            "",
        ]
    lines += diff_section(diff)
    changed = [e for e in observed_graph(store, diff) if e.change]
    if changed:
        lines += ["## Changed connections", ""]
        for title, block in blocks(changed):
            if title:
                lines += [f"### {md_escape(title)}", ""]
            lines += [block, ""]
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
