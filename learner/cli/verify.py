"""``netpol-learner verify``: would these policies deny traffic that was observed?

Reads flows, normalises and aggregates them exactly as ``generate`` does, then asks the
semantics engine about every observed connection. Exit status 1 when any would be denied.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

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
from learner.model.edges import EdgeKey, EdgeStats, EdgeStore
from learner.model.errors import ExitStatus, UsageError
from learner.model.identity import Identity
from learner.model.inventory import Inventory
from learner.model.run_stats import CollectorStats, NormalizeStats

if TYPE_CHECKING:
    from learner.semantics import DirectionResult, PolicyRef, PolicySet

OUTPUT_FORMATS = ("text", "json")
HELP = "check observed flows against policies: list every connection they would deny"
EXAMPLES = """\
examples:
  # would the policies in policies/ break anything seen in these Hubble exports?
  netpol-learner verify --policies policies/ flows/*.jsonl

  # what is deployed now, judged against a capture, with the cluster's pods and namespaces
  netpol-learner verify --policies cluster flows.jsonl --inventory cluster

  # machine-readable, dropped flows included (they show what a policy already blocks)
  netpol-learner verify --policies policies/ flows/ --include-dropped -o json

exit status: 0 nothing would be denied, 1 some observed connection would be denied,
2 bad flags, input or manifests, or no flow to check (mostly malformed, or none used),
3 cluster unreachable.
"""


def register(sub: Any) -> None:
    parser = add_command_parser(sub, "verify", HELP, EXAMPLES)
    parser.add_argument(
        "--policies",
        required=True,
        action="append",
        metavar="DIR|cluster",
        help="policy manifests (files or directories, repeatable) or 'cluster' for what is deployed",
    )
    parser.add_argument(
        "inputs", nargs="*", metavar="INPUT", help="flow exports: files, directories or - for stdin"
    )
    add_legacy_flows_flag(parser)
    add_flow_options(
        parser,
        namespace_help="only check connections of workloads in NS (repeatable; OR)",
        dropped_help="also check DROPPED/ERROR flows (default: only traffic that got through)",
    )
    add_cluster_flags(
        parser, "workloads and namespaces (manifests or 'cluster'); default: what the flows show"
    )
    add_cni_flags(parser)
    add_output_format_flag(parser, OUTPUT_FORMATS, "text")
    add_engine_options(parser)
    parser.set_defaults(handler=run)


# --- the check -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeniedConnection:
    edge: EdgeKey
    flows: int
    first_seen: float
    last_seen: float
    sides: tuple[DirectionResult, ...]
    """The sides (egress at the source, ingress at the destination) that deny it."""
    unnamed_port: bool = False
    """The policies use named ports but the destination's port name is unknown."""

    @property
    def policies(self) -> tuple[PolicyRef, ...]:
        return tuple(sorted({p for side in self.sides for p in side.policies}))


@dataclass
class VerifyResult:
    connections: int = 0
    flows: int = 0
    allowed: int = 0
    denied: list[DeniedConnection] = field(default_factory=list)

    @property
    def denied_flows(self) -> int:
        return sum(d.flows for d in self.denied)


def verify_store(policies: PolicySet, store: EdgeStore, inventory: Inventory) -> VerifyResult:
    """Every edge of ``store`` judged by ``policies``; denied ones most-seen first."""
    from learner.semantics import TrafficBuilder

    builder = TrafficBuilder(inventory)
    named_ports = policies.uses_named_ports
    result = VerifyResult()
    for edge, stats in store.edges.items():
        traffic = builder.for_edge(edge, stats)
        decision = policies.evaluate(traffic)
        result.connections += 1
        result.flows += stats.count
        if decision.allowed:
            result.allowed += 1
            continue
        result.denied.append(
            _denied(edge, stats, decision.denied_by, named_ports, traffic.port_name)
        )
    result.denied.sort(key=lambda d: (-d.flows, d.edge))
    return result


def _denied(
    edge: EdgeKey,
    stats: EdgeStats,
    sides: tuple[DirectionResult, ...],
    named_ports: bool,
    port_name: str,
) -> DeniedConnection:
    return DeniedConnection(
        edge=edge,
        flows=stats.count,
        first_seen=stats.first_seen,
        last_seen=stats.last_seen,
        sides=sides,
        unnamed_port=named_ports and edge.destination.is_pod and not port_name,
    )


# --- output ----------------------------------------------------------------------------------


def rfc3339(seconds: float) -> str:
    """UTC, to the second, as every other time the tool writes."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def describe(identity: Identity) -> str:
    """An identity for people: a pod known only by address shows the address."""
    if identity.is_pod and not identity.labels and identity.address:
        return f"{identity.key} ({identity.address})"
    return identity.key


def describe_edge(edge: EdgeKey) -> str:
    port = f"{edge.port}/{edge.protocol}" if edge.port else edge.protocol
    return f"{describe(edge.source)} -> {describe(edge.destination)} {port}"


def render_text(result: VerifyResult, policy_count: int) -> str:
    policies = f"{policy_count:,} " + ("policy" if policy_count == 1 else "policies")
    lines = [
        f"checked {_plural(result.connections, 'observed connection')} "
        f"({_plural(result.flows, 'flow')}; one seen at both ends counts once) against {policies}: "
        f"{result.allowed:,} allowed, {len(result.denied):,} would be denied "
        f"({_plural(result.denied_flows, 'flow')})"
    ]
    for denied in result.denied:
        lines.append("")
        lines.append(f"DENIED {describe_edge(denied.edge)} ({_plural(denied.flows, 'flow')})")
        for side in denied.sides:
            lines.append(f"  {side.reason}")
            for policy in side.policies:
                lines.append(f"    {policy.kind} {policy}")
        if denied.unnamed_port:
            lines.append(
                f"  note: the policies use named ports and port {denied.edge.port} of "
                f"{denied.edge.destination.key} has no known name; give --inventory"
            )
    return "\n".join(lines) + "\n"


def _policy_json(policy: PolicyRef) -> dict[str, Any]:
    return {
        "kind": policy.kind,
        "namespace": policy.namespace,
        "name": policy.name,
        "path": policy.path,
        "document": policy.document,
    }


def _side_json(side: DirectionResult) -> dict[str, Any]:
    return {
        "direction": str(side.direction),
        "subject": side.subject.key,
        "outcome": side.outcome,
        "reason": side.reason,
        "rules": [rule.key for rule in side.rules],
        "policies": [_policy_json(p) for p in side.policies],
    }


def render_json(result: VerifyResult, policy_count: int) -> str:
    document = {
        "policies": policy_count,
        "connections": result.connections,
        "flows": result.flows,
        "allowed": result.allowed,
        "denied_connections": len(result.denied),
        "denied_flows": result.denied_flows,
        "denied": [
            {
                "source": describe(d.edge.source),
                "destination": describe(d.edge.destination),
                "protocol": d.edge.protocol,
                "port": d.edge.port,
                "flows": d.flows,
                "first_seen": rfc3339(d.first_seen),
                "last_seen": rfc3339(d.last_seen),
                "sides": [_side_json(side) for side in d.sides],
                "unnamed_port": d.unnamed_port,
            }
            for d in result.denied
        ],
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n"


# --- the command -----------------------------------------------------------------------------


def load_policies(
    sources: Sequence[str], kubeconfig: str | None, context: str | None, env: Env
) -> PolicySet | None:
    """The compiled policies, or None after reporting every bad document."""
    from learner.ingest.inventory_load import CLUSTER, load_current_policies
    from learner.semantics import compile_policies

    if CLUSTER in sources and len(sources) > 1:
        raise UsageError("--policies cluster cannot be combined with files or directories")
    source: str | list[str] = sources[0] if len(sources) == 1 else list(sources)
    documents, errors = load_current_policies(source, kubeconfig=kubeconfig, context=context)
    policies = compile_policies(documents, errors=errors)
    for error in errors:
        env.error(str(error))
    if not documents and not errors:
        raise UsageError(f"no policy found in {', '.join(sources)}: nothing to verify")
    return None if errors else policies


def report_reading(env: Env, collected: CollectorStats, normalized: NormalizeStats) -> None:
    for error in collected.errors:
        env.warning(f"skipped {error}")
    if collected.malformed > len(collected.errors):
        env.warning(f"... and {collected.malformed - len(collected.errors):,} more malformed")
    if collected.lost_events:
        env.warning(f"the CNI reported {collected.lost_events:,} lost events: flows are missing")


def run(args: argparse.Namespace, env: Env) -> ExitStatus:
    from learner.app.pipeline import effective_inventory, new_store, reading_progress
    from learner.app.scope import check_worth_judging
    from learner.semantics.cni import as_enforced_by

    output = resolve_output(args, env, formats=OUTPUT_FORMATS, default="text")
    inputs = flow_inputs_from_args(args, env, "verify --policies DIR flows.jsonl")
    if not inputs:
        raise UsageError("give the flows to check: files, directories or - for stdin")
    policies = load_policies(args.policies, args.kubeconfig, args.context, env)
    if policies is None:
        return ExitStatus.USAGE
    config = LearnConfig(
        include_dropped=args.include_dropped,
        namespaces=namespaces_from_args(args),
        ignore_labels=tuple(args.ignore_label),
        # Judges every observed connection at its own address: nothing is folded.
        max_external_peers=0,
    )
    store = new_store(config)
    collected, normalized = CollectorStats(), NormalizeStats()
    read_into_store(
        args, inputs, store, config, collected, normalized, reading_progress(env, inputs)
    )
    store.resolve_unlabelled()
    report_reading(env, collected, normalized)
    check_worth_judging(
        collected,
        normalized,
        no_flow="no flow to check (see --include-dropped, or the inputs are empty)",
    )
    given = None
    if args.inventory:
        from learner.ingest.inventory_load import load_inventory

        given = load_inventory(args.inventory, kubeconfig=args.kubeconfig, context=args.context)
    cni = CNI(resolve_cni(args.cni, args.source, inputs))
    policies = as_enforced_by(policies, cni, cidr_match_nodes=args.cilium_cidr_match_nodes)
    result = verify_store(policies, store, effective_inventory(store, given))
    render = render_json if output == "json" else render_text
    env.stdout.write(render(result, len(policies)))
    return ExitStatus.FINDINGS if result.denied else ExitStatus.SUCCESS
