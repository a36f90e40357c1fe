"""Policy quality on simulated clusters: does what we write today survive tomorrow's traffic?

For each scenario the simulator makes two days (``simulate(..., next_day=True)``): the
learning day, then a change window in which every Deployment, StatefulSet and DaemonSet rolls
out (new pod-template-hash, new pods and addresses), role-labelled databases fail over
(``role=primary`` moves to another pod) and declared provider address pools rotate, then the
held-out day (on which CronJobs start new runs, as every day). Both learners learn from the
learning day through the real pipeline (collector, normalisation, aggregation, owners from the
manifests, :func:`build_proposal`); their proposals are rendered as Kubernetes NetworkPolicy
and compiled by the semantics engine, which then answers:

* **held-out recall**: the share of the held-out day's legitimate connections (weighted by
  connection count) the policies allow: the number that matters to whoever applies them;
* **forbidden pairs allowed**: (client, server, protocol, port) combinations over every
  workload and entity of the cluster, and every port the scenario uses, that the ground truth
  forbids but the policies allow while isolating at least one end (pairs no policy isolates
  are allowed whatever a learner does). In brackets: those due to the cluster-DNS rules (53 to
  the DNS servers), and for Calico input those the same learner does not allow when it learns
  from Hubble (allowed only because aggregation hid the address). Kubelet traffic from the
  pod's own node is left out, as NetworkPolicy always allows it;
* size: policies and spec lines (YAML lines without comments and blank lines).

Variants of ``mixed``: the learning day written as Calico ``flows.log`` at
``flowLogsFileAggregationKindForAllowed`` 0, 1 and 2, with the ``dns.log`` of the same day
(judged on the same held-out day), and a
namespace-scoped run (``-n shop``: only the shop's policies are written; recall and forbidden
pairs are judged on pairs with a shop end, and a policy outside the namespace is an error).

Run ``python benchmarks/quality.py`` (``--markdown`` for the table in docs/quality.md).
Deterministic for a given ``--seed``.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from learner import simulate
from learner.app.pipeline import build_proposal, effective_inventory, ingest, new_store, read_flows
from learner.app.selfcheck import documents_from_files
from learner.ingest.inventory_load import inventory_from_paths
from learner.model.config import LearnConfig
from learner.model.edges import EdgeStore
from learner.model.flow import EndpointKind
from learner.model.infra import EVERY_NAMESPACE_ADMITS, is_ingress_controller, is_monitoring
from learner.model.inventory import Inventory
from learner.model.policy import Proposal
from learner.model.run_stats import CollectorStats, NormalizeStats
from learner.semantics import PolicySet, Traffic, TrafficPeer, compile_policies, traffic_for_edge
from learner.semantics.matchers import selector_matches
from learner.simulate.calico_writer import CalicoOptions, write_calico
from learner.simulate.cluster import ENTITY_KUBE_APISERVER, ENTITY_NODES, ENTITY_WORLD, Cluster
from learner.simulate.truth import AllowedKey, allowed_keys, entities_of
from outputs.networkpolicy import render

SCENARIOS: tuple[str, ...] = (
    "many-replicas",
    "rollout",
    "cronjobs",
    "cross-namespace-monitoring",
    "external-ips",
    "address-pools",
    "label-styles",
    "failover",
    "node-autoscaling",
    "mixed",
)
LEARNERS: tuple[str, ...] = ("least-privilege", "baseline")
WORLD_PROBE_ADDRESS = "81.2.69.160"
"""A public address no scenario uses, standing for "some internet client"."""
DNS_PORT = 53
SCOPED_NAMESPACE = "shop"


@dataclass(frozen=True, slots=True)
class Variant:
    """How one row learns: from which flow format, limited to which namespace."""

    scenario: str
    source: str = "hubble"
    """``hubble``, or ``calico-N`` for Calico flows.log at aggregation level N with dns.log."""
    namespace: str = ""
    """``-n`` for the run: only this namespace's policies are written and judged."""

    @property
    def label(self) -> str:
        flows = self.source.replace("calico-", "calico agg ")
        return f"{flows}, -n {self.namespace}" if self.namespace else flows


VARIANTS: dict[str, tuple[Variant, ...]] = {
    # Calico's default aggregation names each node (a host endpoint) with no address.
    "node-autoscaling": (Variant("node-autoscaling"), Variant("node-autoscaling", "calico-2")),
    "mixed": (
        Variant("mixed"),
        Variant("mixed", "calico-0"),
        Variant("mixed", "calico-1"),
        Variant("mixed", "calico-2"),
        Variant("mixed", namespace=SCOPED_NAMESPACE),
    ),
}
"""Rows per scenario beyond the Hubble one every scenario has."""


