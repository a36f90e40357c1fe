"""The compiled policy model: targets, rules and matchers, each answering one question.

A :class:`Target` is "the pods a policy applies to, in one direction" (namespace matcher + pod
matcher) with the :class:`RuleMatcher` s that apply there. A rule admits traffic when one of its
peer matchers admits the other end, one of its port matchers admits the port, and (for an HTTP
request) one of its HTTP matchers admits the request. Rules carry an :class:`Action` and an
``order`` so that dialects with deny rules, ordered rules and tiers (Cilium, Calico) compile into
the same model as Kubernetes NetworkPolicy, whose rules are all ``ALLOW`` with one order.

Every matcher is an immutable value with ``allows(...)`` and a readable ``key``; parsers build
them, :mod:`learner.semantics.policyset` asks them. Base classes are ABCs so a dialect can add
its own matcher (a Calico selector expression, say) without touching the engine.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from learner.model.flow import EndpointKind, HTTPRequest
from learner.model.policy import LabelSelector, Operator
from learner.semantics.ports import AllPortsMatcher, PortMatcher
from learner.semantics.portset import PortSet
from learner.semantics.traffic import Traffic, TrafficPeer


class RuleDirection(StrEnum):
    """Which end of a connection a rule is enforced at (spelled as in ``policyTypes``)."""

    INGRESS = "Ingress"
    """At the destination, about the source."""
    EGRESS = "Egress"
    """At the source, about the destination."""


class Action(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"
    PASS = "Pass"
    """Stop evaluating this tier and go on with the next one (Calico)."""


@dataclass(frozen=True, slots=True, order=True)
class Tier:
    """A group of policies evaluated before the next group (Calico tiers).

    Kubernetes and Cilium policies all sit in one tier.
    """

    order: float = 0.0
    name: str = ""


DEFAULT_TIER = Tier()


@dataclass(frozen=True, slots=True, order=True)
class PolicyRef:
    """The policy document a target or rule came from."""

    namespace: str
    name: str
    kind: str = "NetworkPolicy"
    path: str = ""
    document: int = -1
    """0-based index of the YAML document in ``path``; -1 when not from a file."""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @property
    def location(self) -> str:
        if not self.path:
            return ""
        return f"{self.path} document {self.document}" if self.document >= 0 else self.path

    def __str__(self) -> str:
        where = self.location
        return f"{self.key} ({where})" if where else self.key


@dataclass(frozen=True, slots=True, order=True)
class RuleRef:
    """One rule of one policy: ``ns/name ingress rule 1``. ``index`` counts from 0 as in the
    document; people count rules from 1, as the report and the policy comments do."""

    policy: PolicyRef
    direction: RuleDirection
    index: int

    @property
    def key(self) -> str:
        return f"{self.policy.key} {self.direction.lower()} rule {self.index + 1}"

    def __str__(self) -> str:
        return self.key


# --- label selectors -------------------------------------------------------------------------


def selector_matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """Kubernetes label selector semantics; the empty selector matches everything."""
    for key, value in selector.match_labels:
        if labels.get(key) != value:
            return False
    for requirement in selector.match_expressions:
        operator = requirement.operator
        if operator is Operator.IN:
            if labels.get(requirement.key) not in requirement.values:
                return False
        elif operator is Operator.NOT_IN:
            # NotIn also matches objects without the key, as in Kubernetes.
            if labels.get(requirement.key) in requirement.values:
                return False
        elif operator is Operator.EXISTS:
            if requirement.key not in labels:
                return False
        elif requirement.key in labels:
            return False
    return True


# --- namespaces ------------------------------------------------------------------------------


class NamespaceMatcher(ABC):
    """Which namespaces a peer (or a target's pods) may be in."""

    __slots__ = ()

    @abstractmethod
    def allows(self, peer: TrafficPeer) -> bool: ...

    @property
    @abstractmethod
    def key(self) -> str: ...

    @property
    def exact_namespace(self) -> str | None:
        """The one namespace matched, when there is exactly one (used for indexing)."""
        return None


@dataclass(frozen=True, slots=True)
class ExactNamespaceMatcher(NamespaceMatcher):
    namespace: str

    def allows(self, peer: TrafficPeer) -> bool:
        return peer.namespace == self.namespace

    @property
    def key(self) -> str:
        return self.namespace

    @property
    def exact_namespace(self) -> str | None:
        return self.namespace


@dataclass(frozen=True, slots=True)
class AllNamespacesMatcher(NamespaceMatcher):
    def allows(self, peer: TrafficPeer) -> bool:
        return True

    @property
    def key(self) -> str:
        return "<all namespaces>"


@dataclass(frozen=True, slots=True)
class LabelSelectorNamespaceMatcher(NamespaceMatcher):
    selector: LabelSelector

    def allows(self, peer: TrafficPeer) -> bool:
        return selector_matches(self.selector, peer.namespace_label_map)

    @property
    def key(self) -> str:
        return f"ns({self.selector.key})"


# --- pods ------------------------------------------------------------------------------------


class PodMatcher(ABC):
    """Which pods (by their labels) within the namespaces already matched."""

    __slots__ = ()

    @abstractmethod
    def allows(self, peer: TrafficPeer) -> bool: ...

    @property
    @abstractmethod
    def key(self) -> str: ...

    @property
    def index_label(self) -> tuple[str, str] | None:
        """A label every matched pod must carry (used for indexing), if there is one."""
        return None


@dataclass(frozen=True, slots=True)
class AllPodsMatcher(PodMatcher):
    def allows(self, peer: TrafficPeer) -> bool:
        return True

    @property
    def key(self) -> str:
        return "<all pods>"


@dataclass(frozen=True, slots=True)
class LabelSelectorPodMatcher(PodMatcher):
    selector: LabelSelector

    def allows(self, peer: TrafficPeer) -> bool:
        return selector_matches(self.selector, peer.label_map)

    @property
    def key(self) -> str:
        return self.selector.key

    @property
    def index_label(self) -> tuple[str, str] | None:
        return self.selector.match_labels[0] if self.selector.match_labels else None


# --- peers -----------------------------------------------------------------------------------


class PeerMatcher(ABC):
    """Whether the other end of a connection is one a rule names."""

    __slots__ = ()

    @abstractmethod
    def allows(self, peer: TrafficPeer) -> bool: ...

    @property
    @abstractmethod
    def key(self) -> str: ...


@dataclass(frozen=True, slots=True)
class AllPeersMatcher(PeerMatcher):
    """A rule without ``from``/``to``: every peer, inside or outside the cluster."""

    def allows(self, peer: TrafficPeer) -> bool:
        return True

    @property
    def key(self) -> str:
        return "<all peers>"


@dataclass(frozen=True, slots=True)
class PodPeerMatcher(PeerMatcher):
    """Pods matched by ``pods`` in namespaces matched by ``namespaces`` (both must hold)."""

    namespaces: NamespaceMatcher
    pods: PodMatcher

    def allows(self, peer: TrafficPeer) -> bool:
        return peer.is_pod and self.namespaces.allows(peer) and self.pods.allows(peer)

    @property
    def key(self) -> str:
        return f"{self.namespaces.key}/{self.pods.key}"


_Network = tuple[int, int, int]
"""(IP version, network address as an integer, netmask as an integer)."""


@functools.lru_cache(maxsize=4096)
def parse_network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """``cidr`` as a network, host bits cleared; ValueError when it is not one. Remembered: the
    same blocks and excepts recur in every policy of a proposal."""
    return ipaddress.ip_network(cidr, strict=False)


def _network(cidr: str) -> _Network:
    network = parse_network(cidr)
    return network.version, int(network.network_address), int(network.netmask)


@dataclass(frozen=True, slots=True)
class IPBlockPeerMatcher(PeerMatcher):
    """Addresses in ``cidr`` but in none of ``excepts`` (IPv4 or IPv6).

    With ``matches_pods`` False (the Kubernetes choice here, as Cilium does) the block only
    matches peers that are not pods: pod traffic is matched by selectors, never by address.
    """

    cidr: str
    excepts: tuple[str, ...] = ()
    matches_pods: bool = False
    _network: _Network = field(init=False, repr=False, compare=False, hash=False)
    _excepts: tuple[_Network, ...] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_network", _network(self.cidr))
        object.__setattr__(self, "_excepts", tuple(_network(c) for c in self.excepts))

    def allows(self, peer: TrafficPeer) -> bool:
        if not peer.ip_version or (peer.is_pod and not self.matches_pods):
            return False
        version, network, mask = self._network
        value = peer.ip_value
        if peer.ip_version != version or value & mask != network:
            return False
        for version, network, mask in self._excepts:
            if peer.ip_version == version and value & mask == network:
                return False
        return True

    @property
    def key(self) -> str:
        return self.cidr + (f" except {','.join(self.excepts)}" if self.excepts else "")


_WORLD: str = EndpointKind.WORLD.value
ALL_ENTITY = "all"
CLUSTER_ENTITY = "cluster"
_ENTITY_KINDS: dict[str, frozenset[str]] = {
    "world": frozenset({EndpointKind.WORLD}),
    "world-ipv4": frozenset({EndpointKind.WORLD}),
    "world-ipv6": frozenset({EndpointKind.WORLD}),
    "host": frozenset({EndpointKind.HOST}),
    "remote-node": frozenset({EndpointKind.REMOTE_NODE}),
    "kube-apiserver": frozenset({EndpointKind.KUBE_APISERVER}),
    "health": frozenset({EndpointKind.HEALTH}),
    "unmanaged": frozenset({EndpointKind.UNMANAGED}),
    "ingress": frozenset({EndpointKind.INGRESS}),
    CLUSTER_ENTITY: frozenset(
        {
            EndpointKind.POD,
            EndpointKind.UNMANAGED,
            EndpointKind.INGRESS,
            EndpointKind.HOST,
            EndpointKind.REMOTE_NODE,
            EndpointKind.KUBE_APISERVER,
            EndpointKind.HEALTH,
        }
    ),
}
KNOWN_ENTITIES: frozenset[str] = frozenset(_ENTITY_KINDS) | {ALL_ENTITY, "none", "init"}


@dataclass(frozen=True, slots=True)
class EntityPeerMatcher(PeerMatcher):
    """Reserved peers by name (Cilium entities): ``world``, ``host``, ``cluster``, ``all``...

    ``world-ipv4``/``world-ipv6`` also check the address family when the address is known.
    Entities that never appear in observed traffic (``init``, ``none``) match nothing.
    """

    entities: tuple[str, ...]
    _kinds: frozenset[str] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        kinds: set[str] = set()
        for entity in self.entities:
            kinds |= _ENTITY_KINDS.get(entity, frozenset())
        object.__setattr__(self, "_kinds", frozenset(str(kind) for kind in kinds))

    def allows(self, peer: TrafficPeer) -> bool:
        if ALL_ENTITY in self.entities:
            return True
        if peer.kind not in self._kinds:
            return False
        if peer.kind == _WORLD and peer.ip_version and "world" not in self.entities:
            wanted = {"world-ipv4": 4, "world-ipv6": 6}
            return any(wanted.get(e) == peer.ip_version for e in self.entities)
        return True

    @property
    def key(self) -> str:
        return "entities(" + ",".join(self.entities) + ")"


_DNS_CHARS = "[-a-zA-Z0-9_]"


def fqdn_pattern_regex(pattern: str) -> str:
    """A regular expression for a DNS name pattern, anchored.

    ``*`` alone matches every name; otherwise ``**.`` at the start matches one or more leading
    labels and ``*`` matches any run of DNS characters within one label. Matching ignores case
    and the trailing dot.
    """
    pattern = pattern.lower().rstrip(".")
    if pattern == "*":
        return ".*"
    prefix = ""
    if pattern.startswith("**."):
        prefix, pattern = rf"(?:{_DNS_CHARS}+\.)+", pattern[3:]
    body = re.escape(pattern).replace(r"\*", _DNS_CHARS + "*")
    return prefix + body


@dataclass(frozen=True, slots=True)
class FQDNPeerMatcher(PeerMatcher):
    """Non-pod peers whose address was observed under one of the given names or patterns.

    Judged against :attr:`TrafficPeer.names` (what DNS answered for the address), so a peer
    with no observed names never matches.
    """

    names: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    _exact: frozenset[str] = field(init=False, repr=False, compare=False, hash=False)
    _regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_exact", frozenset(name.lower().rstrip(".") for name in self.names)
        )
        regex = None
        if self.patterns:
            regex = re.compile("|".join(f"(?:{fqdn_pattern_regex(p)})" for p in self.patterns))
        object.__setattr__(self, "_regex", regex)

    def allows(self, peer: TrafficPeer) -> bool:
        if peer.is_pod:
            return False
        for name in peer.names:
            name = name.lower().rstrip(".")
            if name in self._exact or (self._regex is not None and self._regex.fullmatch(name)):
                return True
        return False

    @property
    def key(self) -> str:
        return "fqdn(" + ",".join((*self.names, *self.patterns)) + ")"


