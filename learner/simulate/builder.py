"""Scenario building blocks: the :class:`Scenario` value and :class:`ScenarioBuilder`.

A :class:`Scenario` is a :class:`~learner.simulate.cluster.Cluster`, the connections that are
allowed in it (each a :class:`~learner.simulate.traffic_generator.ConnectionSpec`, including the kubelet
probes, DNS lookups and Prometheus scrapes every real cluster has), the denied probes an
attacker-ish pod makes, and two time windows: learn on the first, test on the second.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from learner.model.flow import Protocol
from learner.model.inventory import ContainerPort
from learner.simulate.cluster import ENTITY_HOST, Cluster, External, Workload, WorkloadKind
from learner.simulate.topology import ClusterBuilder
from learner.simulate.traffic_generator import (
    CLUSTER_DOMAIN,
    HOUR,
    L7,
    SECOND,
    ConnectionSpec,
    Pattern,
    Periodic,
    PerJobRun,
    Poisson,
    Window,
)

SIMULATION_START = datetime(2026, 3, 2, tzinfo=UTC)
"""A Monday, 00:00 UTC: fixed so the same seed always gives the same bytes."""
START_NS = int(SIMULATION_START.timestamp()) * SECOND
LEARNING_FRACTION = 0.75

D, S, P, DS, CJ = (
    WorkloadKind.DEPLOYMENT,
    WorkloadKind.STATEFULSET,
    WorkloadKind.POD,
    WorkloadKind.DAEMONSET,
    WorkloadKind.CRONJOB,
)
TCP, UDP = Protocol.TCP, Protocol.UDP


def port(number: int, name: str, protocol: Protocol = TCP) -> ContainerPort:
    return ContainerPort(port=number, protocol=str(protocol), name=name)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    cluster: Cluster
    connections: tuple[ConnectionSpec, ...]
    """Allowed connections and denied probes (``denied``), sorted by key."""
    learning: Window
    held_out: Window

    @property
    def windows(self) -> tuple[Window, Window]:
        return (self.learning, self.held_out)

    @property
    def allowed(self) -> tuple[ConnectionSpec, ...]:
        return tuple(c for c in self.connections if not c.denied)

    @property
    def denied(self) -> tuple[ConnectionSpec, ...]:
        return tuple(c for c in self.connections if c.denied)


Peerish = Workload | External | str


class ScenarioBuilder:
    """A :class:`ClusterBuilder` plus the connections, with helpers for the usual traffic."""

    def __init__(
        self, name: str, seed: int, hours: float, *, gap_minutes: float = 0, nodes: int = 4
    ) -> None:
        self.name = name
        total = int(hours * HOUR)
        gap = int(gap_minutes * 60 * SECOND)
        learning_end = START_NS + int((total - gap) * LEARNING_FRACTION)
        self.learning = Window("learning", START_NS, learning_end)
        self.held_out = Window("held-out", learning_end + gap, START_NS + total)
        self.cluster = ClusterBuilder(
            name, random.Random(f"{seed}|{name}|topology"), nodes=nodes, start_ns=START_NS,
            end_ns=START_NS + total,
        )  # fmt: skip
        self.specs: list[ConnectionSpec] = []
        self.no_dns: set[str] = set()
        self.dns_over_tcp: set[str] = set()
        self.resolver: Workload | None = None

    def at(self, fraction: float) -> int:
        """An instant ``fraction`` of the way through the learning window."""
        span = self.learning.end_ns - self.learning.start_ns
        return self.learning.start_ns + int(span * fraction)

    @staticmethod
    def _id(peer: Peerish) -> str:
        return peer if isinstance(peer, str) else peer.id

    def connect(
        self,
        client: Peerish,
        server: Peerish,
        port_ref: str | int,
        pattern: Pattern,
        *,
        protocol: Protocol = TCP,
        **options: object,
    ) -> None:
        number, name = (port_ref, "") if isinstance(port_ref, int) else (0, port_ref)
        if isinstance(server, Workload) and name:
            declared = server.port(name)
            number, protocol = declared.port, Protocol(declared.protocol)
        spec = ConnectionSpec(
            client=self._id(client),
            server=self._id(server),
            protocol=protocol,
            port=number,
            port_name=name,
            pattern=pattern,
            **options,  # type: ignore[arg-type]
        )
        self.specs.append(spec)

    def scrape(self, prometheus: Workload, target: Workload, port_name: str) -> None:
        self.connect(prometheus, target, port_name, Periodic(30), via_service=False)

    def deny_scan(self, attacker: Workload, target: Peerish, ports: Iterable[int]) -> None:
        self.connect(attacker, target, 0, Poisson(2), denied=True, scan_ports=tuple(ports))

    def finish(self, description: str) -> Scenario:
        cluster = self.cluster.build()
        specs = [*self.specs, *self._probes(cluster), *self._dns(cluster)]
        specs = [self._mark_rare_jobs(cluster, spec) for spec in specs]
        return Scenario(
            name=self.name,
            description=description,
            cluster=cluster,
            connections=tuple(sorted(specs, key=lambda s: s.key)),
            learning=self.learning,
            held_out=self.held_out,
        )

    def _probes(self, cluster: Cluster) -> list[ConnectionSpec]:
        """Kubelet readiness/liveness probes: from the pod's own node, every 10 s per pod."""
        return [
            ConnectionSpec(
                client=ENTITY_HOST,
                server=workload.id,
                protocol=Protocol(workload.port(name).protocol),
                port=workload.port(name).port,
                port_name=name,
                pattern=Periodic(10),
                via_service=False,
            )
            for workload in cluster.workloads
            for name in workload.probe_ports
        ]

    def _dns(self, cluster: Cluster) -> list[ConnectionSpec]:
        """Every pod resolves the names it connects to through CoreDNS (some also over TCP)."""
        resolver = self.resolver
        if resolver is None:
            return []
        names: dict[str, set[str]] = {}
        rates: dict[str, float] = {}
        services = {w.id: w for w in cluster.workloads}
        externals = {e.id: e for e in cluster.externals}
        for spec in self.specs:
            if spec.denied:
                continue
            wanted = names.setdefault(spec.client, set())
            server = services.get(spec.server)
            if server is not None and server.service and spec.via_service:
                wanted.add(f"{server.service}.{server.namespace}.{CLUSTER_DOMAIN}")
            if spec.server in externals:
                wanted.update(externals[spec.server].dns_names)
            if isinstance(spec.pattern, Poisson):
                rates[spec.client] = rates.get(spec.client, 0.0) + spec.pattern.per_hour
        result = []
        for workload in cluster.workloads:
            if workload.id in self.no_dns or workload is resolver:
                continue
            queries = sorted(names.get(workload.id, set())) or [
                f"kubernetes.default.{CLUSTER_DOMAIN}"
            ]
            pattern: Pattern = (
                PerJobRun(2)
                if workload.kind is WorkloadKind.CRONJOB
                else Poisson(60 + 0.05 * rates.get(workload.id, 0.0))
            )
            for protocol, port_name in ((UDP, "dns"), (TCP, "dns-tcp")):
                if protocol is TCP and workload.id not in self.dns_over_tcp:
                    continue
                declared = resolver.port(port_name)
                result.append(
                    ConnectionSpec(
                        client=workload.id,
                        server=resolver.id,
                        protocol=protocol,
                        port=declared.port,
                        port_name=port_name,
                        pattern=pattern if protocol is UDP else Poisson(2),
                        l7=L7.DNS,
                        requests=tuple(queries),
                    )
                )
        return result

    def _mark_rare_jobs(self, cluster: Cluster, spec: ConnectionSpec) -> ConnectionSpec:
        """A job that has no run inside the learning window is rare by construction."""
        if not isinstance(spec.pattern, PerJobRun) or spec.rare:
            return spec
        start, end = self.learning.start_ns, self.learning.end_ns
        runs = [
            p for p in cluster.pods
            if p.workload.id == spec.client and p.start_ns < end and p.end_ns > start
        ]  # fmt: skip
        return spec if runs else replace(spec, rare=True)
