"""The report bundle: report.md and report.json of a finished run or diff.

Each document is rendered from a result already computed (the proposal, the edge store, the
counts, the diff); nothing here reads a cluster or a file.
"""

from __future__ import annotations

from collections.abc import Mapping

from learner.model.config import LearnConfig
from learner.model.diff_result import DiffResult
from learner.model.edges import EdgeStore
from learner.model.policy import Proposal
from learner.model.run_stats import CollectorStats, NormalizeStats
from outputs.report.finished_run import FinishedRun
from outputs.report.json_report import diff_report_json, dumps, report_json
from outputs.report.markdown import diff_markdown, report_markdown
from outputs.report.names import WorkloadNames
from outputs.report.risks import all_risks


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
    risks = all_risks(proposal, store, collected, normalized, config, policy_files, diff, names)
    run = FinishedRun(proposal, store, collected, normalized, config, risks, diff, statuses)
    paths = policy_paths(proposal, policy_files)
    prefix = manifest_link.rstrip("/") + "/" if manifest_link else ""
    links = {key: prefix + path for key, path in paths.items()}
    return {
        "report.md": report_markdown(run, links, names),
        "report.json": dumps(report_json(run, paths)),
    }


def diff_report_files(diff: DiffResult, store: EdgeStore) -> dict[str, str]:
    """report.md and report.json of ``netpol-learner diff``."""
    return {
        "report.md": diff_markdown(diff, store),
        "report.json": dumps(diff_report_json(diff, store)),
    }