# --- L7 --------------------------------------------------------------------------------------


class L7Matcher(ABC):
    """An application-layer constraint on a rule (HTTP method/path, ...)."""

    __slots__ = ()

    @abstractmethod
    def allows(self, request: HTTPRequest) -> bool: ...

    @property
    @abstractmethod
    def key(self) -> str: ...


@dataclass(frozen=True, slots=True)
class HTTPRuleMatcher(L7Matcher):
    """Requests whose method and path fully match the given regular expressions (Cilium
    ``rules.http`` semantics); an empty expression matches anything."""

    method: str = ""
    path: str = ""
    _method: re.Pattern[str] | None = field(init=False, repr=False, compare=False, hash=False)
    _path: re.Pattern[str] | None = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_method", re.compile(self.method) if self.method else None)
        object.__setattr__(self, "_path", re.compile(self.path) if self.path else None)

    def allows(self, request: HTTPRequest) -> bool:
        if self._method is not None and not self._method.fullmatch(request.method):
            return False
        return self._path is None or self._path.fullmatch(request.path) is not None

    @property
    def key(self) -> str:
        return f"{self.method or '*'} {self.path or '*'}"


# --- rules and targets -----------------------------------------------------------------------

ALL_PEERS: tuple[PeerMatcher, ...] = (AllPeersMatcher(),)
ALL_PORTS: tuple[PortMatcher, ...] = (AllPortsMatcher(),)


