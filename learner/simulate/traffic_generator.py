"""The traffic model: which connections exist, how often they happen, and the events they make.

A :class:`ConnectionSpec` is one line of ground truth — client, server, protocol, port — plus a
:data:`Pattern` saying when it happens. :class:`TrafficGenerator` turns the specs into a
time-ordered stream of :class:`~learner.simulate.connection_events.ConnectionEvent` for one
:class:`Window`, choosing among the pods alive at each instant (so rollouts and CronJob runs
show up as new pod names) without holding more than one connection's schedule in memory.

Each (connection, window) pair draws from its own ``random.Random`` seeded by its key: the same
seed gives the same bytes, and adding a connection to a scenario leaves the others unchanged.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

from learner.model.flow import Direction, EndpointKind, Protocol, Verdict
from learner.simulate.cluster import (
    ENTITY_HOST,
    ENTITY_KUBE_APISERVER,
    ENTITY_NODES,
    ENTITY_WORLD,
    Cluster,
    External,
    Pod,
)
from learner.simulate.connection_events import ConnectionEvent, DnsExchange, HttpExchange, Peer

SECOND = 1_000_000_000
DAY = 86_400 * SECOND
HOUR = 3600 * SECOND
CLUSTER_DOMAIN = "svc.cluster.local"
LOOKUP_PROBABILITY = 0.2
"""Chance that a connection to an outside name is preceded by a fresh DNS lookup (a cache miss)."""


@dataclass(frozen=True, slots=True)
class Window:
    """A stretch of simulated time: ``[start_ns, end_ns)``."""

    name: str
    start_ns: int
    end_ns: int

    @property
    def hours(self) -> float:
        return (self.end_ns - self.start_ns) / HOUR


@dataclass(frozen=True, slots=True)
class Poisson:
    """Connections at random instants, ``per_hour`` on average (before scaling)."""

    per_hour: float


@dataclass(frozen=True, slots=True)
class Periodic:
    """A connection every ``seconds`` (scrapes, probes); with ``per_server_pod``, one per pod."""

    seconds: float
    per_server_pod: bool = True


@dataclass(frozen=True, slots=True)
class PerJobRun:
    """``events`` connections during every run of the client CronJob; never scaled."""

    events: int = 1


Pattern = Poisson | Periodic | PerJobRun


class L7(StrEnum):
    NONE = "none"
    HTTP = "http"
    """Requests are visible to an L7 proxy: events carry an :class:`HttpExchange`."""
    DNS = "dns"
    """The connection is a DNS lookup through Cilium's DNS proxy: events carry a query."""


@dataclass(frozen=True, slots=True)
class ConnectionSpec:
    """One allowed (or, with ``denied``, attempted and refused) connection."""

    client: str
    """A workload id (``namespace/name``) or an entity (``entity:host``, ``entity:world``)."""
    server: str
    """A workload id, an external (``external:<name>``) or ``entity:kube-apiserver``."""
    protocol: Protocol
    port: int
    pattern: Pattern
    port_name: str = ""
    rare: bool = False
    """May legitimately not happen in a learning window (weekly jobs, yearly renewals)."""
    denied: bool = False
    """Dropped by policy (``POLICY_DENIED``): must never become a rule."""
    scan_ports: tuple[int, ...] = ()
    """For denied probes: each occurrence tries every one of these ports in a quick burst."""
    dropped_at: Direction = Direction.INGRESS
    l7: L7 = L7.NONE
    requests: tuple[str, ...] = ()
    """HTTP request templates (``GET /api/v1/users/{id}``) or, for DNS, the names looked up."""
    via_service: bool = True
    """The client addresses the server's ClusterIP Service (not a pod IP)."""

    @property
    def key(self) -> str:
        ports = ",".join(map(str, self.scan_ports)) if self.scan_ports else str(self.port)
        return f"{self.client} -> {self.server} {ports}/{self.protocol}"


def poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


class AliveIndex:
    """Which pods of one workload are alive at any instant (bisect over change points)."""

    def __init__(self, pods: Sequence[Pod]) -> None:
        points = sorted({p.start_ns for p in pods} | {p.end_ns for p in pods})
        self._points = points
        self._alive: list[tuple[Pod, ...]] = [
            tuple(p for p in pods if p.start_ns <= point < p.end_ns) for point in points
        ]

    def at(self, time_ns: int) -> tuple[Pod, ...]:
        index = bisect.bisect_right(self._points, time_ns) - 1
        return self._alive[index] if index >= 0 else ()

    def overlapping(self, start_ns: int, end_ns: int) -> list[Pod]:
        seen: dict[int, Pod] = {}
        for alive in self._alive:
            for pod in alive:
                if pod.start_ns < end_ns and pod.end_ns > start_ns:
                    seen[id(pod)] = pod
        return sorted(seen.values(), key=lambda p: (p.start_ns, p.name))


