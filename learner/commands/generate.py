"""``netpol-learner generate``: flow exports in, a reviewed policy bundle out."""

from __future__ import annotations

import argparse
import os
from typing import Any

from collectors.base import CollectorStats
from learner.console import Env
from learner.durations import parse_duration
from learner.errors import ExitStatus, UsageError
from learner.normalize import NormalizeStats
from learner.pipeline import LEARNERS, LearnConfig
from learner.run import RunResult, learn_and_render
from learner.spark_cli import add_engine_options, engine_reader
from outputs.base import FORMATS, RenderOptions

HELP = "learn policies from flow exports and write them (with report.md/report.json) to a directory"
EXAMPLES = """\
examples:
  # Hubble exports (hubble observe -o json), one directory of NetworkPolicies per namespace
  netpol-learner generate flows/*.jsonl -o policies/

  # with the cluster's real inventory (selectors are checked against every pod)
  netpol-learner generate flows/ -o policies/ --inventory cluster

  # CiliumNetworkPolicy with FQDN egress and HTTP rules, only two namespaces
  netpol-learner generate flows.jsonl.gz -o cnp/ --format cilium --l7 -n shop -n payments

  # compare with what is deployed today; report.md gets the semantic diff
  netpol-learner generate flows/ -o policies/ --current deployed-policies/
"""


def add_flow_options(parser: argparse.ArgumentParser) -> None:
    """Options about reading and filtering flows, shared by every command that reads flows."""
    group = parser.add_argument_group("flows")
    group.add_argument(
        "--source",
        choices=("auto", "hubble", "calico"),
        default="auto",
        help="input format (default: detected from each file's first records)",
    )
    group.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        metavar="NS",
        help="only learn for workloads in NS (repeatable; repeated flags mean OR)",
    )
    group.add_argument(
        "--include-dropped",
        action="store_true",
        help="also learn from DROPPED/ERROR flows (default: report them only)",
    )
    group.add_argument(
        "--ignore-label",
        action="append",
        default=[],
        metavar="KEY",
        help="a volatile label key to leave out of workload identity (repeatable; KEY* = prefix)",
    )
    group.add_argument(
        "--strict", action="store_true", help="stop at the first malformed record (exit 2)"
    )


def add_learner_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("learning")
    group.add_argument("--learner", choices=LEARNERS, default="least-privilege")
    group.add_argument(
        "--max-overreach",
        type=int,
        default=0,
        metavar="N",
        help="unobserved workloads a selector may admit to be shorter (default 0)",
    )
    group.add_argument(
        "--min-flows",
        type=int,
        default=1,
        metavar="N",
        help="edges seen fewer times are listed as pending, not allowed",
    )
    group.add_argument("--min-age", default="0s", metavar="D", help="e.g. 1h: pending until then")
    group.add_argument(
        "--expire-after", default=None, metavar="D", help="drop edges not seen for D (e.g. 14d)"
    )
    group.add_argument(
        "--port-range-min",
        type=int,
        default=0,
        metavar="K",
        help="merge runs of >= K contiguous ports into port+endPort (default off)",
    )
    group.add_argument(
        "--cluster-cidr",
        action="append",
        default=[],
        metavar="CIDR",
        help="pod/service range to exclude from broad external blocks (repeatable)",
    )
    group.add_argument(
        "--internet-min-networks",
        type=int,
        default=8,
        metavar="N",
        help="public peers from N or more /16 networks become 'any public address', stated in "
        "the report (default 8; 0 = never)",
    )
    group.add_argument(
        "--inventory",
        metavar="PATH|cluster",
        help="manifests (files/dirs, kubectl get -o yaml dumps) or 'cluster'",
    )
    group.add_argument("--kubeconfig", metavar="FILE")
    group.add_argument("--context", metavar="NAME")


