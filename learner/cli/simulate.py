"""``netpol-learner simulate``: a realistic simulated cluster's flows, manifests and ground truth."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from learner.app.console import Env
from learner.app.progress import Progress
from learner.cli.options import add_command_parser, add_progress_flags
from learner.cli.output_target import add_output_dir_flags, output_dir_from_args
from learner.cli.scenario_names import DEFAULT_SCENARIO, SCENARIO_NAMES
from learner.model.errors import ExitStatus, UsageError
from outputs.base import MARKER, MARKER_TEXT

if TYPE_CHECKING:
    from learner.simulate import SimulationResult

FLOW_FORMATS = ("hubble", "calico")
HELP = "write a simulated cluster's flows, manifests and ground truth (demo and benchmark data)"
DEFAULT_LINES = 20_000
EXAMPLES = """\
output:
  DIR/flows/learning.jsonl    flows of the learning window (hubble observe -o jsonpb lines)
  DIR/flows/held-out.jsonl    flows of the held-out window, for testing what was learned
  DIR/inventory/<ns>.yaml     Namespaces, workloads and Services, as kept in Git
  DIR/ground-truth.json       allowed connections, workloads, externals and both windows
  Only these are replaced; anything else in DIR is left alone.

examples:
  # the demo data shipped in examples/
  netpol-learner simulate --scenario shop --seed 1 --lines 1300 --output-dir examples

  # a million lines of the mixed scenario, compressed, for a benchmark
  netpol-learner simulate --scenario mixed --lines 1000000 --gzip --output-dir bench/

  # learn on the learning window, then check the held-out window against the result
  netpol-learner simulate --scenario rollout --output-dir sim/
  netpol-learner generate sim/flows/learning.jsonl --output-dir policies/ --inventory sim/inventory

  # list the scenarios
  netpol-learner simulate --list
