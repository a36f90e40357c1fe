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
NEXT_DAY_GAP_MINUTES = 15
"""With ``next_day``: the change window between the learning and the held-out period."""

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
        self,
        name: str,
        seed: int,
        hours: float,
        *,
        gap_minutes: float = 0,
        nodes: int = 4,
        next_day: bool = False,
    ) -> None:
        self.name = name
        self.next_day = next_day
        total = int(hours * HOUR)
        if next_day:
            # Learn on the whole first period; the held-out period is as long and starts once
            # the change window between them (rollouts, failovers) is over.
            gap = int(max(gap_minutes, NEXT_DAY_GAP_MINUTES) * 60 * SECOND)
            learning_end = START_NS + total
            end = learning_end + gap + total
        else:
            gap = int(gap_minutes * 60 * SECOND)
            learning_end = START_NS + int((total - gap) * LEARNING_FRACTION)
            end = START_NS + total
        self.learning = Window("learning", START_NS, learning_end)
        self.held_out = Window("held-out", learning_end + gap, end)
        self.cluster = ClusterBuilder(
            name, random.Random(f"{seed}|{name}|topology"), nodes=nodes, start_ns=START_NS,
            end_ns=end,
        )  # fmt: skip
        self.specs: list[ConnectionSpec] = []
        self.no_dns: set[str] = set()
        self.dns_over_tcp: set[str] = set()
        self.resolver: Workload | None = None

    @property
    def pool_rotation_ns(self) -> int:
        """When provider address pools rotate: the held-out period's start with ``next_day``
        (the next day's DNS answers come from other addresses of the pool), else never."""
        return self.held_out.start_ns if self.next_day else 0

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
        if self.next_day:
            self._day_after_events()
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

    def _day_after_events(self) -> None:
        """What happens between one day and the next on a real cluster: every controller is
        upgraded (a new release: new pod-template-hash, version labels and chart version, new
        pods and addresses), and every operator-managed
        database with per-pod role labels fails over (``role=primary`` moves to another pod).
        CronJobs start new runs by themselves; pools rotate where the scenario declares them."""
        change, held_out = self.learning.end_ns + 30 * SECOND, self.held_out.start_ns
        controllers = (WorkloadKind.DEPLOYMENT, WorkloadKind.STATEFULSET, WorkloadKind.DAEMONSET)
        for workload in self.cluster.workloads():
            if self.cluster.created_after(workload, change - SECOND):
                continue  # installed in the change window: it is the new release
            rolled = self.cluster.rolls_out_between(workload, change, held_out)
            if workload.kind in controllers and not rolled:
                self.cluster.rollout(workload, change, 20 * SECOND, upgrade=True)
            elif workload.kind in controllers:
                self.cluster.upgrade_rollouts_between(workload, change, held_out)
            failed_over = self.cluster.fails_over_between(workload, change, held_out)
            if workload.kind is WorkloadKind.STATEFULSET and workload.pod_noise and not failed_over:
                self.cluster.failover(workload, change + 60 * SECOND)

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
                # Every resolver client may use TCP: a stub resolver retries over TCP when an
                # answer is truncated (RFC 7766), so 53/TCP is allowed for all of them; only
                # some use it often enough to be seen every day.
                over_tcp = workload.id in self.dns_over_tcp
                declared = resolver.port(port_name)
                result.append(
                    ConnectionSpec(
                        client=workload.id,
                        server=resolver.id,
                        protocol=protocol,
                        port=declared.port,
                        port_name=port_name,
                        pattern=pattern if protocol is UDP else Poisson(2 if over_tcp else 0),
                        l7=L7.DNS,
                        requests=tuple(queries),
                        rare=protocol is TCP and not over_tcp,
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
