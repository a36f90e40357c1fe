"""``netpol-learner diff``: what a policy change does to real traffic, for a PR reviewer."""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import TYPE_CHECKING, Any

from learner.app.cni_choice import resolve_cni
from learner.app.console import Env
from learner.cli.options import (
    add_cluster_flags,
    add_cni_flags,
    add_command_parser,
    add_flow_options,
    namespaces_from_args,
)
from learner.cli.output_target import (
    add_legacy_flows_flag,
    add_output_format_flag,
    flow_inputs_from_args,
    resolve_output,
)
from learner.cli.spark_options import add_engine_options, read_into_store
from learner.model.config import CNI, LearnConfig
from learner.model.errors import ExitStatus, UsageError
from learner.model.run_stats import CollectorStats, NormalizeStats

if TYPE_CHECKING:
    from learner.model.diff_result import DiffResult

HELP = "compare current and proposed policies on observed traffic, the inventory and text"
EXAMPLES = """\
examples:
  netpol-learner diff --current deployed/ --proposed policies/ flows.jsonl
  netpol-learner diff --current cluster --proposed policies/ flows/ --fail-on newly-blocked
  netpol-learner diff --current main-policies/ --proposed pr-policies/ --report review/ flows/
  netpol-learner diff --current main-policies/ --proposed pr-policies/ flows/ -o json

exit status: 0 when --fail-on finds nothing, 1 when it does, 2 on bad input or when there is
nothing to judge (--fail-on newly-blocked without --flows or --inventory); without flows the
textual changes (a widened rule among them) still count for --fail-on any-change
"""
OUTPUT_FORMATS = ("text", "json")
FAIL_ON = ("newly-blocked", "any-change")


def register(sub: Any) -> None:
    parser = add_command_parser(sub, "diff", HELP, EXAMPLES)
    parser.add_argument(
        "inputs", nargs="*", metavar="INPUT", help="observed flows: files, directories or -"
    )
    add_legacy_flows_flag(parser)
    parser.add_argument(
        "--current",
        required=True,
        metavar="DIR|FILE|cluster",
        help="the policies in force today (e.g. the base branch), or 'cluster'",
    )
    parser.add_argument(
        "--proposed", required=True, metavar="DIR|FILE", help="the policies under review"
    )
    add_cluster_flags(
        parser, "workloads and namespaces (manifests or 'cluster'); default: what the flows show"
    )
    parser.add_argument("--report", metavar="DIR", help="write report.md and report.json here")
    add_cni_flags(parser)
    parser.add_argument(
        "--fail-on", choices=FAIL_ON, help="exit 1 when the diff shows this (for CI gates)"
    )
    add_output_format_flag(parser, OUTPUT_FORMATS, "text")
    add_flow_options(
        parser,
        namespace_help="only compare connections of workloads in NS (repeatable; OR)",
        dropped_help="also replay DROPPED/ERROR flows (default: only traffic that got through)",
    )
    add_engine_options(parser)
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
    from learner.app.compare import diff_sources
    from learner.app.pipeline import effective_inventory, new_store, reading_progress
    from learner.app.run import load_inventory
    from learner.app.scope import check_worth_judging
    from outputs.report.documents import diff_report_files

    output = resolve_output(args, env, formats=OUTPUT_FORMATS, default="text")
    inputs = flow_inputs_from_args(args, env, "diff --current A/ --proposed B/ flows.jsonl")
    if not os.path.exists(args.proposed):
        raise UsageError(f"--proposed {args.proposed}: no such file or directory")
    config = LearnConfig(
        include_dropped=args.include_dropped,
        namespaces=namespaces_from_args(args),
        ignore_labels=tuple(args.ignore_label),
        # Judges every observed connection at its own address: nothing is folded.
        max_external_peers=0,
    )
    if args.fail_on == "newly-blocked" and not inputs and not args.inventory:
        raise UsageError(
            "--fail-on newly-blocked needs flows (or --inventory) to judge: nothing to compare"
        )
    stdout = env.stdout
    if output == "json":  # stdout carries the JSON document alone
        env = dataclasses.replace(env, stdout=env.stderr)
    store = new_store(config)
    collected = CollectorStats()
    if inputs:
        normalized = NormalizeStats()
        progress = reading_progress(env, inputs)
        read_into_store(args, inputs, store, config, collected, normalized, progress)
        store.resolve_unlabelled()
        for error in collected.errors:
            env.warning(f"skipped {error}")
        # Flows a verdict rests on: without any, --fail-on newly-blocked would pass unjudged.
        needs_flows = args.fail_on == "newly-blocked" and not args.inventory
        check_worth_judging(
            collected, normalized, no_flow="no flow was used" if needs_flows else None
        )
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
        cni=CNI(resolve_cni(args.cni, args.source, inputs)),
        cidr_match_nodes=args.cilium_cidr_match_nodes,
    )
    print_summary(env, diff)
    files = diff_report_files(diff, store)
    if args.report:
        from outputs.base import write_tree

        write_tree(files, args.report)
        env.info(f"report written to {args.report}/report.md")
    if output == "json":
        stdout.write(files["report.json"])
    if args.fail_on == "newly-blocked" and diff.newly_blocked:
        return ExitStatus.FINDINGS
    if args.fail_on == "any-change" and diff.any_change:
        return ExitStatus.FINDINGS
    return ExitStatus.SUCCESS
