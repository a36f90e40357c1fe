"""report.json: the finished result for tools (``outputs/schemas/report.schema.json``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson

from learner.model.diff_result import DiffResult
from learner.model.edges import EdgeStore, edge_keys
from learner.model.policy import ProposedPolicy, Rule
from outputs.report.finished_run import FinishedRun
from outputs.report.names import iso

SCHEMA_VERSION = 1


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
        "edges": edge_keys(rule.edges),
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


def report_json(run: FinishedRun, paths: Mapping[str, str]) -> dict[str, Any]:
    """report.json of a finished run (``paths``: policy → its file)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "format": run.config.format,
        "learner": run.proposal.learner or run.config.learner,
        "input": {
            "files": run.collected.files,
            "records": run.collected.records,
            "flows": run.collected.flows,
            "non_flow_records": dict(sorted(run.collected.non_flow.items())),
            "malformed": run.collected.malformed,
            "malformed_examples": [str(e) for e in run.collected.errors],
            "lost_events": run.collected.lost_events,
            "flows_used": run.normalized.included,
            "flows_set_aside": {str(k): v for k, v in sorted(run.normalized.skipped.items())},
        },
        "edges": len(run.store.edges),
        "workloads": len(run.store.workloads),
        "risks": [{"kind": r.kind, "policy": r.policy, "detail": r.detail} for r in run.risks],
        "policies": [policy_json(p, paths.get(p.key, "")) for p in run.proposal.policies],
        "pending": [
            {
                "edge": p.edge.key,
                "reason": p.reason,
                "flows": p.evidence.flows,
                "first_seen": iso(p.evidence.first_seen),
                "last_seen": iso(p.evidence.last_seen),
            }
            for p in run.proposal.pending
        ],
        "warnings": list(run.proposal.warnings),
        "workload_status": dict(sorted((run.statuses or {}).items())),
        "diff": diff_json(run.diff) if run.diff is not None else None,
    }


def diff_report_json(diff: DiffResult, store: EdgeStore) -> dict[str, Any]:
    """report.json of ``netpol-learner diff``."""
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "diff",
        "current": diff.current_label,
        "proposed": diff.proposed_label,
        "edges": len(store.edges),
        "diff": diff_json(diff),
    }


def dumps(data: Mapping[str, Any]) -> str:
    """The report's JSON text: as ``json.dumps(indent=2, sort_keys=True, ensure_ascii=False)``
    writes it, by orjson, several times faster. They agree on everything a report holds
    (strings, integers, booleans, null, lists, objects with string keys: the schema has no
    numbers but integers; tests/outputs/report/test_json_report.py); what orjson refuses (a
    lone surrogate, an integer past 64 bits, another type) goes through ``json``."""
    try:
        return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"
    except TypeError:
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
