"""How fast the semantics engine answers: compile N policies, then evaluate M observed edges.

A synthetic cluster: ``--namespaces`` namespaces of ``--workloads`` workloads each, one
ingress policy per workload (peers by pod selector, by namespace, AND-ed, ipBlock; numeric,
named and ranged ports), an egress policy for every third workload and a default-deny per
namespace, until ``--policies`` policies exist. Edges are distinct (source, destination, port)
triples between those workloads plus external addresses, built into traffic through the
inventory exactly as ``verify`` does. Seeded: the same flags give the same workload.

    .venv/bin/python benchmarks/semantics.py                  # 1,000,000 edges, 2,000 policies
    .venv/bin/python benchmarks/semantics.py --edges 100000   # quicker
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from learner.model.edges import EdgeKey  # noqa: E402
from learner.model.identity import Identity  # noqa: E402
from learner.model.inventory import ContainerPort, Inventory, Namespace, Workload  # noqa: E402
from learner.semantics import PolicyDocument, TrafficBuilder, compile_policies  # noqa: E402

PORTS = (80, 443, 5432, 8080, 9090)
PORT_NAMES = {80: "http", 443: "https", 5432: "postgres", 8080: "web", 9090: "metrics"}
TIERS = ("web", "api", "db")


def workload_labels(namespace: int, index: int) -> dict[str, str]:
    return {
        "app": f"svc-{index}",
        "tier": TIERS[index % 3],
        "team": f"team-{namespace % 7}",
    }


def make_inventory(namespaces: int, workloads: int) -> Inventory:
    return Inventory(
        namespaces=tuple(
            Namespace(
                f"ns-{n}",
                (
                    ("env", "prod" if n % 2 else "staging"),
                    ("kubernetes.io/metadata.name", f"ns-{n}"),
                ),
            )
            for n in range(namespaces)
        ),
        workloads=tuple(
            Workload(
                namespace=f"ns-{n}",
                name=f"svc-{i}",
                labels=tuple(sorted(workload_labels(n, i).items())),
                ports=tuple(ContainerPort(p, "TCP", PORT_NAMES[p]) for p in PORTS),
            )
            for n in range(namespaces)
            for i in range(workloads)
        ),
    )


def ingress_policy(rng: random.Random, n: int, i: int, workloads: int) -> dict[str, Any]:
    peers: list[dict[str, Any]] = [
        {"podSelector": {"matchLabels": {"app": f"svc-{rng.randrange(workloads)}"}}},
        {
            "namespaceSelector": {"matchLabels": {"env": "prod"}},
            "podSelector": {"matchLabels": {"tier": "web"}},
        },
        {
            "podSelector": {
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["api", "web"]}]
            }
        },
        {"ipBlock": {"cidr": "203.0.113.0/24", "except": ["203.0.113.128/25"]}},
    ]
    ports: list[dict[str, Any]] = [
        {"port": rng.choice(PORTS)},
        {"port": "metrics"},
        {"port": 8000, "endPort": 8100},
    ]
    return {
        "podSelector": {"matchLabels": {"app": f"svc-{i}"}},
        "policyTypes": ["Ingress"],
        "ingress": [
            {"from": rng.sample(peers, 2), "ports": rng.sample(ports, 2)},
            {
                "from": [
                    {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ns-0"}}}
                ]
            },
        ],
    }


def egress_policy(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "podSelector": {"matchLabels": {"app": f"svc-{i}"}},
        "policyTypes": ["Egress"],
        "egress": [
            {"to": [{"podSelector": {"matchLabels": {"tier": rng.choice(TIERS)}}}]},
            {"to": [{"namespaceSelector": {}}], "ports": [{"port": 53, "protocol": "UDP"}]},
            {
                "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}],
                "ports": [{"port": 443}],
            },
        ],
    }


def make_policies(
    rng: random.Random, namespaces: int, workloads: int, total: int
) -> list[PolicyDocument]:
    specs: list[tuple[str, str, dict[str, Any]]] = []
    for n in range(namespaces):
        specs.append((f"ns-{n}", "default-deny", {"podSelector": {}, "policyTypes": ["Ingress"]}))
    while len(specs) < total:
        for n in range(namespaces):
            for i in range(workloads):
                if len(specs) >= total:
                    break
                specs.append(
                    (
                        f"ns-{n}",
                        f"svc-{i}-ingress-{len(specs)}",
                        ingress_policy(rng, n, i, workloads),
                    )
                )
                if i % 3 == 0 and len(specs) < total:
                    specs.append((f"ns-{n}", f"svc-{i}-egress-{len(specs)}", egress_policy(rng, i)))
    return [
        PolicyDocument(
            "bench.yaml",
            index,
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": name, "namespace": namespace},
                "spec": spec,
            },
        )
        for index, (namespace, name, spec) in enumerate(specs)
    ]


def make_edges(rng: random.Random, inventory: Inventory, count: int) -> list[EdgeKey]:
    pods = [Identity("pod", w.namespace, w.labels) for w in inventory.workloads]
    outside = [Identity("world", address=f"203.0.113.{k}") for k in range(256)]
    destinations = pods + outside
    edges: set[EdgeKey] = set()
    while len(edges) < count:
        source = rng.choice(pods)
        destination = rng.choice(destinations)
        port = rng.choice(PORTS) if destination.is_pod else rng.choice((443, 8443, 80))
        edges.add(EdgeKey(source, destination, "TCP", port))
    return sorted(edges)


class Lap:
    def __init__(self, wall: float, cpu: float) -> None:
        self.wall, self.cpu = wall, cpu

    def __str__(self) -> str:
        return f"{self.cpu:.2f} s CPU ({self.wall:.2f} s wall)"


class Clock:
    """CPU time is what the engine costs; wall time also counts other processes' load."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> Lap:
        wall, cpu = time.perf_counter(), time.process_time()
        lap = Lap(wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return lap


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", type=int, default=1_000_000)
    parser.add_argument("--policies", type=int, default=2_000)
    parser.add_argument("--namespaces", type=int, default=100)
    parser.add_argument("--workloads", type=int, default=20, help="per namespace")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    inventory = make_inventory(args.namespaces, args.workloads)
    documents = make_policies(rng, args.namespaces, args.workloads, args.policies)
    edges = make_edges(rng, inventory, args.edges)

    clock = Clock()
    policies = compile_policies(documents)
    compiled = clock.lap()
    # As verify does: one traffic value per edge, judged and dropped (nothing kept per edge).
    builder = TrafficBuilder(inventory)
    for edge in edges:
        builder.for_edge(edge)
    built = clock.lap()
    builder = TrafficBuilder(inventory)
    evaluate = policies.evaluate
    allowed = 0
    for edge in edges:
        if evaluate(builder.for_edge(edge)).allowed:
            allowed += 1
    judged = clock.lap()

    count = len(edges)
    print(f"policies: {len(policies):,} ({len(policies.targets):,} targets); compile {compiled}")
    print(f"workloads: {len(inventory.workloads):,} in {len(inventory.namespaces):,} namespaces")
    print(f"edges: {count:,} ({allowed:,} allowed, {count - allowed:,} denied)")
    print(f"traffic from edges alone: {built}, {1e6 * built.cpu / count:.2f} us/edge")
    print(f"traffic + evaluate: {judged}, {1e6 * judged.cpu / count:.2f} us/edge")
    evaluate_cpu = judged.cpu - built.cpu
    print(
        f"evaluate alone (difference): {evaluate_cpu:.2f} s CPU, {1e6 * evaluate_cpu / count:.2f} us/edge"
    )
    print(f"compile + traffic + evaluate: {compiled.cpu + judged.cpu:.2f} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
