"""Policy quality on simulated clusters: the least-privilege learner next to the baseline.

For each scenario the simulator writes Hubble flows for a learning and a held-out window plus
the cluster's manifests. Both learners learn from the learning window through the real
pipeline (collector, normalisation, aggregation, inventory from the manifests); their
proposals are rendered as Kubernetes NetworkPolicy and compiled by the semantics engine, which
then answers:

* **held-out false-deny**: connections in the held-out window the policies would deny
  (weighted by connection count), the number that matters to whoever applies the policies;
* **forbidden allowed**: (client, server, protocol, port) combinations over every workload and
  entity of the cluster, and every port the scenario uses, that the ground truth forbids but
  the policies allow while isolating at least one end (pairs no policy isolates are allowed
  whatever a learner does). Those due only to the shared cluster-DNS rule (53/UDP+TCP to
  the DNS servers for every pod) are counted separately; kubelet traffic from the pod's own
  node is left out, as NetworkPolicy always allows it;
* size: policies, rules and YAML lines (comments and blank lines not counted).

Run ``python benchmarks/quality.py`` (``--markdown`` for the table in
docs/how-learning-works.md). Deterministic for a given ``--seed``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from learner import simulate
from learner.app.pipeline import effective_inventory, ingest, new_store, read_flows
from learner.app.selfcheck import documents_from_files
from learner.infer.baseline import BaselineLearner
from learner.infer.least_privilege import PolicyLearner
from learner.ingest.inventory_load import inventory_from_paths
from learner.model.config import LearnConfig, RenderOptions
from learner.model.edges import EdgeStore
from learner.model.flow import EndpointKind
from learner.model.inventory import Inventory
from learner.model.policy import Proposal
from learner.model.run_stats import CollectorStats, NormalizeStats
from learner.semantics import PolicySet, Traffic, TrafficPeer, compile_policies, traffic_for_edge
from learner.simulate.cluster import ENTITY_KUBE_APISERVER, ENTITY_WORLD, Cluster
from learner.simulate.truth import AllowedKey, allowed_keys
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
    "mixed",
)
WORLD_PROBE_ADDRESS = "81.2.69.160"
"""A public address no scenario uses, standing for "some internet client"."""
DNS_PORT = 53


@dataclass(frozen=True, slots=True)
class Score:
    scenario: str
    learner: str
    held_out_connections: int
    denied_connections: int
    denied_edges: int
    forbidden_allowed: int
    forbidden_dns: int
    policies: int
    rules: int
    yaml_lines: int
    seconds: float

    @property
    def false_deny_rate(self) -> float:
        return (
            self.denied_connections / self.held_out_connections
            if self.held_out_connections
            else 0.0
        )


@dataclass(frozen=True, slots=True)
class Learned:
    name: str
    make: Callable[[], object]


LEARNERS: tuple[Learned, ...] = (
    Learned("least-privilege", PolicyLearner),
    Learned("baseline", BaselineLearner),
)


def read_store(path: str, config: LearnConfig) -> EdgeStore:
    store = new_store(config)
    ingest(read_flows([path], stats=CollectorStats()), store, config, NormalizeStats())
    store.resolve_unlabelled()
    return store


def yaml_lines(files: dict[str, str]) -> int:
    return sum(
        1
        for path, text in files.items()
        if path.endswith(".yaml") and not path.endswith("kustomization.yaml")
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )


def held_out_denials(
    policies: PolicySet, held_out: EdgeStore, inventory: Inventory
) -> tuple[int, int, int]:
    """(connections, denied connections, denied edges) of the held-out window."""
    total = denied = denied_edges = 0
    for edge, stats in held_out.sorted_edges():
        total += stats.count
        if not policies.evaluate(traffic_for_edge(edge, inventory, stats)).allowed:
            denied += stats.count
            denied_edges += 1
    return total, denied, denied_edges


def _peers(cluster: Cluster) -> dict[str, TrafficPeer]:
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
    return peers


def scenario_ports(result: simulate.SimulationResult) -> list[tuple[str, int]]:
    ports: set[tuple[str, int]] = set()
    for spec in result.scenario.connections:
        for number in spec.scan_ports or (spec.port,):
            if number:
                ports.add((str(spec.protocol), number))
    for workload in result.cluster.workloads:
        ports.update((p.protocol, p.port) for p in workload.ports)
    return sorted(ports)


def forbidden_allowed(
    policies: PolicySet, result: simulate.SimulationResult, dns_servers: set[str]
) -> tuple[int, int]:
    """(forbidden combinations allowed, of which by the cluster-DNS rule alone)."""
    cluster = result.cluster
    allowed = allowed_keys(result.scenario.connections)
    peers = _peers(cluster)
    port_names = {(w.id, p.protocol, p.port): p.name for w in cluster.workloads for p in w.ports}
    ports = scenario_ports(result)
    found = dns = 0
    for client_id, client in peers.items():
        for server_id, server in peers.items():
            if not server.is_pod and not client.is_pod:
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
                found += 1
                if server_id in dns_servers and port == DNS_PORT:
                    dns += 1
    return found, dns


def evaluate(name: str, *, seed: int, lines: int, hours: float) -> list[Score]:
    result = simulate.simulate(name, seed=seed, lines=lines, hours=hours)
    config = LearnConfig()
    dns_servers = {w.id for w in result.cluster.workloads if ("k8s-app", "kube-dns") in w.labels}
    scores = []
    with tempfile.TemporaryDirectory(prefix="netpol-quality-") as tmp:
        simulate.write_hubble(result, f"{tmp}/learning.jsonl", window="learning")
        simulate.write_hubble(result, f"{tmp}/held-out.jsonl", window="held-out")
        simulate.write_manifests(result, f"{tmp}/manifests")
        manifests = inventory_from_paths([f"{tmp}/manifests"])
        store = read_store(f"{tmp}/learning.jsonl", config)
        held_out = read_store(f"{tmp}/held-out.jsonl", config)
    inventory = effective_inventory(store, manifests)
    held_out_inventory = effective_inventory(held_out, manifests)
    for learned in LEARNERS:
        started = time.perf_counter()
        learner = learned.make()
        learner.fit(store, inventory)  # type: ignore[attr-defined]
        proposal: Proposal = learner.proposal_  # type: ignore[attr-defined]
        seconds = time.perf_counter() - started
        files = render(proposal, RenderOptions())
        policies = compile_policies(documents_from_files(files))
        total, denied, denied_edges = held_out_denials(policies, held_out, held_out_inventory)
        forbidden, forbidden_dns = forbidden_allowed(policies, result, dns_servers)
        scores.append(
            Score(
                scenario=name,
                learner=learned.name,
                held_out_connections=total,
                denied_connections=denied,
                denied_edges=denied_edges,
                forbidden_allowed=forbidden,
                forbidden_dns=forbidden_dns,
                policies=len(proposal.policies),
                rules=sum(len(p.ingress or ()) + len(p.egress or ()) for p in proposal.policies),
                yaml_lines=yaml_lines(files),
                seconds=seconds,
            )
        )
    return scores


HEADER = (
    "| scenario | learner | held-out false-deny | denied edges | forbidden allowed "
    "(of which cluster DNS) | policies | rules | YAML lines |"
)
RULE = "|---|---|---:|---:|---:|---:|---:|---:|"


def table(scores: Sequence[Score]) -> str:
    rows = [HEADER, RULE]
    for score in scores:
        rows.append(
            f"| {score.scenario} | {score.learner} | {100 * score.false_deny_rate:.2f} % "
            f"({score.denied_connections}/{score.held_out_connections}) | {score.denied_edges} | "
            f"{score.forbidden_allowed} ({score.forbidden_dns}) | {score.policies} | "
            f"{score.rules} | {score.yaml_lines} |"
        )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--scenario", action="append", choices=SCENARIOS,
                        help="scenario to run (repeatable; default: all)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lines", type=int, default=40_000,
                        help="Hubble lines per scenario, both windows together")  # fmt: skip
    parser.add_argument("--hours", type=float, default=24.0)
    args = parser.parse_args(argv)
    scores: list[Score] = []
    for name in args.scenario or SCENARIOS:
        scores.extend(evaluate(name, seed=args.seed, lines=args.lines, hours=args.hours))
        print(f"{name}: done", file=sys.stderr)
    print(table(scores))
    return 0


if __name__ == "__main__":
    sys.exit(main())