def add_output_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output")
    group.add_argument(
        "--format", choices=tuple(FORMATS), default="networkpolicy", help="policy dialect"
    )
    group.add_argument(
        "--default-deny", action="store_true", help="also write a default-deny per namespace"
    )
    group.add_argument("--l7", action="store_true", help="HTTP rules where the dialect has them")
    group.add_argument("--tier", default="default", help="Calico tier (default: default)")


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "generate",
        help=HELP,
        description=HELP,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="files, directories or -")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="output directory")
    parser.add_argument(
        "--current", metavar="DIR|cluster", help="current policies to diff the proposal against"
    )
    parser.add_argument("--state", metavar="PATH", help="also learn from a SQLite state file")
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="read input files on N processes (default 1; 0 = one per core)",
    )
    add_engine_options(parser)
    add_flow_options(parser)
    add_learner_options(parser)
    add_output_options(parser)
    parser.set_defaults(handler=run)


def config_from_args(args: argparse.Namespace) -> LearnConfig:
    if min(args.max_overreach, args.port_range_min, args.internet_min_networks) < 0:
        raise UsageError(
            "--max-overreach, --port-range-min and --internet-min-networks must be >= 0"
        )
    if args.min_flows < 1:
        raise UsageError("--min-flows must be >= 1")
    return LearnConfig(
        include_dropped=args.include_dropped,
        namespaces=tuple(sorted(set(args.namespace))),
        ignore_labels=tuple(args.ignore_label),
        learner=args.learner,
        max_overreach=args.max_overreach,
        min_flows=args.min_flows,
        min_age=parse_duration(args.min_age, "--min-age"),
        expire_after=(
            parse_duration(args.expire_after, "--expire-after") if args.expire_after else None
        ),
        port_range_min=args.port_range_min,
        cluster_cidrs=tuple(args.cluster_cidr),
        internet_min_networks=args.internet_min_networks,
        format=args.format,
        render=RenderOptions(default_deny=args.default_deny, l7=args.l7, tier=args.tier),
    )


def print_summary(env: Env, result: RunResult, output: str) -> None:
    collected: CollectorStats = result.collected
    normalized: NormalizeStats = result.normalized
    env.info(
        f"read {collected.records:,} records from {collected.files} files: "
        f"{collected.flows:,} flows, {sum(collected.non_flow.values()):,} other events, "
        f"{collected.malformed:,} malformed"
    )
    for warning, count in sorted(collected.warnings.items()):
        env.warning(f"{warning} ({count:,} records)")
    if collected.lost_events:
        env.warning(f"the CNI reported {collected.lost_events:,} lost events: flows are missing")
    for error in collected.errors:
        env.warning(f"skipped {error}")
    if collected.malformed > len(collected.errors):
        env.warning(f"... and {collected.malformed - len(collected.errors):,} more malformed")
    skipped = ", ".join(f"{n:,} {reason}" for reason, n in sorted(normalized.skipped.items()))
    env.info(f"used {normalized.included:,} flows" + (f"; set aside: {skipped}" if skipped else ""))
    proposal = result.proposal
    env.info(
        f"learned {result.edges:,} edges between {result.workloads:,} workloads; "
        f"wrote {len(proposal.policies)} policies to {output} ({result.files_written} files)"
    )
    if proposal.pending:
        env.info(f"{len(proposal.pending)} edges pending (see report.md)")
    for warning in proposal.warnings[:5]:
        env.warning(warning)


def run(args: argparse.Namespace, env: Env) -> ExitStatus:
    if not args.inputs and not args.state:
        raise UsageError("give flow inputs (files, directories or -) or --state")
    config = config_from_args(args)
    result = learn_and_render(
        inputs=args.inputs,
        output=args.output,
        config=config,
        env=env,
        source=args.source,
        strict=args.strict,
        inventory_source=args.inventory,
        current_source=args.current,
        state_path=args.state,
        kubeconfig=args.kubeconfig,
        context=args.context,
        jobs=args.jobs if args.jobs > 0 else (os.cpu_count() or 1),
        reader=engine_reader(args, config),
    )
    print_summary(env, result, args.output)
    return ExitStatus.SUCCESS