"""


def register(sub: Any) -> None:
    parser = add_command_parser(sub, "simulate", HELP, EXAMPLES)
    add_output_dir_flags(parser, "flows, inventory and ground truth", formats=(), stdout=False)
    parser.add_argument(
        "--scenario",
        choices=SCENARIO_NAMES,
        default=DEFAULT_SCENARIO,
        metavar="NAME",
        help=f"what to simulate (default {DEFAULT_SCENARIO}; see --list)",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--lines",
        type=int,
        default=DEFAULT_LINES,
        metavar="N",
        help=f"about how many flow lines to write (default {DEFAULT_LINES:,}); "
        "0 = the scenario's natural rates (millions)",
    )
    parser.add_argument(
        "--hours",
        type=float,
        default=24.0,
        help="simulated time; the first 75%% is the learning window (default 24)",
    )
    parser.add_argument(
        "--next-day",
        action="store_true",
        help="learning window: all of --hours; held-out window: the next --hours, after every "
        "controller rolls out, role-labelled databases fail over and declared pools rotate",
    )
    parser.add_argument(
        "--source",
        choices=FLOW_FORMATS,
        default=None,
        help="flow format: hubble observe -o jsonpb lines, or Calico Enterprise flows.log "
        "lines (aggregation level 2, reported at both ends) (default hubble)",
    )
    parser.add_argument(
        "--format",
        dest="legacy_format",
        choices=FLOW_FORMATS,
        default=None,
        help="deprecated: use --source",
    )
    parser.add_argument("--gzip", action="store_true", help="write flows as .jsonl.gz")
    parser.add_argument(
        "--include-volatile-labels",
        action="store_true",
        help="keep pod-template-hash, controller-revision-hash, job-name ... on endpoints, "
        "as a cluster with a custom Cilium label filter would",
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    add_progress_flags(parser)
    parser.set_defaults(handler=run)


def _check_arguments(args: argparse.Namespace, env: Env) -> None:
    if args.legacy_format:
        if args.source:
            raise UsageError("give the flow format once, as --source")
        env.warning("simulate --format is deprecated: use --source (the flow format)")
    args.format = args.source or args.legacy_format or "hubble"
    if args.list:
        return
    args.output = output_dir_from_args(args, env)
    if args.lines < 0:
        raise UsageError("--lines must be >= 0")
    if not 0 < args.hours <= 24 * 90:
        raise UsageError("--hours must be between 0 and 2160")


def _replaceable(path: str) -> bool:
    """A directory may be replaced when it is empty or was written by netpol-learner."""
    if not os.path.exists(path):
        return True
    if not os.path.isdir(path):
        return False
    return not os.listdir(path) or os.path.exists(os.path.join(path, MARKER))


def _check_output(directory: str) -> None:
    from learner.simulate.truth import FORMAT

    if os.path.exists(directory) and not os.path.isdir(directory):
        raise UsageError(f"{directory}: exists and is not a directory")
    for part in ("flows", "inventory"):
        path = os.path.join(directory, part)
        if not _replaceable(path):
            raise UsageError(
                f"{path}: refusing to replace a directory that netpol-learner did not write"
            )
    truth = os.path.join(directory, "ground-truth.json")
    if os.path.exists(truth):
        try:
            with open(truth, encoding="utf-8") as handle:
                ours = json.load(handle).get("format") == FORMAT
        except (OSError, ValueError, AttributeError):
            ours = False
        if not ours:
            raise UsageError(f"{truth}: refusing to replace a file netpol-learner did not write")


def _swap_in(staging: str, directory: str, part: str) -> None:
    target = os.path.join(directory, part)
    if os.path.exists(target):
        shutil.rmtree(target)
    os.rename(os.path.join(staging, part), target)


def run(args: argparse.Namespace, env: Env) -> ExitStatus:
    # The simulator is imported here, not at start-up: no other command needs it.
    from learner.simulate import ground_truth, simulate, write_manifests
    from learner.simulate.scenario import build_scenario

    _check_arguments(args, env)
    if args.list:
        for name in SCENARIO_NAMES:
            env.info(f"{name:28} {build_scenario(name, hours=1).description}")
        return ExitStatus.SUCCESS
    directory = os.path.abspath(args.output)
    _check_output(directory)
    result = simulate(
        args.scenario,
        seed=args.seed,
        lines=args.lines or None,
        hours=args.hours,
        next_day=args.next_day,
    )
    os.makedirs(directory, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".simulate-", dir=directory)
    try:
        files = _write_flows(result, staging, args, env)
        inventory = os.path.join(staging, "inventory")
        manifests = write_manifests(result, inventory)
        for part in ("flows", "inventory"):
            with open(os.path.join(staging, part, MARKER), "w", encoding="utf-8") as handle:
                handle.write(MARKER_TEXT)
        truth = ground_truth(result).to_json(files)
        truth_text = json.dumps(truth, indent=2, ensure_ascii=False) + "\n"
        with open(os.path.join(staging, "ground-truth.json"), "w", encoding="utf-8") as handle:
            handle.write(truth_text)
        for part in ("flows", "inventory"):
            _swap_in(staging, directory, part)
        os.replace(
            os.path.join(staging, "ground-truth.json"), os.path.join(directory, "ground-truth.json")
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _summarise(result, args.output, files, len(manifests), env)
    return ExitStatus.SUCCESS


def _write_flows(
    result: SimulationResult, staging: str, args: argparse.Namespace, env: Env
) -> dict[str, list[str]]:
    from learner.simulate import HubbleOptions, write_hubble
    from learner.simulate.calico_writer import write_calico

    options = HubbleOptions(include_volatile_labels=args.include_volatile_labels)
    suffix = ".jsonl.gz" if args.gzip else ".jsonl"
    files: dict[str, list[str]] = {}
    progress = env.progress("simulating", unit="lines")
    done = 0
    try:
        for window in result.windows:
            relative = f"flows/{window.name}{suffix}"
            written = [relative]
            if args.format == "calico":
                # A node with DNS logs on (Calico's default) writes dns.log beside flows.log.
                dns_relative = f"flows/{window.name}-dns{suffix}"
                count = write_calico(
                    result,
                    os.path.join(staging, relative),
                    window=window.name,
                    gzip=args.gzip,
                    progress=_counting_from(progress, done),
                    dns_path=os.path.join(staging, dns_relative),
                )
                written.append(dns_relative)
            else:
                count = write_hubble(
                    result,
                    os.path.join(staging, relative),
                    window=window.name,
                    gzip=args.gzip,
                    options=options,
                    progress=_counting_from(progress, done),
                )
            done += count
            files[window.name] = written
            env.info(f"wrote {count:,} lines to {os.path.join(args.output, relative)}")
            if len(written) > 1:
                env.info(f"wrote their DNS lookups to {os.path.join(args.output, written[1])}")
    finally:
        progress.close()
    return files


def _counting_from(progress: Progress, before: int) -> Callable[[int], None]:
    """Progress across files: a file's line count shifted by the lines already written."""

    def update(lines: int) -> None:
        progress.update(before + lines)

    return update


def _summarise(
    result: SimulationResult, output: str, files: dict[str, list[str]], manifests: int, env: Env
) -> None:
    cluster = result.cluster
    scenario = result.scenario
    env.info(
        f"wrote {manifests} manifest files to {os.path.join(output, 'inventory')} and the "
        f"ground truth to {os.path.join(output, 'ground-truth.json')}"
    )
    env.info(
        f"scenario {scenario.name} (seed {result.seed}): {len(cluster.workloads)} workloads, "
        f"{len(cluster.pods)} pods in {len(cluster.namespaces)} namespaces, "
        f"{len(scenario.allowed)} allowed connections, {len(scenario.denied)} denied probes"
    )
