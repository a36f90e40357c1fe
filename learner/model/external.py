"""A cap on the distinct outside addresses one edge group keeps (``--max-external-peers``).

Every distinct world address is its own edge, so a public ingress controller that sees a
million clients would hold a million edges. An *edge group* is one local end, the side the
outside address is on, and one protocol/port: the set of edges a single rule covers. When a
group holds more distinct outside addresses than the cap, its addresses are *folded*:

1. to their covering /24 (IPv4) or /48 (IPv6) prefix; if that still leaves more than the cap,
2. to the peer class: :data:`FOLDED_PUBLIC` ("any public address") or :data:`FOLDED_PRIVATE`
   ("private networks outside the cluster"), the classes Calico's hidden addresses use.

A folded edge keeps the merged counts of what it replaced, and ``EdgeStats.folded`` holds the
cap its group went over (its group held more distinct addresses than that: a statement that
does not depend on the order flows arrived in, unlike a count kept after folding). Addresses inside the configured cluster ranges are never folded. The
level a group ends at depends only on the union of its addresses (the lowest level at which
it fits the cap), so one process, ``-j`` workers, Spark partials and a reloaded state agree.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast

from learner.model.flow import EndpointKind
from learner.model.hidden import PRIVATE_RANGES
from learner.model.identity import Identity


class EdgeKey(Protocol):
    """What this module needs of :class:`learner.model.edges.EdgeKey` (a frozen dataclass,
    rebuilt with :func:`dataclasses.replace`; the model's edges module imports this one)."""

    @property
    def source(self) -> Identity: ...
    @property
    def destination(self) -> Identity: ...
    @property
    def protocol(self) -> str: ...
    @property
    def port(self) -> int: ...
    def __hash__(self) -> int: ...


class EdgeStats(Protocol):
    folded: int

    def merge(self, other: Any) -> None: ...


K = TypeVar("K", bound=EdgeKey)
S = TypeVar("S", bound="EdgeStats | int")
"""An allowed edge's statistics, or a dropped edge's flow count (``EdgeStore.denied``)."""


DEFAULT_MAX_EXTERNAL_PEERS = 5000
"""Distinct outside addresses one edge group keeps before folding (see docs/memory-and-scale-limits.md)."""

FOLDED_PUBLIC = "folded:pub"
FOLDED_PRIVATE = "folded:pvt"
FOLDED_CLASSES = frozenset({FOLDED_PUBLIC, FOLDED_PRIVATE})
FOLD_MARK = "distinct addresses folded into"
"""Starts the ``admits`` line (and report risk) of a rule that allows folded addresses."""
FOLD_HINT = "raise --max-external-peers to learn narrower rules"

MAYBE_CLUSTER = (*PRIVATE_RANGES, "100.64.0.0/10", "fc00::/7")
"""Where pods may live when ``--cluster-cidr`` is not given: no folded prefix reaches in."""

PREFIX_LENGTH = {4: 24, 6: 48}
EXACT, PREFIX, CLASS = 0, 1, 2

_PRIVATE = tuple(ipaddress.ip_network(t) for t in PRIVATE_RANGES)
"""The ranges the "private networks outside the cluster" class allows: the ones its block
(rendered like Calico's hidden ``pvt`` end) covers. Every other address, link-local, CGNAT and
IPv6 included, belongs to the public class, whose block is everything except these and the
cluster's ranges."""


def fold_level(address: str) -> int:
    """The level an outside address is at: a host address, a folded prefix or a class."""
    if address in FOLDED_CLASSES:
        return CLASS
    return PREFIX if "/" in address else EXACT


def is_folded(address: str) -> bool:
    return fold_level(address) != EXACT


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def prefix_network(address: str) -> Network | None:
    """The network of a folded prefix address (``11.0.0.0/24``), else None."""
    if "/" not in address:
        return None
    try:
        return ipaddress.ip_network(address)
    except ValueError:
        return None


Span = tuple[int, int, int]
"""(IP version, first address, last address) as integers: cheaper per flow than networks."""

_PRIVATE_SPANS: tuple[Span, ...] = tuple(
    (n.version, int(n.network_address), int(n.broadcast_address)) for n in _PRIVATE
)
_WIDTH = {4: 32, 6: 128}
_inet_pton = socket.inet_pton
_AF_INET = socket.AF_INET


def span_of(address: str) -> Span | None:
    """The addresses a host address or a folded prefix stands for; None for anything else."""
    if "/" not in address and ":" not in address:
        # The common case, per flow: a dotted IPv4 address, parsed in C (strict: four decimal
        # parts, no leading zeros, like ipaddress) without building an object.
        try:
            value = int.from_bytes(_inet_pton(_AF_INET, address), "big")
        except (OSError, ValueError):
            return None
        return 4, value, value
    try:
        if "/" in address:
            network = ipaddress.ip_network(address)
            return network.version, int(network.network_address), int(network.broadcast_address)
        host = ipaddress.ip_address(address)
    except ValueError:
        return None
    return host.version, int(host), int(host)


def _overlaps(span: Span, others: Iterable[Span]) -> bool:
    version, first, last = span
    return any(v == version and first <= end and start <= last for v, start, end in others)


def folded_address(address: str, level: int, cluster: Sequence[Span] = ()) -> str:
    """``address`` (a host address or a folded prefix) at ``level``. A prefix that would
    reach into a cluster range is skipped for the class (whose blocks except those ranges)."""
    if level <= fold_level(address):
        return address
    span = span_of(address)
    if span is None:
        return address
    return _folded_span(span, level, cluster)


def _folded_span(span: Span, level: int, cluster: Sequence[Span]) -> str:
    """:func:`folded_address` of an address already parsed, at a level above its own."""
    version, first, last = span
    if level == PREFIX:
        host_bits = _WIDTH[version] - PREFIX_LENGTH[version]
        start = first >> host_bits << host_bits
        prefix = (version, start, start + (1 << host_bits) - 1)
        if not _overlaps(prefix, cluster):
            if version == 4:
                text = f"{start >> 24}.{start >> 16 & 255}.{start >> 8 & 255}.{start & 255}"
            else:
                text = str(ipaddress.IPv6Address(start))
            return f"{text}/{PREFIX_LENGTH[version]}"
    private = any(
        v == version and start <= first and last <= end for v, start, end in _PRIVATE_SPANS
    )
    return FOLDED_PRIVATE if private else FOLDED_PUBLIC


@dataclass(frozen=True, slots=True)
class GroupKey:
    """One local end, which side the outside address is on, protocol and port."""

    local: Identity
    outside_is_destination: bool
    protocol: str
    port: int
    template: EdgeKey = field(compare=False, hash=False)
    """Any edge of the group: the others are built from it."""


@dataclass(slots=True)
class _Group:
    level: int = EXACT
    outside: set[Identity] = field(default_factory=set)
    """The outside identities currently keyed in this group (at most cap + 1)."""
    keys: dict[str, Any] = field(default_factory=dict)
    """Folded address → the edge key it is stored under, for :meth:`PeerCap.place` (cleared
    when the level changes; at most one per member of :attr:`outside`)."""


class PeerCap:
    """Keeps every edge group of one :class:`~learner.model.edges.EdgeStore` within the cap."""

    def __init__(self, limit: int, cluster_cidrs: Sequence[str] = ()) -> None:
        self.limit = limit
        self.cluster = _spans(cluster_cidrs)
        self.prefix_guard = self.cluster or _spans(MAYBE_CLUSTER)
        """Ranges no folded prefix may reach into. Without ``--cluster-cidr`` the cluster's
        ranges are unknown here (the learner infers them later from pod addresses, and an
        outside address may share a subnet with pods), so private addresses skip the prefix
        level for their class, whose blocks except the cluster's ranges."""
        self._groups: dict[GroupKey, _Group] = {}
        self._last: tuple[Identity, bool, str, int, GroupKey, _Group] | None = None
        """The group :meth:`place` found last, by its local end, side, protocol and port."""
        self.removed: set[Any] | None = None
        """When a set, every edge key folded away is added to it (the state deletes them)."""
        self.folded_into: set[Any] | None = None
        """When a set, every edge key that took in folded edges is added to it (to be saved)."""

    def copy(self) -> PeerCap:
        """The same settings, no groups yet (a new store's groups come from its edges)."""
        copy = PeerCap(self.limit)
        copy.cluster = self.cluster
        copy.prefix_guard = self.prefix_guard
        return copy

    def group_of(self, key: EdgeKey) -> tuple[GroupKey, Identity] | None:
        """The group of an edge with exactly one foldable outside end, and that end."""
        source, destination = key.source, key.destination
        if _foldable(destination, self.cluster) and not _is_world(source):
            return GroupKey(source, True, key.protocol, key.port, key), destination
        if _foldable(source, self.cluster) and not _is_world(destination):
            return GroupKey(destination, False, key.protocol, key.port, key), source
        return None

    def place(self, key: K, edges: dict[K, S]) -> K:
        """The key a new edge is stored under; folds its group when it goes over the cap.

        Called for every flow of an edge not stored yet, so with many distinct outside
        addresses it is per flow: the outside address is parsed once, and the group of the
        previous call is reused when the local end is the same object (identities are shared
        by the resolver). Decides exactly what :meth:`group_of` and :meth:`at_level` would."""
        source, destination = key.source, key.destination
        world = EndpointKind.WORLD
        if destination.kind == world:
            if source.kind == world:
                return key
            local, outside, outside_is_destination = source, destination, True
        elif source.kind == world:
            local, outside, outside_is_destination = destination, source, False
        else:
            return key
        address = outside.address
        if not address:
            return key
        span: Span | None = None
        if address not in FOLDED_CLASSES and "/" not in address:
            span = span_of(address)
            if span is None or _overlaps(span, self.cluster):
                return key
        protocol, port = key.protocol, key.port
        last = self._last
        if (
            last is not None
            and last[0] is local
            and last[1] is outside_is_destination
            and last[2] == protocol
            and last[3] == port
        ):
            group_key, group = last[4], last[5]
        else:
            group_key = GroupKey(local, outside_is_destination, protocol, port, key)
            found = self._groups.get(group_key)
            if found is None:
                found = self._groups[group_key] = _Group()
            group = found
            self._last = (local, outside_is_destination, protocol, port, group_key, group)
        if group.level != EXACT:
            if span is None:
                outside = self.at_level(outside, group.level)
                key = _edge(group_key, outside)
            else:
                text = _folded_span(span, group.level, self.prefix_guard)
                known = group.keys.get(text)
                if known is not None:
                    return cast(K, known)  # a member already: the group does not grow
                outside = Identity(outside.kind, outside.namespace, outside.labels, text)
                key = group.keys[text] = _edge(group_key, outside)
        group.outside.add(outside)
        if len(group.outside) > self.limit:
            self._fold(group_key, group, edges)
            key = _edge(group_key, self.at_level(outside, group.level))
        return key

    def enforce(self, edges: dict[K, S]) -> None:
        """Rebuild the groups from ``edges`` (after a load or merge) and fold any over the cap."""
        self._groups = {}
        self._last = None
        for key in list(edges):
            found = self.group_of(key)
            if found is None:
                continue
            group_key, outside = found
            group = self._groups.get(group_key)
            if group is None:
                group = self._groups[group_key] = _Group()
            group.outside.add(outside)
        for group_key, group in self._groups.items():
            # A member at the class may be there only because its prefix would reach into a
            # cluster range: the group's level comes from the others, when there are any.
            levels = [fold_level(o.address) for o in group.outside]
            group.level = max((level for level in levels if level != CLASS), default=max(levels))
            mixed = any(self.at_level(o, group.level) != o for o in group.outside)
            if mixed or len(group.outside) > self.limit:
                self._fold(group_key, group, edges, start=group.level)

    def at_level(self, identity: Identity, level: int) -> Identity:
        address = folded_address(identity.address, level, self.prefix_guard)
        if address == identity.address:
            return identity
        return Identity(identity.kind, identity.namespace, identity.labels, address)

    def _fold(
        self,
        group_key: GroupKey,
        group: _Group,
        edges: dict[K, S],
        start: int | None = None,
    ) -> None:
        # A group at the class level can still be over a cap smaller than the classes it has
        # (public and private): there is no coarser level, so it stays there.
        level = min(group.level + 1, CLASS) if start is None else start
        while True:
            folded = {o: self.at_level(o, level) for o in group.outside}
            if len(set(folded.values())) <= self.limit or level >= CLASS:
                break
            level += 1
        for old, new in sorted(folded.items()):
            if old != new:
                self._move(_edge(group_key, old), _edge(group_key, new), edges)
        group.level = level
        group.outside = set(folded.values())
        group.keys = {}

    def _move(self, old: K, new: K, edges: dict[K, S]) -> None:
        stats: Any = edges.pop(old, None)
        if stats is None:
            return
        if self.removed is not None:
            self.removed.add(old)
        if self.folded_into is not None:
            self.folded_into.add(new)
        target: Any = edges.get(new)
        if isinstance(stats, int):  # a dropped edge's count
            edges[new] = cast(S, stats + (target or 0))
            return
        if target is None:
            edges[new] = target = stats
        else:
            target.merge(stats)
        target.folded = max(target.folded, self.limit)


def _spans(texts: Iterable[str]) -> tuple[Span, ...]:
    found = []
    for text in texts:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            continue  # --cluster-cidr is validated (with a clear message) where it is used
        found.append(
            (network.version, int(network.network_address), int(network.broadcast_address))
        )
    return tuple(found)


def _is_world(identity: Identity) -> bool:
    return identity.kind == EndpointKind.WORLD


def _foldable(identity: Identity, cluster: Sequence[Span]) -> bool:
    """An outside address the cap may fold: a world address (or folded one), not hidden by
    Calico and not inside the configured cluster ranges."""
    if identity.kind != EndpointKind.WORLD or not identity.address:
        return False
    address = identity.address
    if address in FOLDED_CLASSES or "/" in address:
        return True  # folded already (prefixes never reach into the cluster's ranges)
    span = span_of(address)
    return span is not None and not _overlaps(span, cluster)


def _edge(group_key: GroupKey, outside: Identity) -> Any:
    make = cast(Any, type(group_key.template))  # EdgeKey(source, destination, protocol, port)
    if group_key.outside_is_destination:
        return make(group_key.local, outside, group_key.protocol, group_key.port)
    return make(outside, group_key.local, group_key.protocol, group_key.port)


def describe_fold(count: int, into: Iterable[str]) -> str:
    """The admits line / risk text of a rule holding folded addresses."""
    targets = ", ".join(into)
    return f"more than {count:,} {FOLD_MARK} {targets}; {FOLD_HINT}"


def has_folded_class_end(edge: EdgeKey) -> bool:
    """Whether an end was folded into a whole class (judged like Calico's hidden ends: the
    learner allows the whole space, and no single address stands for it)."""
    return edge.source.address in FOLDED_CLASSES or edge.destination.address in FOLDED_CLASSES


def prefix_probes(edge: K) -> tuple[K, ...]:
    """The edge at the first and last address of its folded prefix end (none if it has none)."""
    for outside_is_destination, end in ((True, edge.destination), (False, edge.source)):
        network = prefix_network(end.address) if end.kind == EndpointKind.WORLD else None
        if network is None:
            continue
        group = GroupKey(
            edge.source if outside_is_destination else edge.destination,
            outside_is_destination,
            edge.protocol,
            edge.port,
            edge,
        )
        return tuple(
            _edge(group, Identity(end.kind, end.namespace, end.labels, str(address)))
            for address in (network.network_address, network.broadcast_address)
        )
    return ()
