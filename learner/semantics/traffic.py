"""Traffic: the plain values the semantics engine is asked about.

A :class:`Traffic` is one connection attempt in its initiating direction: a source and a
destination :class:`TrafficPeer`, a protocol and a destination port (plus the port's name on
the destination pod, when the inventory knows it). Peers precompute what matchers read on every
question (label dicts, the address as an integer), so build each peer once and reuse it:
:class:`TrafficBuilder` does that for edges.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from learner.model.edges import EdgeKey, EdgeStats
from learner.model.flow import EndpointKind, HTTPRequest, Labels
from learner.model.identity import Identity, IdentityResolver
from learner.model.inventory import Inventory, Workload
from learner.model.policy import NAMESPACE_NAME_LABEL

_POD: str = EndpointKind.POD.value


@dataclass(frozen=True, slots=True)
class TrafficPeer:
    """One end of a connection, as policy sees it."""

    kind: str
    """An :class:`~learner.model.EndpointKind` value."""
    namespace: str = ""
    """The pod's namespace; empty for non-pod peers."""
    labels: Labels = ()
    """Pod labels."""
    namespace_labels: Labels = ()
    """Labels of the pod's namespace. ``kubernetes.io/metadata.name`` is always added, as the
    control plane sets it on every namespace."""
    ip: str = ""
    names: tuple[str, ...] = ()
    """DNS names observed for ``ip`` (lowercase, no trailing dot), for FQDN rules."""

    # Derived once here so that matchers, which run millions of times, only read.
    label_map: Mapping[str, str] = field(init=False, repr=False, compare=False, hash=False)
    namespace_label_map: Mapping[str, str] = field(
        init=False, repr=False, compare=False, hash=False
    )
    is_pod: bool = field(init=False, repr=False, compare=False, hash=False)
    ip_version: int = field(init=False, repr=False, compare=False, hash=False)
    """4 or 6; 0 when ``ip`` is empty or not an address (e.g. Calico's ``pub``)."""
    ip_value: int = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "is_pod", self.kind == _POD)
        object.__setattr__(self, "label_map", dict(self.labels))
        namespace_labels = dict(self.namespace_labels)
        if self.namespace and NAMESPACE_NAME_LABEL not in namespace_labels:
            namespace_labels[NAMESPACE_NAME_LABEL] = self.namespace
        object.__setattr__(self, "namespace_label_map", namespace_labels)
        version, value = 0, 0
        if self.ip:
            try:
                address = ipaddress.ip_address(self.ip)
            except ValueError:
                # A block the peer cap folded stands for its addresses: judged at its first one
                # (the self-check also judges its last).
                try:
                    address = ipaddress.ip_network(self.ip).network_address
                except ValueError:
                    address = None
            if address is not None:
                version, value = address.version, int(address)
        object.__setattr__(self, "ip_version", version)
        object.__setattr__(self, "ip_value", value)

    @property
    def key(self) -> str:
        if self.is_pod:
            labels = ",".join(f"{k}={v}" for k, v in self.labels)
            return f"{self.namespace}/{labels or '<no labels>'}"
        if self.ip:
            return f"{self.kind}:{self.ip}"
        return str(self.kind)

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True, slots=True)
class Traffic:
    """One connection attempt, in the direction it was initiated (replies are implicit)."""

    source: TrafficPeer
    destination: TrafficPeer
    protocol: str
    """A :class:`~learner.model.Protocol` value."""
    port: int
    """Destination port; 0 when the protocol has none."""
    port_name: str = ""
    """Name of ``port`` among the destination pod's container ports, when known."""
    http: HTTPRequest | None = None
    """The HTTP request, when asking about L7; None asks about the connection only."""

    @property
    def key(self) -> str:
        port = f"{self.port}/{self.protocol}" if self.port else self.protocol
        return f"{self.source.key} -> {self.destination.key} {port}"

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True, slots=True)
class _Known:
    """What a builder worked out once for one identity."""

    peer: TrafficPeer
    port_names: Mapping[tuple[str, int], str]
    """(protocol, port) → container port name, for the ports that have one."""


_ID_CACHE_LIMIT = 500_000