Occurrence = tuple[int, Pod | None, Pod | None]
"""(time, client pod if fixed, server pod if fixed)."""


class TrafficGenerator:
    def __init__(
        self,
        cluster: Cluster,
        specs: Sequence[ConnectionSpec],
        *,
        seed: int,
        scale: float = 1.0,
        first_day_ns: int | None = None,
    ) -> None:
        """``first_day_ns``: when the first simulated day starts; internet clients change from
        day to day after it (without it, one set of clients throughout)."""
        self.cluster = cluster
        self.specs = tuple(specs)
        self.seed = seed
        self.scale = scale
        pods_by_workload: dict[str, list[Pod]] = {w.id: [] for w in cluster.workloads}
        for pod in cluster.pods:
            pods_by_workload[pod.workload.id].append(pod)
        self._alive = {wid: AliveIndex(pods) for wid, pods in pods_by_workload.items()}
        self._externals = {e.id: e for e in cluster.externals}
        self._service_ips = dict(cluster.service_ips)
        self._dns_specs = {
            s.client: s for s in self.specs if s.l7 is L7.DNS and s.protocol is Protocol.UDP
        }
        self._world_peers: dict[str, Peer] = {}
        self._pod_peers: dict[int, Peer] = {}
        self._apiserver = Peer(EndpointKind.KUBE_APISERVER, cluster.apiserver_ip)
        self._day_zero_ns = first_day_ns
        self._internet_clients: dict[int, tuple[str, ...]] = {}
        self._names = self._name_table()
        self._runs: dict[tuple[str, str], list[Pod]] = {}

    def _name_table(self) -> dict[str, tuple[str, ...]]:
        """What each DNS name resolves to: Services to their ClusterIP, externals to their IPs."""
        names: dict[str, tuple[str, ...]] = {}
        for key, ip in self._service_ips.items():
            namespace, service = key.split("/")
            names[f"{service}.{namespace}.{CLUSTER_DOMAIN}"] = (ip,)
        for external in self.cluster.externals:
            for name in external.dns_names:
                names[name] = external.ips
        return names

    # --- schedule ------------------------------------------------------------------------

    def expected_occurrences(self, spec: ConnectionSpec, window: Window, scale: float) -> float:
        """Roughly how many events ``spec`` makes in ``window`` at ``scale`` (for calibration)."""
        burst = max(len(spec.scan_ports), 1)
        pattern = spec.pattern
        if isinstance(pattern, Poisson):
            if pattern.per_hour <= 0:
                return 0.0
            return max(pattern.per_hour * window.hours * scale, 1.0) * burst
        if isinstance(pattern, Periodic):
            ticks = window.hours * 3600 / pattern.seconds * scale
            pods = 1
            if pattern.per_server_pod and spec.server in self._alive:
                middle = (window.start_ns + window.end_ns) // 2
                pods = max(len(self._alive[spec.server].at(middle)), 1)
            return max(ticks, 1.0) * pods * burst
        runs = self._alive[spec.client].overlapping(window.start_ns, window.end_ns)
        kept = min(len(runs), max(len(runs) * min(scale, 1.0), 1.0))
        return kept * pattern.events * burst

    def occurrences(
        self, spec: ConnectionSpec, window: Window, rng: random.Random
    ) -> list[Occurrence]:
        start, end = window.start_ns, window.end_ns
        pattern = spec.pattern
        found: list[Occurrence] = []
        if isinstance(pattern, Poisson):
            count = poisson(rng, pattern.per_hour * window.hours * self.scale)
            if count == 0 and not spec.rare:
                count = 1
            found = [(rng.randrange(start, end), None, None) for _ in range(count)]
        elif isinstance(pattern, Periodic):
            period = max(int(pattern.seconds * SECOND / self.scale), 1)
            ticks = list(range(start + rng.randrange(period), end, period))
            if not ticks and not spec.rare:
                ticks = [rng.randrange(start, end)]
            for tick in ticks:
                if pattern.per_server_pod and spec.server in self._alive:
                    for pod in self._alive[spec.server].at(tick):
                        found.append((tick + rng.randrange(SECOND), None, pod))
                else:
                    found.append((tick, None, None))
        else:
            for pod in self.job_runs(spec.client, window):
                lo, hi = max(pod.start_ns, start), min(pod.end_ns, end)
                found.extend((rng.randrange(lo, hi), pod, None) for _ in range(pattern.events))
        found.sort(key=lambda o: o[0])
        return [o for o in found if start <= o[0] < end]

    def job_runs(self, workload_id: str, window: Window) -> list[Pod]:
        """The runs of a CronJob that make traffic in ``window``.

        Below natural volume (``scale`` < 1) runs are sampled like everything else — but the
        first run in the window is always kept, and every connection of the job sees the same
        runs, as it would in a real (sparser) capture.
        """
        key = (workload_id, window.name)
        found = self._runs.get(key)
        if found is None:
            runs = self._alive[workload_id].overlapping(window.start_ns, window.end_ns)
            rng = random.Random(f"{self.seed}|{workload_id}|runs|{window.name}")
            keep = min(self.scale, 1.0)
            found = [pod for i, pod in enumerate(runs) if i == 0 or rng.random() < keep]
            self._runs[key] = found
        return found

    # --- events --------------------------------------------------------------------------

    def events(self, window: Window) -> Iterator[ConnectionEvent]:
        """Every event of ``window``, in time order."""
        streams = [self._spec_events(spec, window) for spec in self.specs]
        return heapq.merge(*streams, key=_event_time)

    def _spec_events(self, spec: ConnectionSpec, window: Window) -> Iterator[ConnectionEvent]:
        rng = random.Random(f"{self.seed}|{spec.key}|{window.name}")
        looked_up: set[int] = set()
        last = window.start_ns
        for time_ns, client_pod, server_pod in self.occurrences(spec, window, rng):
            time_ns = max(time_ns, last)
            server = self._server(spec, time_ns, server_pod, rng)
            if server is None:
                continue
            client = self._client(spec, time_ns, client_pod, server, rng)
            if client is None:
                continue
            own_node = client.pod is not None and client.pod.node is server.node
            if server.kind is EndpointKind.REMOTE_NODE and own_node:
                server = Peer(EndpointKind.HOST, server.ip, node=server.node)  # Cilium's view
            if server.kind is EndpointKind.WORLD and client.pod is not None:
                first = id(client.pod) not in looked_up
                if first or rng.random() < LOOKUP_PROBABILITY:
                    looked_up.add(id(client.pod))
                    lookup = self._lookup_before(spec, client, server, time_ns, last, rng)
                    if lookup is not None:
                        yield lookup
                        time_ns = max(time_ns, lookup.time_ns + 1)
            ports = spec.scan_ports or (spec.port,)
            for offset, port in enumerate(ports):
                last = time_ns + offset * 3_000_000
                yield self._event(spec, last, client, server, port, rng)

    def _event(
        self,
        spec: ConnectionSpec,
        time_ns: int,
        client: Peer,
        server: Peer,
        port: int,
        rng: random.Random,
    ) -> ConnectionEvent:
        service = ""
        if spec.via_service and server.pod is not None and server.pod.workload.service:
            service = f"{server.pod.namespace}/{server.pod.workload.service}"
        http = dns = None
        if spec.l7 is L7.HTTP and spec.requests:
            http = self._http(spec, server, port, rng)
        elif spec.l7 is L7.DNS and spec.requests and client.pod is not None:
            dns = self._dns(rng.choice(spec.requests), client.pod, rng)
        return ConnectionEvent(
            time_ns=time_ns,
            client=client,
            server=server,
            protocol=spec.protocol,
            port=port,
            client_port=rng.randrange(32768, 61000),
            verdict=Verdict.DROPPED if spec.denied else Verdict.FORWARDED,
            connection=spec.key,
            drop_reason="POLICY_DENIED" if spec.denied else "",
            dropped_at=spec.dropped_at,
            service=service,
            dns=dns,
            http=http,
        )

    def _server(
        self, spec: ConnectionSpec, time_ns: int, fixed: Pod | None, rng: random.Random
    ) -> Peer | None:
        if fixed is not None:
            return self._pod_peer(fixed)
        if spec.server == ENTITY_KUBE_APISERVER:
            return self._apiserver
        if spec.server == ENTITY_NODES:
            node = rng.choice(self.cluster.nodes_at(time_ns))
            return Peer(EndpointKind.REMOTE_NODE, node.ip, node=node)
        external = self._externals.get(spec.server)
        if external is not None:
            return self._world_peer(rng.choice(external.ips_at(time_ns)), external)
        alive = self._alive[spec.server].at(time_ns)
        return self._pod_peer(rng.choice(alive)) if alive else None

    def _client(
        self,
        spec: ConnectionSpec,
        time_ns: int,
        fixed: Pod | None,
        server: Peer,
        rng: random.Random,
    ) -> Peer | None:
        if fixed is not None:
            return self._pod_peer(fixed)
        if spec.client == ENTITY_HOST:
            if server.pod is None:
                return None
            node = server.pod.node
            return Peer(EndpointKind.HOST, node.host_ip, node=node)
        if spec.client == ENTITY_WORLD:
            return self._world_peer(rng.choice(self._clients_of_day(time_ns)), None)
        alive = self._alive[spec.client].at(time_ns)
        if server.pod is not None and server.pod in alive and len(alive) > 1:
            alive = tuple(p for p in alive if p is not server.pod)  # replicas talk to each other
        return self._pod_peer(rng.choice(alive)) if alive else None

    def _clients_of_day(self, time_ns: int) -> tuple[str, ...]:
        """The internet clients of the day ``time_ns`` falls in: 200 addresses, of which from
        the second day on half are returning visitors and half never seen before (a public
        site's users are mostly not yesterday's)."""
        zero = self._day_zero_ns
        day = 0 if zero is None else max(0, (time_ns - zero) // DAY)
        clients = self._internet_clients.get(day)
        if clients is None:
            fresh = random.Random(f"{self.seed}|internet-clients" + (f"|day-{day}" if day else ""))
            clients = tuple(_public_ip(fresh) for _ in range(200))
            if day:
                clients = self._clients_of_day(zero or 0)[:100] + clients[:100]
            self._internet_clients[day] = clients
        return clients

    def _pod_peer(self, pod: Pod) -> Peer:
        peer = self._pod_peers.get(id(pod))
        if peer is None:
            peer = Peer(EndpointKind.POD, pod.ip, pod=pod)
            self._pod_peers[id(pod)] = peer
        return peer

    def _world_peer(self, ip: str, external: External | None) -> Peer:
        peer = self._world_peers.get(ip)
        if peer is None:
            names = external.names_of(ip) if external is not None else ()
            peer = Peer(EndpointKind.WORLD, ip, dns_names=names)
            self._world_peers[ip] = peer
        return peer

    def _lookup_before(
        self,
        spec: ConnectionSpec,
        client: Peer,
        server: Peer,
        time_ns: int,
        not_before: int,
        rng: random.Random,
    ) -> ConnectionEvent | None:
        """The DNS lookup a pod makes before connecting to an outside name."""
        dns_spec = self._dns_specs.get(spec.client)
        if dns_spec is None or not server.dns_names or client.pod is None:
            return None
        resolver = self._server(dns_spec, time_ns, None, rng)
        if resolver is None:
            return None
        name = server.dns_names[0]
        answers = (server.ip, *[ip for ip in self._names.get(name, ()) if ip != server.ip][:1])
        return ConnectionEvent(
            time_ns=max(time_ns - rng.randrange(1_000_000, 20_000_000), not_before),
            client=client,
            server=resolver,
            protocol=Protocol.UDP,
            port=53,
            client_port=rng.randrange(32768, 61000),
            verdict=Verdict.FORWARDED,
            connection=dns_spec.key,
            service=f"{resolver.pod.namespace}/{resolver.pod.workload.service}"
            if resolver.pod is not None and resolver.pod.workload.service
            else "",
            dns=DnsExchange(name, answers, ttl=rng.choice((30, 60, 300))),
        )

    def _dns(self, name: str, client: Pod, rng: random.Random) -> DnsExchange:
        if name.endswith(CLUSTER_DOMAIN) or rng.random() < 0.7:
            return DnsExchange(name, self._names.get(name, ()), ttl=rng.choice((5, 30)))
        # ndots:5 — an outside name is first tried with the pod's search domains.
        miss = f"{name}.{client.namespace}.{CLUSTER_DOMAIN}"
        return DnsExchange(miss, (), rcode=3, ttl=30)

    def _http(
        self, spec: ConnectionSpec, server: Peer, port: int, rng: random.Random
    ) -> HttpExchange:
        template = rng.choice(spec.requests)
        method, _, path = template.partition(" ")
        while "{id}" in path:
            path = path.replace("{id}", str(rng.randrange(1, 100_000)), 1)
        host = server.ip
        if server.pod is not None and server.pod.workload.service:
            host = f"{server.pod.workload.service}.{server.pod.namespace}.{CLUSTER_DOMAIN}"
        roll = rng.random()
        status = 201 if method == "POST" else 200
        if roll < 0.03:
            status = 404
        elif roll < 0.04:
            status = 503
        return HttpExchange(
            method=method,
            path=path,
            host=f"{host}:{port}",
            status=status,
            latency_ns=rng.randrange(1_000_000, 80_000_000),
        )


def _event_time(event: ConnectionEvent) -> int:
    return event.time_ns


def _public_ip(rng: random.Random) -> str:
    """A random address outside private, shared, loopback, multicast and reserved ranges."""
    while True:
        first = rng.randrange(1, 224)
        if first in (10, 100, 127, 169, 172, 192, 198, 203):
            continue
        return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