@dataclass(frozen=True, slots=True, eq=False)
class RuleMatcher:
    """One rule: any of ``peers``, on any of ``ports``, then ``action``.

    ``order`` ranks rules of one tier: the first matching rule decides, and every matching rule
    of the same order and action decides with it (so Kubernetes allow rules, all of one order,
    form a union). ``http`` restricts requests; traffic asked about without a request (a
    connection) is admitted at L3/L4.
    """

    ref: RuleRef
    peers: tuple[PeerMatcher, ...] = ALL_PEERS
    ports: tuple[PortMatcher, ...] = ALL_PORTS
    action: Action = Action.ALLOW
    order: tuple[float, ...] = ()
    http: tuple[L7Matcher, ...] = ()
    _port_set: PortSet = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_port_set", PortSet(self.ports))

    def allows(self, peer: TrafficPeer, traffic: Traffic) -> bool:
        """Whether this rule matches ``traffic`` whose other end (seen from the rule) is
        ``peer``."""
        if not self._port_set.allows(traffic.protocol, traffic.port, traffic.port_name):
            return False
        for peer_matcher in self.peers:
            if peer_matcher.allows(peer):
                break
        else:
            return False
        if self.http and traffic.http is not None:
            request = traffic.http
            return any(matcher.allows(request) for matcher in self.http)
        return True

    @property
    def key(self) -> str:
        peers = ";".join(p.key for p in self.peers)
        ports = ";".join(p.key for p in self.ports)
        http = (" http " + ";".join(h.key for h in self.http)) if self.http else ""
        return f"{self.action} {peers} on {ports}{http}"


@dataclass(frozen=True, slots=True, eq=False)
class Target:
    """The pods some policies select, in one direction, and the rules applying to them there.

    ``isolates``: being selected denies whatever no rule allows (true for every Kubernetes
    target; a dialect may compile policies that only add rules).
    """

    direction: RuleDirection
    namespaces: NamespaceMatcher
    pods: PodMatcher
    rules: tuple[RuleMatcher, ...]
    sources: tuple[PolicyRef, ...]
    tier: Tier = DEFAULT_TIER
    isolates: bool = True

    def selects(self, peer: TrafficPeer) -> bool:
        return peer.is_pod and self.namespaces.allows(peer) and self.pods.allows(peer)

    @property
    def primary_key(self) -> tuple[object, ...]:
        """Targets with equal primary keys merge into one (rules and sources concatenated)."""
        return (self.direction, self.namespaces, self.pods, self.tier, self.isolates)

    @property
    def key(self) -> str:
        return f"{self.direction} {self.namespaces.key}/{self.pods.key}"

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """What a dialect parser makes of one policy document."""

    ref: PolicyRef
    targets: tuple[Target, ...]

    @property
    def rules(self) -> tuple[RuleRef, ...]:
        return tuple(rule.ref for target in self.targets for rule in target.rules)
