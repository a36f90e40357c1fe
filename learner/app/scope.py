"""Which namespaces a run writes policies for, and when a run has nothing worth writing.

A wrong policy in a system namespace breaks the whole cluster's DNS or networking, and a run that
saw nothing must not replace a proposal that was learned from something: both are refused by
default and allowed by an explicit flag.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from fnmatch import fnmatchcase

import yaml

from learner.model.config import DEFAULT_MAX_MALFORMED
from learner.model.errors import NothingToWriteError, UsageError
from learner.model.policy import Proposal
from learner.model.run_stats import CollectorStats, NormalizeStats
from outputs.networkpolicy import kustomization

KUSTOMIZATION = "kustomization.yaml"

SYSTEM_NAMESPACES = (
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "cilium-*",
    "calico-*",
    "tigera-*",
)


def is_system_namespace(namespace: str) -> bool:
    return any(fnmatchcase(namespace, pattern) for pattern in SYSTEM_NAMESPACES)


def scope_proposal(
    proposal: Proposal, namespaces: tuple[str, ...], include_system: bool
) -> Proposal:
    """Only the policies to write: in ``namespaces`` (when given) and, unless
    ``include_system``, not in a system namespace. Left-out workloads stay peers of the rest."""

    def written(namespace: str) -> bool:
        if namespaces and namespace not in namespaces:
            return False
        return include_system or not is_system_namespace(namespace)

    kept = tuple(p for p in proposal.policies if written(p.namespace))
    skipped = sorted(
        f"{p.namespace}/{p.name}"
        for p in proposal.policies
        if (not namespaces or p.namespace in namespaces)
        and not include_system
        and is_system_namespace(p.namespace)
    )
    warnings = proposal.warnings
    if skipped:
        warnings += (
            f"system namespaces get no policy (--include-system writes them); skipped "
            f"{len(skipped)}: {', '.join(skipped)}",
        )
    return replace(
        proposal,
        policies=kept,
        namespaces=tuple(n for n in proposal.namespaces if written(n)),
        warnings=warnings,
    )


def check_worth_writing(
    *,
    policies: int,
    collected: CollectorStats,
    normalized: NormalizeStats,
    learned_before: bool,
    max_malformed: float,
    allow_empty: bool,
) -> None:
    """NothingToWriteError unless the run learned enough to replace what is there.

    ``learned_before``: the edges come from a state file, so a run that adds no flow of its own
    still has evidence."""
    if allow_empty:
        return
    hint = " (--allow-empty writes anyway)"
    problem = _evidence_problem(
        collected,
        normalized,
        max_malformed=max_malformed,
        limit=f"--max-malformed {max_malformed:g}%",
        no_flow=None if learned_before else "no flow was used",
    )
    if problem is not None:
        what, details = problem
        raise NothingToWriteError(f"{what}: nothing written{hint}{details}")
    if policies == 0:
        raise NothingToWriteError(f"the run would write 0 policies: nothing written{hint}")


def check_worth_judging(
    collected: CollectorStats, normalized: NormalizeStats, *, no_flow: str | None
) -> None:
    """UsageError when the flows read are no ground for a verdict: mostly malformed, or none
    used when ``no_flow`` (what to say then) is given, the verdict being about them. A gate
    never passes because it judged nothing."""
    problem = _evidence_problem(
        collected,
        normalized,
        max_malformed=DEFAULT_MAX_MALFORMED,
        limit=f"{DEFAULT_MAX_MALFORMED:g}%",
        no_flow=no_flow,
    )
    if problem is not None:
        what, _ = problem  # the malformed records were shown as they were skipped
        raise UsageError(f"{what}: nothing to judge")


def _evidence_problem(
    collected: CollectorStats,
    normalized: NormalizeStats,
    *,
    max_malformed: float,
    limit: str,
    no_flow: str | None,
) -> tuple[str, str] | None:
    """(what is wrong, the first malformed records) when the flows read are no evidence:
    more than ``max_malformed`` percent malformed, or, when ``no_flow`` says how to word it,
    none used."""
    if collected.records and collected.malformed * 100 > max_malformed * collected.records:
        share = 100 * collected.malformed / collected.records
        return (
            f"{collected.malformed:,} of {collected.records:,} records are malformed "
            f"({share:.0f}% > {limit})",
            "".join(f"\n  {error}" for error in collected.errors[:5]),
        )
    if no_flow is not None and normalized.included == 0:
        return no_flow, ""
    return None


def keep_other_namespaces(
    bundle: Mapping[str, str], out_dir: str, namespaces: tuple[str, ...]
) -> dict[str, str]:
    """``bundle`` plus the files under ``out_dir/<ns>/`` of namespaces this run does not select,
    unchanged, so that ``-n shop`` leaves the proposal for the other namespaces where it was."""
    merged = dict(bundle)
    if not namespaces or not os.path.isdir(out_dir):
        return merged
    for entry in sorted(os.listdir(out_dir)):
        folder = os.path.join(out_dir, entry)
        if entry in namespaces or entry.startswith(".") or not os.path.isdir(folder):
            continue
        for root, _, names in os.walk(folder):
            for name in names:
                path = os.path.join(root, name)
                relative = os.path.relpath(path, out_dir).replace(os.sep, "/")
                if relative not in merged:
                    with open(path, encoding="utf-8") as handle:
                        merged[relative] = handle.read()
    kept = sorted(set(merged) - set(bundle))
    if kept and KUSTOMIZATION in merged:
        listed = yaml.safe_load(merged[KUSTOMIZATION]) or {}
        resources = list(listed.get("resources", []))
        resources += [k for k in kept if k.endswith(".yaml") and k not in resources]
        merged[KUSTOMIZATION] = kustomization(resources)
    return merged
