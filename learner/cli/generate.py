"""``netpol-learner generate``: flow exports in, a reviewed policy bundle out."""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import TYPE_CHECKING, Any

from learner.app.console import Env
from learner.cli.options import (
    add_command_parser,
    add_flow_options,
    add_learner_options,
    add_output_options,
    add_write_guard_options,
    config_from_args,
)
from learner.cli.output_target import (
    add_output_dir_flags,
    directory_or_stdout,
    output_dir_from_args,
)
from learner.cli.spark_options import add_engine_options, engine_reader
from learner.model.edges import flows_in
from learner.model.errors import ExitStatus, UsageError
from learner.model.run_stats import CollectorStats, NormalizeStats

if TYPE_CHECKING:
    from learner.app.run import RunResult

HELP = "learn policies from flow exports and write them (with report.md/report.json) to a directory"
EXAMPLES = """\
examples:
  # Hubble exports (hubble observe -o json), one directory of NetworkPolicies per namespace
  netpol-learner generate flows/*.jsonl --output-dir policies/

  # with the cluster's real inventory (selectors are checked against every pod)
  netpol-learner generate flows/ --output-dir policies/ --inventory cluster

  # CiliumNetworkPolicy with FQDN egress and HTTP rules, only two namespaces
  netpol-learner generate flows.jsonl.gz --output-dir cnp/ --format cilium --l7 -n shop -n payments

  # compare with what is deployed today; report.md gets the semantic diff
  netpol-learner generate flows/ --output-dir policies/ --current deployed-policies/
"""


def register(sub: Any) -> None:
    parser = add_command_parser(sub, "generate", HELP, EXAMPLES)
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="files, directories or -")
    add_output_dir_flags(parser, "the policies and report")
    parser.add_argument(
        "--current",
        metavar="DIR|FILE|cluster",
        help="current policies to diff the proposal against",
    )
    parser.add_argument("--state", metavar="PATH", help="also learn from a SQLite state file")
    parser.add_argument(
        "--from-edges",
        metavar="PATH",
        help="also learn from an aggregate written by --save-edges (without re-reading its logs)",
    )
    parser.add_argument(
        "--save-edges",
        metavar="PATH",
        help="write the merged aggregate (edges, workloads, counters) as JSON lines to PATH",
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=0,
        metavar="N",
        help="read input on N processes; one big plain Hubble file is cut into N line ranges "
        "(default 0 = one per core; the policies are the same for any N)",
    )
    add_flow_options(parser)
    add_learner_options(parser)
    add_engine_options(parser)
    add_output_options(parser)
    add_write_guard_options(parser)
    parser.set_defaults(handler=run)


def print_summary(env: Env, result: RunResult, output: str) -> None:
    collected: CollectorStats = result.collected
    normalized: NormalizeStats = result.normalized
    env.info(
        f"read {collected.records:,} records from {collected.files} files: "
        f"{collected.flows:,} flows, {sum(collected.non_flow.values()):,} other events, "
        f"{collected.malformed:,} malformed"
    )
    if collected.non_flow:
        kinds = ", ".join(f"{n:,} {kind}" for kind, n in sorted(collected.non_flow.items()))
        env.info(f"other events, set aside before learning: {kinds}")
    for warning, count in sorted(collected.warnings.items()):
        env.warning(f"{warning} ({count:,} records)")
    if collected.lost_events:
        env.warning(f"the CNI reported {collected.lost_events:,} lost events: flows are missing")
    for error in collected.errors:
        env.warning(f"skipped {error}")
    if collected.malformed > len(collected.errors):
        env.warning(f"... and {collected.malformed - len(collected.errors):,} more malformed")
    skipped = ", ".join(f"{n:,} {reason}" for reason, n in sorted(normalized.skipped.items()))
    used = f"used {normalized.included:,} records ({flows_in(result.store.edges.values()):,} flows)"
    env.info(used + (f"; set aside: {skipped}" if skipped else ""))
    proposal = result.proposal
    env.info(
        f"learned {result.edges:,} edges between {result.workloads:,} workloads; "
        f"wrote {len(proposal.policies)} policies to {output} ({result.files_written} files)"
    )
    report = os.path.join(result.report_dir, "report.md")
    if not os.path.relpath(report).startswith(".."):
        report = os.path.relpath(report)
    env.info(f"report for reviewers: {report}")
    if proposal.pending:
        env.info(f"{len(proposal.pending)} edges pending (see {report})")
    for warning in proposal.warnings[:5]:
        env.warning(warning)


def run(args: argparse.Namespace, env: Env) -> ExitStatus:
    from learner.app.run import learn_and_render
    from learner.ingest.edges_file import saved_cni
    from outputs.bundle import report_dir_for

    if not args.inputs and not args.state and not args.from_edges:
        raise UsageError("give flow inputs (files, directories or -), --state or --from-edges")
    requested = output_dir_from_args(args, env)
    assert requested is not None
    config = config_from_args(args)
    if args.from_edges and not args.inputs and args.cni == "auto":
        config = dataclasses.replace(config, cni=saved_cni(args.from_edges))
    report_dir_for(requested, args.report_dir)  # refuse a bad --report-dir before the work
    with directory_or_stdout(requested, env) as (output, console):
        result = learn_and_render(
            inputs=args.inputs,
            output=output,
            config=config,
            env=console,
            report_dir=args.report_dir,
            source=args.source,
            strict=args.strict,
            inventory_source=args.inventory,
            current_source=args.current,
            state_path=args.state,
            kubeconfig=args.kubeconfig,
            context=args.context,
            jobs=args.jobs if args.jobs > 0 else (os.cpu_count() or 1),
            max_malformed=args.max_malformed,
            allow_empty=args.allow_empty,
            reader=engine_reader(args, config) if args.inputs else None,
            from_edges=args.from_edges,
            save_edges_path=args.save_edges,
        )
        print_summary(console, result, "stdout" if requested == "-" else requested)
    return ExitStatus.SUCCESS