@dataclass(frozen=True, slots=True)
class Score:
    scenario: str
    variant: str
    learner: str
    held_out_connections: int
    denied_connections: int
    denied_edges: int
    forbidden_allowed: int
    forbidden_dns: int
    forbidden_hidden: int
    forbidden_cluster_wide: int
    """Pairs a scraper's or ingress controller's every-namespace rule admits to a pod that has
    no ingress policy of its own (see :func:`cluster_wide_pairs`)."""
    policies: int
    spec_lines: int
    seconds: float

    @property
    def recall(self) -> float:
        if not self.held_out_connections:
            return 1.0
        return 1 - self.denied_connections / self.held_out_connections


class ScopeViolation(RuntimeError):
    """A namespace-scoped run wrote a policy for another namespace."""


def read_store(path: str, config: LearnConfig) -> EdgeStore:
    store = new_store(config)
    ingest(read_flows([path], stats=CollectorStats()), store, config, NormalizeStats())
    store.resolve_unlabelled()
    return store


def spec_lines(files: dict[str, str]) -> int:
    return sum(
        1
        for path, text in files.items()
        if path.endswith(".yaml") and not path.endswith("kustomization.yaml")
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )


def in_scope(namespace: str, *ends: tuple[bool, str]) -> bool:
    """Whether a pair is judged: always without a namespace, else when a pod end is in it."""
    return not namespace or any(is_pod and ns == namespace for is_pod, ns in ends)


def held_out_denials(
    policies: PolicySet, held_out: EdgeStore, inventory: Inventory, namespace: str = ""
) -> tuple[int, int, int]:
    """(connections, denied connections, denied edges) of the held-out window."""
    total = denied = denied_edges = 0
    for edge, stats in held_out.sorted_edges():
        source, destination = edge.source, edge.destination
        if not in_scope(
            namespace,
            (source.kind == EndpointKind.POD, source.namespace),
            (destination.kind == EndpointKind.POD, destination.namespace),
        ):
            continue
        total += stats.count
        if not policies.evaluate(traffic_for_edge(edge, inventory, stats)).allowed:
            denied += stats.count
            denied_edges += 1
    return total, denied, denied_edges


def _peers(cluster: Cluster, reaches_nodes: bool = False) -> dict[str, TrafficPeer]:
    namespace_labels = {ns.name: ns.labels for ns in cluster.namespaces}
    peers = {
        w.id: TrafficPeer(
            kind=EndpointKind.POD,
            namespace=w.namespace,
            labels=w.labels,
            namespace_labels=namespace_labels.get(w.namespace, ()),
        )
        for w in cluster.workloads
    }
    peers[ENTITY_KUBE_APISERVER] = TrafficPeer(EndpointKind.KUBE_APISERVER, ip=cluster.apiserver_ip)
    peers[ENTITY_WORLD] = TrafficPeer(EndpointKind.WORLD, ip=WORLD_PROBE_ADDRESS)
    if reaches_nodes:
        peers[ENTITY_NODES] = TrafficPeer(EndpointKind.REMOTE_NODE, ip=cluster.nodes[0].ip)
    return peers


def _port_names(cluster: Cluster) -> dict[tuple[str, str, int], str]:
    return {(w.id, p.protocol, p.port): p.name for w in cluster.workloads for p in w.ports}


def scenario_ports(result: simulate.SimulationResult) -> list[tuple[str, int]]:
    ports: set[tuple[str, int]] = set()
    for spec in result.scenario.connections:
        for number in spec.scan_ports or (spec.port,):
            if number:
                ports.add((str(spec.protocol), number))
    for workload in result.cluster.workloads:
        ports.update((p.protocol, p.port) for p in workload.ports)
    return sorted(ports)


Pair = tuple[str, str, str, int]


def forbidden_pairs(
    policies: PolicySet, result: simulate.SimulationResult, namespace: str = ""
) -> set[Pair]:
    """The forbidden (client, server, protocol, port) combinations ``policies`` allow while
    isolating at least one end."""
    cluster = result.cluster
    allowed = allowed_keys(result.scenario.connections)
    reaches_nodes = ENTITY_NODES in entities_of(result.scenario.connections)
    peers = _peers(cluster, reaches_nodes)
    port_names = _port_names(cluster)
    ports = scenario_ports(result)
    found: set[Pair] = set()
    for client_id, client in peers.items():
        for server_id, server in peers.items():
            if not server.is_pod and not client.is_pod:
                continue
            if not in_scope(
                namespace, (client.is_pod, client.namespace), (server.is_pod, server.namespace)
            ):
                continue
            for protocol, port in ports:
                if AllowedKey(client_id, server_id, protocol, port) in allowed:
                    continue
                name = port_names.get((server_id, protocol, port), "")
                decision = policies.evaluate(Traffic(client, server, protocol, port, name))
                if not decision.allowed:
                    continue
                if not (decision.egress.isolated or decision.ingress.isolated):
                    continue
                found.add((client_id, server_id, protocol, port))
    return found


