"""Aggregation: flows in, edges out.

An edge is (source identity, destination identity, protocol, port) with how often, when and
through which pods it was seen. The :class:`EdgeStore` is the only thing the learner reads, and
what batch files, live streams and the SQLite state all produce. Memory grows with distinct
edges and workloads, never with the number of flows.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from learner.model.external import PeerCap, is_folded
from learner.model.flow import Direction, Endpoint, Flow, Labels, Protocol
from learner.model.identity import Identity, IdentityResolver, workload_name_from_pod

SAMPLE_LIMIT = 3
"""Example pods, names and requests kept per edge."""
HTTP_SAMPLE_LIMIT = 200
DNS_ANSWER_NAMES_LIMIT = 20_000
"""Names whose DNS answers are kept (a bound on memory; answers of further names are ignored)."""
DNS_ANSWERS_PER_NAME_LIMIT = 64
"""Addresses kept per name: a small provider's whole set, a sample of a huge pool's."""


@dataclass(frozen=True, slots=True, order=True)
class EdgeKey:
    source: Identity
    destination: Identity
    protocol: str
    """A :class:`~learner.model.Protocol` value."""
    port: int

    @property
    def key(self) -> str:
        return edge_key_text(self.source.key, self.destination.key, self.port, self.protocol)

    def __str__(self) -> str:
        return self.key


def edge_key_text(source: str, destination: str, port: int, protocol: str) -> str:
    return f"{source} -> {destination} {port}/{protocol}"


def edge_keys(edges: Iterable[EdgeKey]) -> list[str]:
    """``[e.key for e in edges]``, each identity's text built once (a rule over many ports
    has one edge per port between the same two ends)."""
    texts: dict[Identity, str] = {}

    def text(identity: Identity) -> str:
        found = texts.get(identity)
        if found is None:
            found = texts[identity] = identity.key
        return found

    return [edge_key_text(text(e.source), text(e.destination), e.port, e.protocol) for e in edges]


@dataclass(slots=True)
class EdgeStats:
    """What is known about one edge. Mutable accumulator owned by an :class:`EdgeStore`."""

    first_seen: float
    last_seen: float
    egress_count: int = 0
    """Flows observed at the source (Hubble EGRESS, Calico reporter=src)."""
    ingress_count: int = 0
    """Flows observed at the destination."""
    other_count: int = 0
    """Flows whose observation point is unknown."""
    source_pods: list[str] = field(default_factory=list)
    destination_pods: list[str] = field(default_factory=list)
    dns_names: set[str] = field(default_factory=set)
    http: set[tuple[str, str]] = field(default_factory=set)
    """(method, path) pairs seen on this edge (L7 HTTP flows)."""
    dns_queries: set[str] = field(default_factory=set)
    """Names looked up over this edge (L7 DNS flows to a resolver)."""
    folded: int = 0
    """For an edge the peer cap folded: its group held more distinct outside addresses than
    this (the cap then in force); 0 for an edge that is not folded (:mod:`learner.model.external`)."""

    @property
    def count(self) -> int:
        """Connections, counting a connection seen at both of its ends once."""
        return max(self.egress_count, self.ingress_count) + self.other_count

    def merge(self, other: EdgeStats) -> None:
        self.first_seen = min(self.first_seen, other.first_seen)
        self.last_seen = max(self.last_seen, other.last_seen)
        self.egress_count += other.egress_count
        self.ingress_count += other.ingress_count
        self.other_count += other.other_count
        _add_samples(self.source_pods, other.source_pods)
        _add_samples(self.destination_pods, other.destination_pods)
        self.dns_names |= other.dns_names
        if len(self.http) < HTTP_SAMPLE_LIMIT:
            self.http |= other.http
        self.dns_queries |= other.dns_queries
        self.folded = max(self.folded, other.folded)


def _count(stats: EdgeStats, direction: Direction, count: int) -> None:
    if direction == Direction.EGRESS:
        stats.egress_count += count
    elif direction == Direction.INGRESS:
        stats.ingress_count += count
    else:
        stats.other_count += count


def _add_samples(samples: list[str], new: Iterable[str]) -> None:
    for item in new:
        if len(samples) >= SAMPLE_LIMIT:
            return
        if item and item not in samples:
            samples.append(item)


POD_SAMPLE_LIMIT = 50
"""Pods sampled per workload (names, kinds)."""


@dataclass(slots=True)
class WorkloadInfo:
    """What the flows told us about one pod identity."""

    names: Counter[str] = field(default_factory=Counter)
    """Workload names seen (from the CNI's workload field or derived from pod names)."""
    kinds: Counter[str] = field(default_factory=Counter)
    pods: set[str] = field(default_factory=set)
    ips: set[str] = field(default_factory=set)
    service_accounts: set[str] = field(default_factory=set)
    full_labels: Labels = ()
    """Labels as last observed, volatile ones included."""
    pod_names: dict[str, tuple[str, str]] = field(default_factory=dict)
    """(workload name, kind) each sampled pod stood for: lets merges count every pod once."""

    def add_pod(self, pod: str, name: str, kind: str) -> None:
        """Count a pod's workload name and kind once, for the first POD_SAMPLE_LIMIT pods."""
        if pod in self.pods or len(self.pods) >= POD_SAMPLE_LIMIT:
            return
        self.pods.add(pod)
        self.pod_names[pod] = (name, kind)
        self.names[name] += 1
        if kind:
            self.kinds[kind] += 1

    @property
    def name(self) -> str:
        if not self.names:
            return ""
        best = max(self.names.values())
        return min(name for name, n in self.names.items() if n == best)

    @property
    def kind(self) -> str:
        return self.kinds.most_common(1)[0][0] if self.kinds else ""


SEEN_LIMIT = 1 << 16


def flows_in(edges: Iterable[EdgeStats]) -> int:
    """The flows behind ``edges``, by the one counting rule every command uses
    (docs/records-and-identities.md): each record counts as the flows its source says it
    stands for (:attr:`Flow.count`), and a connection seen at both ends counts once."""
    return sum(stats.count for stats in edges)


class EdgeStore:
    """Edges, workloads and namespaces learned so far (in memory)."""

    def __init__(
        self, resolver: IdentityResolver | None = None, peer_cap: PeerCap | None = None
    ) -> None:
        self.resolver = resolver or IdentityResolver()
        self.peer_cap = peer_cap
        """Bounds the distinct outside addresses per edge group (None: unbounded)."""
        self.denied_cap = peer_cap.copy() if peer_cap is not None else None
        """The same bound on :attr:`denied`, whose groups fold on their own."""
        self.edges: dict[EdgeKey, EdgeStats] = {}
        self.workloads: dict[Identity, WorkloadInfo] = {}
        self.namespace_labels: dict[str, Labels] = {}
        self.denied: dict[EdgeKey, int] = {}
        """Dropped flows per edge (not evidence for rules; see :meth:`contested`)."""
        self.dns_answers: dict[str, set[str]] = {}
        """Name → every address DNS responses gave for it (see :meth:`note_answers`)."""
        # Collectors reuse one Endpoint object for a recurring endpoint, so everything this
        # store learns from an endpoint is known once it has seen that object: keyed by id(),
        # holding the object so the id cannot be reused while the entry lives.
        self._seen: dict[int, tuple[Endpoint, Identity]] = {}
        # The same pair of endpoint objects recurs on most lines: their edge key is kept, by
        # the pair's ids and the port, so that a flow costs no EdgeKey to build. Lives and
        # dies with ``_seen`` (a hit means both ends were observed already).
        self._keys: dict[tuple[int, int, Protocol, int], tuple[Endpoint, Endpoint, EdgeKey]] = {}

    def __len__(self) -> int:
        return len(self.edges)

    def key_of(self, flow: Flow) -> EdgeKey:
        """The edge of ``flow``'s two ends, protocol and port, before the peer cap places it."""
        source, destination = flow.source, flow.destination
        pair = (id(source), id(destination), flow.protocol, flow.port)
        known = self._keys.get(pair)
        if known is not None and known[0] is source and known[1] is destination:
            return known[2]
        key = EdgeKey(
            self._observe_endpoint(source),
            self._observe_endpoint(destination),
            str(flow.protocol),
            flow.port,
        )
        if len(self._keys) >= SEEN_LIMIT:
            self._keys.clear()
        self._keys[pair] = (source, destination, key)
        return key

    def add(self, flow: Flow) -> EdgeKey:
        """Take in ``flow``; the edge it went to (the peer cap may fold it into another)."""
        key, stats = self._stats_at(self.key_of(flow), flow.time, flow.time)
        _count(stats, flow.direction, flow.count)
        if len(stats.source_pods) < SAMPLE_LIMIT:
            _add_samples(stats.source_pods, (flow.source.pod,))
        if len(stats.destination_pods) < SAMPLE_LIMIT:
            _add_samples(stats.destination_pods, (flow.destination.pod,))
        if flow.dns_names:
            stats.dns_names.update(flow.dns_names)
        if flow.http is not None and len(stats.http) < HTTP_SAMPLE_LIMIT:
            stats.http.add((flow.http.method, flow.http.path))
        if flow.dns_query:
            stats.dns_queries.add(flow.dns_query)
        return key

    def add_repeats(
        self, key: EdgeKey, direction: Direction, count: int, first: float, last: float
    ) -> EdgeKey:
        """What ``count`` more flows like one added with :meth:`key_of` ``key`` add: counts
        and the time span (their pods, names and requests are that flow's, already sampled).
        They go where a new flow of ``key`` would, which is where the first one's edge is by
        now when the peer cap has folded it since; returns that edge."""
        placed, stats = self._stats_at(key, first, last)
        _count(stats, direction, count)
        return placed

    def _stats_at(self, key: EdgeKey, first: float, last: float) -> tuple[EdgeKey, EdgeStats]:
        """The edge that flows of ``key`` from ``first`` to ``last`` go to, and its stats with
        that span taken in."""
        stats = self.edges.get(key)
        if stats is None and self.peer_cap is not None:
            placed = self.peer_cap.place(key, self.edges)
            # Looked up even when placed is key: an address already written folded (a prefix,
            # a class) can be the very edge the group was just folded into.
            stats = self.edges.get(placed)
            if stats is None and placed != key:
                folded = self.peer_cap.limit
                stats = self.edges[placed] = EdgeStats(first, last, folded=folded)
            key = placed
        if stats is None:
            stats = self.edges[key] = EdgeStats(first_seen=first, last_seen=last)
            return key, stats
        if first < stats.first_seen:
            stats.first_seen = first
        if last > stats.last_seen:
            stats.last_seen = last
        return key, stats

    def _observe_endpoint(self, endpoint: Endpoint) -> Identity:
        seen = self._seen.get(id(endpoint))
        if seen is not None and seen[0] is endpoint:
            return seen[1]
        identity = self._learn_endpoint(endpoint)
        if len(self._seen) >= SEEN_LIMIT:
            self._seen.clear()
            self._keys.clear()
        self._seen[id(endpoint)] = (endpoint, identity)
        return identity

    def _learn_endpoint(self, endpoint: Endpoint) -> Identity:
        identity = self.resolver.resolve(endpoint)
        if not identity.is_pod:
            return identity
        info = self.workloads.get(identity)
        if info is None:
            info = WorkloadInfo()
            self.workloads[identity] = info
        if endpoint.pod and endpoint.pod not in info.pods:
            name = endpoint.workload_name or workload_name_from_pod(endpoint.pod)
            info.add_pod(endpoint.pod, name, endpoint.workload_kind)
            info.full_labels = endpoint.labels
        elif endpoint.workload_name and not info.names:
            info.names[endpoint.workload_name] += 1
        if endpoint.ip and len(info.ips) < POD_SAMPLE_LIMIT:
            info.ips.add(endpoint.ip)
        if endpoint.service_account:
            info.service_accounts.add(endpoint.service_account)
        if endpoint.namespace_labels and endpoint.namespace not in self.namespace_labels:
            self.namespace_labels[endpoint.namespace] = endpoint.namespace_labels
        return identity

    def merge(self, other: EdgeStore) -> None:
        """Fold another store (e.g. from a parallel worker) into this one."""
        for key, stats in other.edges.items():
            mine = self.edges.get(key)
            if mine is None:
                mine = self.edges[key] = EdgeStats(stats.first_seen, stats.last_seen)
            mine.merge(stats)
        for identity, info in other.workloads.items():
            target = self.workloads.setdefault(identity, WorkloadInfo())
            if info.pod_names:
                for pod, (name, kind) in sorted(info.pod_names.items()):
                    target.add_pod(pod, name, kind)
            else:  # restored from a state without per-pod names
                target.names.update(info.names)
                target.kinds.update(info.kinds)
                target.pods |= info.pods
            target.ips |= info.ips
            target.service_accounts |= info.service_accounts
            target.full_labels = target.full_labels or info.full_labels
        for namespace, labels in other.namespace_labels.items():
            self.namespace_labels.setdefault(namespace, labels)
        for key, count in other.denied.items():
            self.denied[key] = self.denied.get(key, 0) + count
        for name, addresses in other.dns_answers.items():
            self.add_answers(name, addresses)
        self.enforce_peer_cap()

    def enforce_peer_cap(self) -> None:
        """Fold every edge group over the cap (after edges were added other than by :meth:`add`)."""
        if self.peer_cap is not None:
            self.peer_cap.enforce(self.edges)
        if self.denied_cap is not None:
            self.denied_cap.enforce(self.denied)

    def copy(self) -> EdgeStore:
        """An independent copy (e.g. to build a proposal while this store keeps learning)."""
        other = EdgeStore(self.resolver, self.peer_cap.copy() if self.peer_cap else None)
        other.merge(self)
        return other

    def forget_endpoints(self) -> None:
        """Drop the per-endpoint caches (before sending the store to another process)."""
        self._seen.clear()
        self._keys.clear()
        self.resolver.clear_cache()

    def note_denied(self, flow: Flow) -> EdgeKey:
        """Remember that a flow of this edge was dropped (by policy at either end); returns
        the key it is counted under (folded when its group went over the peer cap)."""
        key = EdgeKey(
            self.resolver.resolve(flow.source),
            self.resolver.resolve(flow.destination),
            str(flow.protocol),
            flow.port,
        )
        if self.denied_cap is not None and key not in self.denied:
            key = self.denied_cap.place(key, self.denied)
        self.denied[key] = self.denied.get(key, 0) + flow.count
        return key

    def folded_denied(self) -> list[EdgeKey]:
        """Dropped edges whose outside end the peer cap folded into a prefix or class."""
        return sorted(
            key
            for key in self.denied
            if is_folded(key.source.address) or is_folded(key.destination.address)
        )

    def note_answers(self, flow: Flow) -> None:
        """Remember what a DNS response said ``flow.dns_query`` resolves to: the addresses a
        client of that name may connect to next, seen connected to or not."""
        if flow.dns_query:
            self.add_answers(flow.dns_query, flow.dns_answers)

    def add_answers(self, name: str, addresses: Iterable[str]) -> None:
        known = self.dns_answers.get(name)
        if known is None:
            if len(self.dns_answers) >= DNS_ANSWER_NAMES_LIMIT:
                return
            known = self.dns_answers[name] = set()
        known.update(addresses)
        if len(known) > DNS_ANSWERS_PER_NAME_LIMIT:
            # The lowest addresses, not the first to arrive: workers and Spark partitions
            # merged in any order keep the same ones.
            kept = sorted(known, key=_address_order)[:DNS_ANSWERS_PER_NAME_LIMIT]
            self.dns_answers[name] = set(kept)

    def contested(self) -> list[EdgeKey]:
        """Edges allowed where they left but dropped where they arrived, never seen arriving.

        Hubble reports such a connection as FORWARDED at the client's node and DROPPED at the
        server's; Calico as ``allow`` from the source reporter and ``deny`` from the
        destination. Learning it as allowed would override the destination's current policy.
        """
        # Only exact edges: a folded dropped end is always an outside address, where no drop on
        # arrival is ever observed (an outside client's flows are seen arriving at the pod, a
        # pod's flows to the outside only where they leave), so an allowed edge inside it is
        # no evidence of a refusal and holding it back would deny what was allowed.
        return sorted(
            key for key in self.denied if key in self.edges and self.edges[key].ingress_count == 0
        )

    def resolve_unlabelled(self) -> int:
        """Re-key edges of pods seen without labels onto the labelled identity of the same pod.

        Real captures sometimes report a pod behind the L7 proxy without its labels (only
        namespace, pod name and IP). When the same pod (by name, else by IP) was also seen
        with labels, its edges belong to that workload. Returns how many identities moved.
        """
        by_pod: dict[tuple[str, str], Identity] = {}
        by_ip: dict[tuple[str, str], Identity] = {}
        for identity, info in self.workloads.items():
            if not identity.labels:
                continue
            for pod in info.pods:
                by_pod[(identity.namespace, pod)] = identity
            for ip in info.ips:
                by_ip[(identity.namespace, ip)] = identity
        moves: dict[Identity, Identity] = {}
        for identity, info in self.workloads.items():
            if identity.labels:
                continue
            target = next(
                (
                    by_pod[(identity.namespace, p)]
                    for p in sorted(info.pods)
                    if (identity.namespace, p) in by_pod
                ),
                by_ip.get((identity.namespace, identity.address)),
            )
            if target is not None:
                moves[identity] = target
        if not moves:
            return 0
        self.rekey(moves)
        for identity in moves:
            del self.workloads[identity]
        return len(moves)

    def rekey(self, moves: Mapping[Identity, Identity]) -> None:
        """Move every edge of an identity in ``moves`` onto its target, merging edges that meet."""
        for key in [k for k in self.edges if k.source in moves or k.destination in moves]:
            stats = self.edges.pop(key)
            new_key = EdgeKey(
                moves.get(key.source, key.source),
                moves.get(key.destination, key.destination),
                key.protocol,
                key.port,
            )
            existing = self.edges.get(new_key)
            if existing is None:
                self.edges[new_key] = stats
            else:
                existing.merge(stats)
        for key in [k for k in self.denied if k.source in moves or k.destination in moves]:
            count = self.denied.pop(key)
            new_key = EdgeKey(
                moves.get(key.source, key.source),
                moves.get(key.destination, key.destination),
                key.protocol,
                key.port,
            )
            self.denied[new_key] = self.denied.get(new_key, 0) + count

    def sorted_edges(self) -> Iterator[tuple[EdgeKey, EdgeStats]]:
        for key in sorted(self.edges):
            yield key, self.edges[key]

    def namespaces(self) -> set[str]:
        found = {i.namespace for i in self.workloads}
        return {n for n in found if n}


def protocol_of(edge: EdgeKey) -> Protocol:
    return Protocol(edge.protocol)


def _address_order(text: str) -> tuple[int, int, str]:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return (99, 0, text)
    return (address.version, int(address), text)
