"""``netpol-learner export``: write the current proposal from a learning state file.

How to get a proposal out of a running ``learn`` (besides ``kubectl cp`` of its output
directory): copy or open its state file and export. Reading never blocks the learner (WAL).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from learner.app.console import Env
from learner.cli.options import (
    add_command_parser,
    add_ignore_label_flag,
    add_include_dropped_flag,
    add_learner_options,
    add_namespace_flag,
    add_output_options,
    add_state_flag,
    add_write_guard_options,
    config_from_args,
)
from learner.cli.output_target import (
    add_output_dir_flags,
    directory_or_stdout,
    output_dir_from_args,
    summary_console,
)
from learner.model.durations import format_duration, parse_duration
from learner.model.errors import ExitStatus

HELP = "write the current proposal (policies, report, status.json) from a learning state file"
EXAMPLES = """\
examples:
  netpol-learner export --state learn.db --output-dir proposal/
  netpol-learner export --state learn.db --output-dir cnp/ --format cilium --l7

  # from a learner running in the cluster
  kubectl -n netpol-learner exec deploy/netpol-learner -- \\
      netpol-learner export --state /data/state.db --output-dir /tmp/proposal
  kubectl -n netpol-learner cp <pod>:/tmp/proposal ./proposal
"""


def register(sub: Any) -> None:
    parser = add_command_parser(sub, "export", HELP, EXAMPLES)
    add_state_flag(parser)
    add_output_dir_flags(parser, "the proposal, report and status.json")
    parser.add_argument(
        "--interval",
        metavar="D",
        default=None,
        help="Learning window for status.json (default: what learn used, else 10m)",
    )
    parser.add_argument(
        "--stabilization-period",
        metavar="D",
        default=None,
        help="quiet time before Stable (default: what learn used, else 1h)",
    )
    add_namespace_flag(parser, "only export policies for workloads in NS (repeatable)")
    add_include_dropped_flag(parser, argparse.SUPPRESS)
    add_ignore_label_flag(parser, argparse.SUPPRESS)
    add_learner_options(parser)
    add_output_options(parser)
    add_write_guard_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, env: Env) -> ExitStatus:
    from learner.app.live import META_INTERVAL, META_STABILIZATION, bundle_files
    from learner.app.pipeline import peer_cap
    from learner.app.scope import check_worth_writing
    from learner.app.session import stats_from_counters
    from learner.ingest.stability import status_document, stream_clock, workload_progress
    from learner.ingest.state import StateStore, load_store
    from outputs.bundle import manifest_link, report_dir_for, write_bundle

    requested = output_dir_from_args(args, env)
    assert requested is not None
    config = config_from_args(args)
    store = load_store(args.state, ignore_labels=config.ignore_labels, peer_cap=peer_cap(config))
    with StateStore(args.state, create=False) as state:
        counters = state.counters()
        saved_inventory = state.inventory()
        interval_text = args.interval or state.meta(META_INTERVAL, "10m")
        period_text = args.stabilization_period or state.meta(META_STABILIZATION, "1h")
    inventory = saved_inventory[0] if saved_inventory else None
    if args.inventory:
        from learner.app.run import load_inventory

        inventory = load_inventory(args.inventory, args.kubeconfig, args.context)
    interval = parse_duration(interval_text, "--interval")
    period = parse_duration(period_text, "--stabilization-period")
    store.resolve_unlabelled()
    clock = stream_clock(store)
    progress = workload_progress(
        store, now=clock, learning_window=interval, stabilization_period=period
    )
    collected, normalized = stats_from_counters(counters)
    status = status_document(
        progress,
        now=clock,
        learning_window=interval,
        stabilization_period=period,
        extra={"edges": len(store.edges), "generated_at": time.time()},
    )
    reports = report_dir_for(requested, args.report_dir)
    proposal, files = bundle_files(
        store,
        inventory,
        config,
        collected=collected,
        normalized=normalized,
        progress=progress,
        status=status,
        manifest_link=manifest_link(requested, reports),
    )
    check_worth_writing(
        policies=len(proposal.policies),
        collected=collected,
        normalized=normalized,
        learned_before=bool(store.edges),
        max_malformed=args.max_malformed,
        allow_empty=args.allow_empty,
    )
    with directory_or_stdout(requested, env) as (output, _):
        write_bundle(files, output, reports)
    counts = status["counts"]
    summary_console(requested, env).info(
        f"wrote {len(proposal.policies)} policies for {len(progress)} workloads "
        f"({counts['Learning']} learning, {counts['Stabilizing']} stabilizing, "
        f"{counts['Stable']} stable after {format_duration(period)} without a new edge) "
        f"from {len(store.edges):,} edges to {'stdout' if requested == '-' else requested}"
    )
    return ExitStatus.SUCCESS