def cluster_wide_pairs(
    proposal: Proposal, policies: PolicySet, result: simulate.SimulationResult, pairs: set[Pair]
) -> set[Pair]:
    """The ``pairs`` that are the stated cost of the cluster-wide-client rule
    (how-learning-works.md, "Cluster-wide clients"): a monitoring scraper or ingress controller
    reaching a pod that no policy isolates for ingress, on a port of a rule of its own policy
    that says it admits every namespace. Such a pod showed no traffic on the learning day, so
    nothing but that rule decides; any other forbidden pair stays a failure."""
    cluster = result.cluster
    peers = _peers(cluster)
    port_names = _port_names(cluster)
    found = set()
    for client_id, server_id, protocol, port in pairs:
        client, server = peers.get(client_id), peers.get(server_id)
        if client is None or server is None or not server.is_pod:
            continue
        if not (is_monitoring(client.labels) or is_ingress_controller(client.labels)):
            continue
        if (protocol, port) not in every_namespace_ports(proposal, client):
            continue
        name = port_names.get((server_id, protocol, port), "")
        decision = policies.evaluate(Traffic(client, server, protocol, port, name))
        if decision.allowed and not decision.ingress.isolated:
            found.add((client_id, server_id, protocol, port))
    return found


def every_namespace_ports(proposal: Proposal, client: TrafficPeer) -> set[tuple[str, int]]:
    """The ports of the egress rules of ``client``'s policies that admit every namespace."""
    labels = dict(client.labels)
    return {
        (spec.protocol, spec.port or 0)
        for policy in proposal.policies
        if policy.namespace == client.namespace and selector_matches(policy.subject, labels)
        for rule in policy.egress or ()
        if any(a.startswith(EVERY_NAMESPACE_ADMITS) for a in rule.admits)
        for spec in rule.ports
    }


DEFAULT = LearnConfig(include_system=True)
"""generate's defaults, with policies for the system namespaces too: CoreDNS is judged."""


@dataclass(frozen=True, slots=True)
class Day:
    """One simulated scenario written out and read back: what every variant shares."""

    result: simulate.SimulationResult
    manifests: Inventory
    held_out: EdgeStore
    held_out_inventory: Inventory
    dns_servers: frozenset[str]


def learn(
    variant: Variant, learner: str, day: Day, learning_file: str, base: LearnConfig = DEFAULT
) -> tuple[Proposal, PolicySet, int, float]:
    """(proposal, compiled policies, spec lines, seconds) of one learner on one variant."""
    scope = base.namespaces or ((variant.namespace,) if variant.namespace else ())
    config = replace(base, learner=learner, namespaces=scope)
    store = read_store(learning_file, config)
    started = time.perf_counter()
    proposal = build_proposal(store, day.manifests, config)
    seconds = time.perf_counter() - started
    outside = sorted({p.namespace for p in proposal.policies} - {variant.namespace})
    if variant.namespace and outside:
        raise ScopeViolation(f"{variant.label}: policies written for {', '.join(outside)}")
    files = render(proposal, config.render)
    policies = compile_policies(documents_from_files(files))
    return proposal, policies, spec_lines(files), seconds


def write_learning_day(result: simulate.SimulationResult, source: str, path: str) -> None:
    """The learning day at ``path``: a Hubble file, or for Calico a directory holding the
    ``flows.log`` and ``dns.log`` a node with flow and DNS logs enabled writes."""
    if source == "hubble":
        simulate.write_hubble(result, path, window="learning")
        return
    level = int(source.removeprefix("calico-"))
    write_calico(result, f"{path}/flows.log", window="learning",
                 options=CalicoOptions(aggregation_allowed=level),
                 dns_path=f"{path}/dns.log")  # fmt: skip


