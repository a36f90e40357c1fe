"""Ground truth: what a scenario allows, what exists, and when — as data and as JSON.

The JSON (``ground-truth.json``, format ``netpol-learner/ground-truth/v1``) has:

``windows``
    ``learning`` and ``held_out``: ``start``/``end`` (RFC 3339) and the flow ``files`` of each.
``namespaces``
    ``name`` and ``labels``.
``workloads``
    ``id`` (``namespace/name``), ``namespace``, ``name``, ``kind``, template ``labels``,
    ``selector``, ``service_account``, ``service`` and container ``ports``.
``externals``
    ``id`` (``external:<name>``), ``dns_names``, ``ips`` and the ``cidrs`` they come from.
``entities``
    ``entity:host`` (the pod's node: kubelet probes), ``entity:kube-apiserver``,
    ``entity:world`` (internet clients that are not a named external) and, in scenarios that
    reach them, ``entity:nodes`` (every node at its own address, those added later included).
``allowed``
    One entry per allowed connection: ``client`` and ``server`` (ids from the lists above),
    ``protocol``, ``port``, ``port_name``, ``pattern`` (``poisson``/``periodic``/``per-job-run``),
    ``rare`` (may legitimately be absent from the learning window), ``l7`` and ``events``
    (how many connection events each window holds).
``denied``
    Connections that were attempted and dropped by policy: like ``allowed`` entries, but with
    ``ports`` (every port a scan tries) instead of ``port``/``port_name``.

Every (client, server, protocol, port) over ``workloads``, ``externals`` and ``entities`` that
is not in ``allowed`` is forbidden; replies of allowed connections are implicitly allowed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from learner.model.flow import labels_dict
from learner.simulate.cluster import ENTITIES, ENTITY_NODES, Cluster
from learner.simulate.connection_events import ConnectionEvent
from learner.simulate.traffic_generator import ConnectionSpec, Periodic, PerJobRun, Window

FORMAT = "netpol-learner/ground-truth/v1"


@dataclass(frozen=True, slots=True, order=True)
class AllowedKey:
    client: str
    server: str
    protocol: str
    port: int


@dataclass(frozen=True, slots=True)
class GroundTruth:
    scenario: str
    seed: int
    cluster: Cluster
    connections: tuple[ConnectionSpec, ...]
    windows: tuple[Window, ...]
    events: tuple[tuple[str, str, int], ...]
    """``(connection key, window name, event count)`` for every pair with events."""
    allowed: frozenset[AllowedKey]
    """Every allowed (client, server, protocol, port); see :func:`allowed_keys`."""

    def allows(self, client: str, server: str, protocol: str, port: int) -> bool:
        return AllowedKey(client, server, protocol, port) in self.allowed

    @property
    def peers(self) -> tuple[str, ...]:
        """Every workload, external and entity id: the universe of forbidden pairs."""
        workloads = tuple(w.id for w in self.cluster.workloads)
        return workloads + tuple(e.id for e in self.cluster.externals) + self.entities

    @property
    def entities(self) -> tuple[str, ...]:
        """The entities of every scenario, and the cluster's nodes where a scenario reaches
        them."""
        return entities_of(self.connections)

    def count(self, spec: ConnectionSpec, window: str) -> int:
        for key, name, count in self.events:
            if key == spec.key and name == window:
                return count
        return 0

    def to_json(self, files: dict[str, list[str]] | None = None) -> dict[str, Any]:
        files = files or {}
        return {
            "format": FORMAT,
            "scenario": self.scenario,
            "seed": self.seed,
            "windows": {
                w.name.replace("-", "_"): {
                    "start": _rfc3339(w.start_ns),
                    "end": _rfc3339(w.end_ns),
                    "files": files.get(w.name, []),
                }
                for w in self.windows
            },
            "namespaces": [
                {"name": ns.name, "labels": labels_dict(ns.labels)}
                for ns in self.cluster.namespaces
            ],
            "workloads": [
                {
                    "id": w.id,
                    "namespace": w.namespace,
                    "name": w.name,
                    "kind": w.kind.value,
                    "labels": labels_dict(w.labels),
                    "selector": labels_dict(w.selector),
                    "service_account": w.service_account,
                    "service": w.service,
                    "ports": [
                        {"name": p.name, "port": p.port, "protocol": p.protocol} for p in w.ports
                    ],
                }
                for w in self.cluster.workloads
            ],
            "externals": [
                {
                    "id": e.id,
                    "dns_names": list(e.dns_names),
                    "ips": list(e.ips),
                    "cidrs": list(e.cidrs),
                }
                for e in self.cluster.externals
            ],  # fmt: skip
            "entities": list(self.entities),
            "allowed": [self._connection(c) for c in self.connections if not c.denied],
            "denied": [self._connection(c) for c in self.connections if c.denied],
        }

    def _connection(self, spec: ConnectionSpec) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "client": spec.client,
            "server": spec.server,
            "protocol": str(spec.protocol),
        }
        if spec.denied:
            entry["ports"] = list(spec.scan_ports or (spec.port,))
        else:
            entry["port"] = spec.port
            entry["port_name"] = spec.port_name
        entry["pattern"] = _pattern_name(spec)
        entry["rare"] = spec.rare
        entry["l7"] = str(spec.l7)
        entry["events"] = {w.name.replace("-", "_"): self.count(spec, w.name) for w in self.windows}
        return entry


def entities_of(connections: Iterable[ConnectionSpec]) -> tuple[str, ...]:
    """The entities of every scenario, and the cluster's nodes where ``connections`` reach
    them."""
    used = any(ENTITY_NODES in (c.client, c.server) for c in connections)
    return ENTITIES + ((ENTITY_NODES,) if used else ())


def allowed_keys(connections: Iterable[ConnectionSpec]) -> frozenset[AllowedKey]:
    return frozenset(
        AllowedKey(c.client, c.server, str(c.protocol), c.port) for c in connections if not c.denied
    )


def _pattern_name(spec: ConnectionSpec) -> str:
    if isinstance(spec.pattern, Periodic):
        return "periodic"
    if isinstance(spec.pattern, PerJobRun):
        return "per-job-run"
    return "poisson"


def _rfc3339(time_ns: int) -> str:
    moment = datetime.fromtimestamp(time_ns // 1_000_000_000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def count_events(
    windows: Iterable[tuple[Window, Iterable[ConnectionEvent]]],
) -> tuple[tuple[str, str, int], ...]:
    """Tally events per (connection, window)."""
    tally: Counter[tuple[str, str]] = Counter()
    for window, events in windows:
        for event in events:
            tally[(event.connection, window.name)] += 1
    return tuple(sorted((key, name, n) for (key, name), n in tally.items()))
