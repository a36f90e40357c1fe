"""``netpol-learner diff``: what a policy change does to real traffic, for a PR reviewer."""

from __future__ import annotations

import argparse
import os
from typing import Any

from learner.app.cni_choice import resolve_cni
from learner.app.compare import diff_sources
from learner.app.console import Env
from learner.app.pipeline import effective_inventory, ingest, new_store, read_flows
from learner.app.run import load_inventory
from learner.cli.options import (
    add_cluster_flags,
    add_cni_flags,
    add_command_parser,
    add_flow_options,
)
from learner.model.config import LearnConfig
from learner.model.diff_result import DiffResult
from learner.model.errors import ExitStatus, UsageError
from learner.model.run_stats import CollectorStats, NormalizeStats
from learner.semantics.cni import CNI
from outputs.report.diff_report import diff_report_files

HELP = "compare current and proposed policies on observed traffic, the inventory and text"
EXAMPLES = """\
examples:
  netpol-learner diff --current deployed/ --proposed policies/ --flows flows.jsonl
  netpol-learner diff --current cluster --proposed policies/ --flows flows/ --fail-on newly-blocked
  netpol-learner diff --current main-policies/ --proposed pr-policies/ --report review/

exit status: 0 when --fail-on finds nothing, 1 when it does, 2 on bad input or when there is
nothing to judge (--fail-on newly-blocked without --flows or --inventory); without flows the
textual changes (a widened rule among them) still count for --fail-on any-change
"""
FAIL_ON = ("newly-blocked", "any-change")


def register(sub: Any) -> None:
    parser = add_command_parser(sub, "diff", HELP, EXAMPLES)
    parser.add_argument("--current", required=True, metavar="DIR|FILE|cluster")
    parser.add_argument("--proposed", required=True, metavar="DIR|FILE")
    parser.add_argument("--flows", nargs="*", default=[], metavar="INPUT", help="observed flows")
    add_cluster_flags(parser, None)
    parser.add_argument("--report", metavar="DIR", help="write report.md and report.json here")
    add_cni_flags(parser)
    parser.add_argument(
        "--fail-on", choices=FAIL_ON, help="exit 1 when the diff shows this (for CI gates)"
    )
    add_flow_options(parser)
    parser.set_defaults(handler=run)


def print_summary(env: Env, diff: DiffResult) -> None:
    env.info(
        f"observed connections: {len(diff.newly_blocked)} newly blocked, "
        f"{len(diff.newly_allowed)} newly allowed, {diff.unchanged} unchanged, "
        f"{diff.blocked_both} blocked by both"
    )
    env.info(
        f"workload pairs x ports: {len(diff.pairs_newly_allowed)} become allowed, "
        f"{len(diff.pairs_newly_denied)} become denied (of {diff.pairs_total})"
    )
    env.info(
        f"files: {len(diff.added_files)} added, {len(diff.removed_files)} removed, "
        f"{len(diff.changed_files)} changed; current rules unused by observed traffic: "
        f"{len(diff.unused_rules)}"
    )
    for change in diff.newly_blocked[:20]:
        env.info(f"  BLOCKED {change.edge.key} ({change.flows} flows): {change.proposed}")
    for change in diff.newly_allowed[:20]:
        env.info(f"  ALLOWED {change.edge.key} ({change.flows} flows)")


def run(args: argparse.Namespace, env: Env) -> ExitStatus:
    if not os.path.exists(args.proposed):
        raise UsageError(f"--proposed {args.proposed}: no such file or directory")
    config = LearnConfig(
        include_dropped=args.include_dropped,
        namespaces=tuple(sorted(set(args.namespace))),
        ignore_labels=tuple(args.ignore_label),
    )
    if args.fail_on == "newly-blocked" and not args.flows and not args.inventory:
        raise UsageError(
            "--fail-on newly-blocked needs --flows (or --inventory) to judge: nothing to compare"
        )
    store = new_store(config)
    collected = CollectorStats()
    if args.flows:
        flows = read_flows(args.flows, source=args.source, strict=args.strict, stats=collected)
        ingest(flows, store, config, NormalizeStats(), env.progress("reading flows"))
        store.resolve_unlabelled()
    inventory = effective_inventory(
        store, load_inventory(args.inventory, args.kubeconfig, args.context)
    )
    diff = diff_sources(
        current=args.current,
        proposed=args.proposed,
        store=store,
        inventory=inventory,
        kubeconfig=args.kubeconfig,
        context=args.context,
        cni=CNI(resolve_cni(args.cni, args.source, args.flows)),
        cidr_match_nodes=args.cilium_cidr_match_nodes,
    )
    for error in collected.errors:
        env.warning(f"skipped {error}")
    print_summary(env, diff)
    if args.report:
        from outputs.base import write_tree

        write_tree(diff_report_files(diff, store), args.report)
        env.info(f"report written to {args.report}/report.md")
    if args.fail_on == "newly-blocked" and diff.newly_blocked:
        return ExitStatus.FINDINGS
    if args.fail_on == "any-change" and diff.any_change:
        return ExitStatus.FINDINGS
    return ExitStatus.SUCCESS