def evaluate(
    name: str,
    *,
    seed: int,
    lines: int,
    hours: float,
    variants: Sequence[Variant] | None = None,
    learners: Sequence[str] = LEARNERS,
    base: LearnConfig = DEFAULT,
) -> list[Score]:
    """Scores of every learner on every variant of scenario ``name`` (Hubble first)."""
    result = simulate.simulate(name, seed=seed, lines=lines, hours=hours, next_day=True)
    chosen = list(variants or VARIANTS.get(name, (Variant(name),)))
    if chosen[0] != Variant(name):
        chosen.insert(0, Variant(name))  # hidden-address attribution compares with Hubble
    scores: list[Score] = []
    with tempfile.TemporaryDirectory(prefix="netpol-quality-") as tmp:
        simulate.write_hubble(result, f"{tmp}/held-out.jsonl", window="held-out")
        simulate.write_manifests(result, f"{tmp}/manifests")
        manifests = inventory_from_paths([f"{tmp}/manifests"])
        held_out = read_store(f"{tmp}/held-out.jsonl", LearnConfig())
        day = Day(
            result=result,
            manifests=manifests,
            held_out=held_out,
            held_out_inventory=effective_inventory(held_out, manifests),
            dns_servers=frozenset(
                w.id for w in result.cluster.workloads if ("k8s-app", "kube-dns") in w.labels
            ),
        )
        from_hubble: dict[str, set[Pair]] = {}
        for variant in chosen:
            learning_file = f"{tmp}/learning-{variant.source}"
            write_learning_day(result, variant.source, learning_file)
            for learner in learners:
                proposal, policies, size, seconds = learn(
                    variant, learner, day, learning_file, base
                )
                count = len(proposal.policies)
                total, denied, denied_edges = held_out_denials(
                    policies, held_out, day.held_out_inventory, variant.namespace
                )
                forbidden = forbidden_pairs(policies, result, variant.namespace)
                if variant == Variant(name):
                    from_hubble[learner] = forbidden
                dns = {p for p in forbidden if p[1] in day.dns_servers and p[3] == DNS_PORT}
                hidden: set[Pair] = set()
                if variant.source != "hubble":
                    hidden = forbidden - dns - from_hubble[learner]
                wide = cluster_wide_pairs(proposal, policies, result, forbidden - dns - hidden)
                if variants is not None and variant not in variants:
                    continue
                scores.append(
                    Score(
                        scenario=name,
                        variant=variant.label,
                        learner=learner,
                        held_out_connections=total,
                        denied_connections=denied,
                        denied_edges=denied_edges,
                        forbidden_allowed=len(forbidden),
                        forbidden_dns=len(dns),
                        forbidden_hidden=len(hidden),
                        forbidden_cluster_wide=len(wide),
                        policies=count,
                        spec_lines=size,
                        seconds=seconds,
                    )
                )
    return scores


def percent(score: Score) -> str:
    """Recall rounded down, so 3 denied of 3335 never prints as 100.00 %."""
    value = math.floor(10_000 * score.recall) / 100
    return f"{value:.2f} %"


COLUMNS = (
    "scenario",
    "flows learned",
    "learner",
    "held-out recall (denied/connections)",
    "forbidden pairs allowed (DNS; hidden by aggregation; cluster-wide clients)",
    "policies",
    "spec lines",
)


def rows(scores: Sequence[Score]) -> list[tuple[str, ...]]:
    return [
        (
            s.scenario,
            s.variant,
            s.learner,
            f"{percent(s)} ({s.denied_connections}/{s.held_out_connections})",
            f"{s.forbidden_allowed} ({s.forbidden_dns}; {s.forbidden_hidden}; "
            f"{s.forbidden_cluster_wide})",
            str(s.policies),
            str(s.spec_lines),
        )
        for s in scores
    ]


def markdown(scores: Sequence[Score]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---|---|---|---:|---:|---:|---:|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows(scores))
    return "\n".join(lines)


def plain(scores: Sequence[Score]) -> str:
    table = [COLUMNS, *rows(scores)]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in table
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--scenario", action="append", choices=SCENARIOS,
                        help="scenario to run (repeatable; default: all)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lines", type=int, default=40_000,
                        help="Hubble lines per scenario, both days together")  # fmt: skip
    parser.add_argument("--hours", type=float, default=24.0,
                        help="length of the learning day and of the held-out day")  # fmt: skip
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    scores: list[Score] = []
    for name in args.scenario or SCENARIOS:
        scores.extend(evaluate(name, seed=args.seed, lines=args.lines, hours=args.hours))
        print(f"{name}: done", file=sys.stderr)
    print(markdown(scores) if args.markdown else plain(scores))
    return 0


if __name__ == "__main__":
    sys.exit(main())