class TrafficBuilder:
    """Turns edges into :class:`Traffic`, enriched from one inventory.

    Pod identities get their namespace's labels; a pod identity known only by address gets the
    labels of the inventory workload with that IP; the destination port gets its container port
    name. Peers are built once per identity and reused.
    """

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self._resolver = IdentityResolver()
        self._namespace_labels = {ns.name: ns.labels for ns in inventory.namespaces}
        self._workloads_by_namespace: dict[str, list[Workload]] = {}
        self._workloads_by_ip: dict[str, Workload] = {}
        for workload in inventory.workloads:
            self._workloads_by_namespace.setdefault(workload.namespace, []).append(workload)
            for ip in workload.ips:
                known = self._workloads_by_ip.get(ip)
                # Flow-made inventory entries may know an address without labels: a workload
                # that has labels for the same address (from manifests or the cluster) wins.
                if known is None or (workload.labels and not known.labels):
                    self._workloads_by_ip[ip] = workload
        self._peers: dict[tuple[Identity, tuple[str, ...]], TrafficPeer] = {}
        self._known: dict[Identity, _Known] = {}
        self._known_by_id: dict[int, tuple[Identity, _Known]] = {}
        self._workload_of: dict[Identity, Workload | None] = {}

    def for_edge(self, edge: EdgeKey, stats: EdgeStats | None = None) -> Traffic:
        source = self._lookup(edge.source).peer
        target = self._lookup(edge.destination)
        destination = target.peer
        if stats is not None and stats.dns_names and not destination.is_pod:
            destination = self.peer(edge.destination, tuple(sorted(stats.dns_names)))
        port_names = target.port_names
        port_name = port_names.get((edge.protocol, edge.port), "") if port_names else ""
        return Traffic(source, destination, edge.protocol, edge.port, port_name)

    def _lookup(self, identity: Identity) -> _Known:
        # Edges of one store share identity objects, so their id is the cheapest key; the
        # stored identity guards against a recycled id.
        cached = self._known_by_id.get(id(identity))
        if cached is not None and cached[0] is identity:
            return cached[1]
        known = self._known.get(identity)
        if known is None:
            workload = self.workload(identity) if identity.kind == _POD else None
            port_names = (
                {(p.protocol, p.port): p.name for p in workload.ports if p.name}
                if workload is not None
                else {}
            )
            known = _Known(self.peer(identity), port_names)
            self._known[identity] = known
        if len(self._known_by_id) >= _ID_CACHE_LIMIT:
            self._known_by_id.clear()
        self._known_by_id[id(identity)] = (identity, known)
        return known

    def peer(self, identity: Identity, names: tuple[str, ...] = ()) -> TrafficPeer:
        """The peer for ``identity``; ``names`` (DNS names of its address) only count for
        non-pod peers."""
        if identity.kind == _POD:
            names = ()
        cache_key = (identity, names)
        found = self._peers.get(cache_key)
        if found is None:
            found = self._make_peer(identity, names)
            self._peers[cache_key] = found
        return found

    def _make_peer(self, identity: Identity, names: tuple[str, ...]) -> TrafficPeer:
        if identity.kind != _POD:
            return TrafficPeer(kind=identity.kind, ip=identity.address, names=names)
        labels = identity.labels
        namespace = identity.namespace
        if not labels:
            known = self.workload(identity)
            if known is not None:
                labels, namespace = known.labels, namespace or known.namespace
        return TrafficPeer(
            kind=identity.kind,
            namespace=namespace,
            labels=labels,
            namespace_labels=self._namespace_labels.get(namespace)
            or ((NAMESPACE_NAME_LABEL, namespace),),
            ip=identity.address,
        )

    def port_name(self, identity: Identity, protocol: str, port: int) -> str:
        """The container port name of ``port`` on the workload behind ``identity``, or ``""``."""
        return self._lookup(identity).port_names.get((protocol, port), "")

    def workload(self, identity: Identity) -> Workload | None:
        """The inventory workload an identity stands for.

        By address when the identity has no labels; otherwise the workload of the same
        namespace with the same labels once volatile ones are dropped, or failing that the
        only workload whose labels include the identity's.
        """
        if identity in self._workload_of:
            return self._workload_of[identity]
        found: Workload | None = None
        if not identity.labels:
            found = self._workloads_by_ip.get(identity.address) if identity.address else None
        else:
            candidates = self._workloads_by_namespace.get(identity.namespace, [])
            same = [
                w for w in candidates if self._resolver.stable_labels(w.labels) == identity.labels
            ]
            # An inventory completed from flows holds the workload twice, as the flows show it
            # and as its manifest declares it: the manifest's has the container ports.
            found = next((w for w in same if w.ports), same[0] if same else None)
            if found is None:
                wanted = set(identity.labels)
                covering = [w for w in candidates if wanted <= set(w.labels)]
                if len(covering) == 1:
                    found = covering[0]
        self._workload_of[identity] = found
        return found


_BUILDERS: list[tuple[Inventory, TrafficBuilder]] = []
_BUILDER_CACHE_SIZE = 4


def traffic_for_edge(edge: EdgeKey, inventory: Inventory, stats: EdgeStats | None) -> Traffic:
    """The traffic an observed edge stands for, enriched from ``inventory``.

    Reuses one :class:`TrafficBuilder` per inventory object (the few most recent), so calling
    this for every edge of a store does not re-index the inventory each time.
    """
    for known, builder in _BUILDERS:
        if known is inventory:
            return builder.for_edge(edge, stats)
    builder = TrafficBuilder(inventory)
    _BUILDERS.insert(0, (inventory, builder))
    del _BUILDERS[_BUILDER_CACHE_SIZE:]
    return builder.for_edge(edge, stats)
