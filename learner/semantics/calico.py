"""Calico ``projectcalico.org/v3`` policies compiled into the engine's targets and matchers.

Kinds: NetworkPolicy, GlobalNetworkPolicy, their staged variants StagedNetworkPolicy and
StagedGlobalNetworkPolicy, StagedKubernetesNetworkPolicy (a Kubernetes spec), and Tier (read
for its order). Cases and defaults, decided here only:

* **Staged policies are evaluated as if enforced**: diffing a staged proposal against current
  policies shows what enforcing it would change. ``stagedAction: Delete`` compiles to nothing.
* ``spec.selector`` (default ``all()``) selects the subject pods: in the policy's namespace
  (namespaced kinds) or in the namespaces ``spec.namespaceSelector`` matches (global kinds,
  default every namespace). ``types`` defaults as Calico does: ``Egress`` when only egress rules
  are written, both when both are, otherwise ``Ingress``.
* Policies are ordered by ``order`` (missing: last), then by name; rules by their position. The
  first matching rule decides: ``Allow``, ``Deny``, or ``Pass`` to the next tier; ``Log`` rules
  decide nothing. A tier in which a policy selects the pod but no rule matched denies.
* Tiers are ordered by their ``order``: ``default`` is 1,000,000 (the tier Kubernetes and Cilium
  policies share in the engine), ``adminnetworkpolicy`` 1,000, ``baselineadminnetworkpolicy``
  10,000,000; a ``Tier`` document sets the order of a tier for the policies compiled after it;
  other tiers sort just before ``default``, by name.
* A rule matches when every criterion it names holds: ``protocol``/``notProtocol``
  (``TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite`` or a number), ``ipVersion`` (when an address is
  known), and for ``source`` and ``destination`` (each about its own end of the connection):
  ``nets``/``notNets`` (any address, pods included, when the address is known; an unknown
  address only matches a block covering everything), ``selector``/``notSelector`` (pods, in the
  policy's namespace or the namespaces ``namespaceSelector`` matches; global policies: every
  namespace), ``domains`` (the DNS names observed for the address, as ``toFQDNs``),
  ``ports``/``notPorts`` on the destination (numbers, ``'from:to'`` ranges, named ports).
  ``icmp.type`` admits ICMP messages of that type (traffic whose type was not recorded is let
  through; ``code`` and ``notICMP`` are not judged); ``http`` methods and
  exact or prefix paths are judged for HTTP requests.
* Pod selectors see the pod's labels plus what Calico adds: ``projectcalico.org/namespace``,
  ``projectcalico.org/orchestrator`` (``k8s``) and ``pcns.<key>`` for namespace labels.
  Namespace selectors see the namespace's labels plus ``projectcalico.org/name``.

Criteria that need what flows do not carry are :class:`~learner.errors.PolicyError` s: service
accounts (``serviceAccountSelector``, ``serviceAccounts``), ``services``, and ports on the source.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from learner.model.flow import EndpointKind, HTTPRequest
from learner.semantics.calico_selector import (
    All,
    Expression,
    Lookup,
    SelectorSyntaxError,
    parse_selector,
)
from learner.semantics.dialects import PolicyDocument, register_dialect
from learner.semantics.k8s import KUBERNETES_TIER, parse_network_policy
from learner.semantics.matchers import (
    ALL_PORTS,
    Action,
    AllNamespacesMatcher,
    CompiledPolicy,
    ExactNamespaceMatcher,
    FQDNPeerMatcher,
    L7Matcher,
    NamespaceMatcher,
    PeerMatcher,
    PodMatcher,
    PolicyRef,
    RuleDirection,
    RuleMatcher,
    RuleRef,
    Target,
    Tier,
)
from learner.semantics.ports import (
    ICMPTypeMatcher,
    PortMatcher,
    PortProtocolMatcher,
    PortRangeMatcher,
)
from learner.semantics.portset import PortSet
from learner.semantics.reader import DocumentReader
from learner.semantics.traffic import TrafficPeer

API_GROUP = "projectcalico.org"
NAMESPACED_KINDS = frozenset({"NetworkPolicy", "StagedNetworkPolicy"})
GLOBAL_KINDS = frozenset({"GlobalNetworkPolicy", "StagedGlobalNetworkPolicy"})
STAGED_KUBERNETES_KIND = "StagedKubernetesNetworkPolicy"
TIER_KIND = "Tier"
DEFAULT_NAMESPACE = "default"
DEFAULT_TIER_NAME = "default"
CALICO_NAMESPACE_NAME = "projectcalico.org/name"
CALICO_POD_NAMESPACE = "projectcalico.org/namespace"
CALICO_ORCHESTRATOR = "projectcalico.org/orchestrator"
NAMESPACE_LABEL_PREFIX = "pcns."

TIER_ORDERS: dict[str, float] = {
    DEFAULT_TIER_NAME: KUBERNETES_TIER.order,
    "adminnetworkpolicy": 1_000.0,
    "baselineadminnetworkpolicy": 10_000_000.0,
}
"""Known tier orders; :func:`register_tier` (a ``Tier`` document) adds to them."""
UNKNOWN_TIER_ORDER = KUBERNETES_TIER.order - 1.0

PROTOCOLS: dict[str, str] = {
    "TCP": "TCP",
    "UDP": "UDP",
    "SCTP": "SCTP",
    "ICMP": "ICMPv4",
    "ICMPV6": "ICMPv6",
    "UDPLITE": "UDPLite",
    "6": "TCP",
    "17": "UDP",
    "132": "SCTP",
    "1": "ICMPv4",
    "58": "ICMPv6",
    "136": "UDPLite",
}
"""Calico protocol (upper-cased) → traffic protocol; other numbers match nothing observed."""
PORT_PROTOCOLS = frozenset({"TCP", "UDP", "SCTP", "UDPLite"})
ACTIONS = {"Allow": Action.ALLOW, "Deny": Action.DENY, "Pass": Action.PASS}

_SPEC_FIELDS = frozenset(
    {"order", "tier", "selector", "namespaceSelector", "serviceAccountSelector", "types",
     "ingress", "egress", "doNotTrack", "preDNAT", "applyOnForward", "performanceHints",
     "stagedAction"}
)  # fmt: skip
_RULE_FIELDS = frozenset(
    {"action", "protocol", "notProtocol", "icmp", "notICMP", "ipVersion", "source",
     "destination", "http", "metadata"}
)  # fmt: skip
_ENTITY_FIELDS = frozenset(
    {"nets", "notNets", "selector", "notSelector", "namespaceSelector", "ports", "notPorts",
     "serviceAccounts", "services", "domains"}
)  # fmt: skip
_HTTP_FIELDS = frozenset({"methods", "paths"})
_PORT_RANGE = re.compile(r"^(\d{1,5}):(\d{1,5})$")
_PORT_NAME = re.compile(r"^(?=.*[a-zA-Z])[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
_DOMAIN = re.compile(r"^(\*\.)?[-a-zA-Z0-9_]+(\.[-a-zA-Z0-9_*]+)*\.?$")
_Network = tuple[int, int, int, int]
"""(IP version, network address, netmask, prefix length)."""


def register_tier(name: str, order: float) -> None:
    """Order policies of tier ``name`` by ``order`` (what a Tier document says)."""
    TIER_ORDERS[name] = order


def tier_of(name: str) -> Tier:
    if name == DEFAULT_TIER_NAME:
        return KUBERNETES_TIER
    return Tier(TIER_ORDERS.get(name, UNKNOWN_TIER_ORDER), name)


# --- label views -----------------------------------------------------------------------------


def pod_lookup(peer: TrafficPeer) -> Lookup:
    """The labels a Calico selector sees on a pod."""
    labels = peer.label_map

    def get(key: str) -> str | None:
        found = labels.get(key)
        if found is not None:
            return found
        if key == CALICO_POD_NAMESPACE:
            return peer.namespace
        if key == CALICO_ORCHESTRATOR:
            return "k8s"
        if key.startswith(NAMESPACE_LABEL_PREFIX):
            return namespace_lookup(peer)(key[len(NAMESPACE_LABEL_PREFIX) :])
        return None

    return get


def namespace_lookup(peer: TrafficPeer) -> Lookup:
    """The labels a Calico namespace selector sees on a pod's namespace."""
    labels = peer.namespace_label_map

    def get(key: str) -> str | None:
        if key == CALICO_NAMESPACE_NAME:
            return peer.namespace
        return labels.get(key)

    return get


# --- matchers --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CalicoSelectorPodMatcher(PodMatcher):
    expression: Expression

    def allows(self, peer: TrafficPeer) -> bool:
        return self.expression.matches(pod_lookup(peer))

    @property
    def key(self) -> str:
        return str(self.expression)

    @property
    def index_label(self) -> tuple[str, str] | None:
        label = self.expression.required_label
        if label is None or label[0].startswith(("projectcalico.org/", NAMESPACE_LABEL_PREFIX)):
            return None
        return label


@dataclass(frozen=True, slots=True)
class CalicoSelectorNamespaceMatcher(NamespaceMatcher):
    expression: Expression

    def allows(self, peer: TrafficPeer) -> bool:
        return bool(peer.namespace) and self.expression.matches(namespace_lookup(peer))

    @property
    def key(self) -> str:
        return f"ns({self.expression})"


def _network(text: str) -> _Network:
    network = ipaddress.ip_network(text, strict=False)
    return (
        network.version,
        int(network.network_address),
        int(network.netmask),
        network.prefixlen,
    )


def _in_networks(peer: TrafficPeer, networks: tuple[_Network, ...]) -> bool:
    """Whether the peer's address is in one of ``networks``; an unknown address is only in a
    network covering everything (``0.0.0.0/0``, ``::/0``)."""
    if not peer.ip_version:
        return peer.kind != EndpointKind.POD and any(n[3] == 0 for n in networks)
    value = peer.ip_value
    return any(
        peer.ip_version == version and value & mask == address
        for version, address, mask, _ in networks
    )


@dataclass(frozen=True, slots=True)
class EntityCriteria:
    """What one EntityRule (``source`` or ``destination``) says about its end, ports aside."""

    nets: tuple[_Network, ...] = ()
    not_nets: tuple[_Network, ...] = ()
    selector: Expression | None = None
    not_selector: Expression | None = None
    namespaces: NamespaceMatcher | None = None
    """Where selectors look; None: everywhere (global policies without namespaceSelector)."""
    domains: FQDNPeerMatcher | None = None
    ip_version: int = 0
    """The rule's ``ipVersion``, checked when the end's address is known."""
    text: str = ""
    """A readable summary, for rule keys."""

    @property
    def is_empty(self) -> bool:
        return not (
            self.nets
            or self.not_nets
            or self.selector
            or self.not_selector
            or self.domains
            or self.ip_version
        )

    def matches_end(self, end: TrafficPeer) -> bool:
        if self.ip_version and end.ip_version and end.ip_version != self.ip_version:
            return False
        if self.nets and not _in_networks(end, self.nets):
            return False
        if self.not_nets and end.ip_version and _in_networks(end, self.not_nets):
            return False
        if self.domains is not None and not self.domains.allows(end):
            return False
        if self.selector is not None and not (
            self._in_scope(end) and self.selector.matches(pod_lookup(end))
        ):
            return False
        return not (
            self.not_selector is not None
            and self._in_scope(end)
            and self.not_selector.matches(pod_lookup(end))
        )

    def _in_scope(self, end: TrafficPeer) -> bool:
        if end.kind != EndpointKind.POD:
            return False
        return self.namespaces is None or self.namespaces.allows(end)


ANY_END = EntityCriteria()


@dataclass(frozen=True, slots=True)
class CalicoPeerMatcher(PeerMatcher):
    """The other end of a connection, as one EntityRule describes it."""

    criteria: EntityCriteria

    def allows(self, peer: TrafficPeer) -> bool:
        return self.criteria.matches_end(peer)

    @property
    def key(self) -> str:
        return self.criteria.text or "<all peers>"


@dataclass(frozen=True, slots=True)
class CalicoSubjectPodMatcher(PodMatcher):
    """The policy's subject pods that a rule's own-end criteria also hold for (an ingress rule's
    ``destination`` selector or nets, an egress rule's ``source``)."""

    subject: CalicoSelectorPodMatcher
    criteria: EntityCriteria

    def allows(self, peer: TrafficPeer) -> bool:
        return self.subject.allows(peer) and self.criteria.matches_end(peer)

    @property
    def key(self) -> str:
        return f"{self.subject.key} ({self.criteria.text})"

    @property
    def index_label(self) -> tuple[str, str] | None:
        return self.subject.index_label


@dataclass(frozen=True, slots=True)
class CalicoPortMatcher(PortMatcher):
    """``protocol``/``notProtocol`` with the destination's ``ports``/``notPorts``."""

    protocols: frozenset[str] | None = None
    """Traffic protocols named by ``protocol``; None: any."""
    not_protocols: frozenset[str] = frozenset()
    ports: tuple[PortMatcher, ...] = ()
    not_ports: tuple[PortMatcher, ...] = ()
    _port_set: PortSet = field(init=False, repr=False, compare=False, hash=False)
    _not_port_set: PortSet = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_port_set", PortSet(self.ports))
        object.__setattr__(self, "_not_port_set", PortSet(self.not_ports))

    def allows(self, protocol: str, port: int, port_name: str) -> bool:
        if self.protocols is not None and protocol not in self.protocols:
            return False
        if protocol in self.not_protocols:
            return False
        if self.ports and not self._port_set.allows(protocol, port, port_name):
            return False
        return not self._not_port_set.allows(protocol, port, port_name)

    @property
    def key(self) -> str:
        parts = []
        if self.protocols is not None:
            parts.append("/".join(sorted(self.protocols)) or "<no observed protocol>")
        if self.not_protocols:
            parts.append("not " + "/".join(sorted(self.not_protocols)))
        if self.ports:
            parts.append(",".join(p.key for p in self.ports))
        if self.not_ports:
            parts.append("not " + ",".join(p.key for p in self.not_ports))
        return " ".join(parts) or "<all ports>"


@dataclass(frozen=True, slots=True)
class CalicoHTTPMatcher(L7Matcher):
    """Calico ``http``: any of ``methods`` (exact) and any of ``paths`` (exact or prefix)."""

    methods: tuple[str, ...] = ()
    exact_paths: tuple[str, ...] = ()
    path_prefixes: tuple[str, ...] = ()

    def allows(self, request: HTTPRequest) -> bool:
        if self.methods and request.method not in self.methods:
            return False
        if not (self.exact_paths or self.path_prefixes):
            return True
        return request.path in self.exact_paths or request.path.startswith(self.path_prefixes)

    @property
    def key(self) -> str:
        paths = (*self.exact_paths, *(p + "*" for p in self.path_prefixes))
        return f"{','.join(self.methods) or '*'} {','.join(paths) or '*'}"


# --- parsing ---------------------------------------------------------------------------------


def _name_order(name: str) -> tuple[float, ...]:
    """``name`` as numbers that sort like the string (each character + 1, then 0 to end)."""
    return (*(float(ord(c) + 1) for c in name), 0.0)


def parse_calico_policy(document: PolicyDocument) -> CompiledPolicy:
    """Compile one Calico policy document; raises :class:`~learner.errors.PolicyError`."""
    return _Parser(document).policy()


class _Parser(DocumentReader):
    def __init__(self, document: PolicyDocument) -> None:
        super().__init__(document)
        self.namespaced = document.kind in NAMESPACED_KINDS
        self.namespace = ""

    def selector(self, value: object, where: str) -> Expression:
        if not isinstance(value, str):
            self.fail(where, f"must be a selector string, not {type(value).__name__}")
        try:
            return parse_selector(value)
        except SelectorSyntaxError as error:
            self.fail(where, f"invalid selector {value!r}: {error}")

    # --- the policy ---

    def policy(self) -> CompiledPolicy:
        body = self.document.body
        metadata = body.get("metadata")
        if not isinstance(metadata, Mapping):
            self.fail("metadata", "missing metadata")
        name = self.string(metadata.get("name"), "metadata.name")
        if self.namespaced:
            namespace = metadata.get("namespace") or DEFAULT_NAMESPACE
            self.namespace = self.string(namespace, "metadata.namespace")
        ref = PolicyRef(
            self.namespace, name, self.document.kind, self.document.path, self.document.index
        )
        spec = self.mapping(body.get("spec"), "spec", _SPEC_FIELDS)
        staged_action = spec.get("stagedAction", "Set")
        if staged_action not in ("Set", "Delete"):
            self.fail("spec.stagedAction", f"{staged_action!r} is not Set or Delete")
        if staged_action == "Delete":
            return CompiledPolicy(ref, ())
        if spec.get("serviceAccountSelector"):
            self.fail(
                "spec.serviceAccountSelector",
                "service accounts cannot be evaluated (flows do not record them)",
            )
        tier_name = spec.get("tier") or DEFAULT_TIER_NAME
        tier = tier_of(self.string(tier_name, "spec.tier"))
        policy_order = self.order(spec.get("order"))
        order = (policy_order, *_name_order(ref.key))
        subject = CalicoSelectorPodMatcher(
            self.selector(spec.get("selector", "all()"), "spec.selector")
        )
        namespaces = self.subject_namespaces(spec)
        targets = []
        for direction in self.types(spec):
            section = "ingress" if direction is RuleDirection.INGRESS else "egress"
            rules: list[RuleMatcher] = []
            for index, item in enumerate(self.sequence(spec.get(section), f"spec.{section}")):
                compiled = self.rule(
                    item, f"spec.{section}[{index}]", RuleRef(ref, direction, index),
                    (*order, float(index)),
                )  # fmt: skip
                if compiled is None:
                    continue
                matcher, own_end = compiled
                if own_end.is_empty:
                    rules.append(matcher)
                    continue
                # Criteria on the policy's own end narrow the pods the rule applies to: the
                # rule gets a target of its own (not isolating: the policy's target does that),
                # and the engine still takes it in order with the others.
                narrowed = CalicoSubjectPodMatcher(subject, own_end)
                targets.append(
                    Target(direction, namespaces, narrowed, (matcher,), (ref,), tier, False)
                )
            targets.append(Target(direction, namespaces, subject, tuple(rules), (ref,), tier))
        return CompiledPolicy(ref, tuple(targets))

    def order(self, value: object) -> float:
        if value is None:
            return math.inf  # Calico applies policies without an order last
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail("spec.order", f"must be a number, not {value!r}")
        return float(value)

    def subject_namespaces(self, spec: Mapping[str, Any]) -> NamespaceMatcher:
        if self.namespaced:
            if "namespaceSelector" in spec:
                self.fail("spec.namespaceSelector", "only global policies select namespaces")
            return ExactNamespaceMatcher(self.namespace)
        value = spec.get("namespaceSelector")
        if value is None:
            return AllNamespacesMatcher()
        expression = self.selector(value, "spec.namespaceSelector")
        if isinstance(expression, All):
            return AllNamespacesMatcher()
        return CalicoSelectorNamespaceMatcher(expression)

    def types(self, spec: Mapping[str, Any]) -> tuple[RuleDirection, ...]:
        written = self.sequence(spec.get("types"), "spec.types")
        if not written:
            has_ingress, has_egress = bool(spec.get("ingress")), bool(spec.get("egress"))
            if has_egress and not has_ingress:
                return (RuleDirection.EGRESS,)
            if has_egress:
                return (RuleDirection.INGRESS, RuleDirection.EGRESS)
            return (RuleDirection.INGRESS,)
        found = []
        for index, value in enumerate(written):
            try:
                found.append(RuleDirection(value))
            except ValueError:
                self.fail(f"spec.types[{index}]", f"{value!r} is not Ingress or Egress")
        return tuple(dict.fromkeys(sorted(found)))

    # --- rules ---

    def rule(
        self, value: object, where: str, ref: RuleRef, order: tuple[float, ...]
    ) -> tuple[RuleMatcher, EntityCriteria] | None:
        """The rule's matcher and what it says about the policy's own end; None for Log."""
        rule = self.mapping(value, where, _RULE_FIELDS)
        action_text = rule.get("action")
        if action_text == "Log":
            return None  # logs and goes on: decides nothing
        action = ACTIONS.get(str(action_text))
        if action is None:
            self.fail(f"{where}.action", f"{action_text!r} is not Allow, Deny, Pass or Log")
        protocols = self.protocol(rule.get("protocol"), f"{where}.protocol")
        not_protocols = self.protocol(rule.get("notProtocol"), f"{where}.notProtocol")
        ip_version = rule.get("ipVersion", 0)
        if ip_version not in (0, 4, 6):
            self.fail(f"{where}.ipVersion", f"{ip_version!r} is not 4 or 6")
        source = self.entity(rule.get("source"), f"{where}.source", ip_version, is_source=True)
        destination = self.entity(
            rule.get("destination"), f"{where}.destination", ip_version, is_source=False
        )
        destination_ports = self.ports(
            rule.get("destination"), f"{where}.destination", rule.get("protocol")
        )
        ports = self.port_matchers(protocols, not_protocols, *destination_ports)
        icmp_type = self.icmp_type(rule.get("icmp"), f"{where}.icmp", protocols)
        if icmp_type is not None and protocols:
            ports = tuple(ICMPTypeMatcher(p, icmp_type) for p in sorted(protocols))
        ingress = ref.direction is RuleDirection.INGRESS
        other_end, own_end = (source, destination) if ingress else (destination, source)
        peers = (CalicoPeerMatcher(other_end),)
        http = self.http(rule.get("http"), f"{where}.http")
        matcher = RuleMatcher(ref, peers, ports, action, order, http)
        return matcher, own_end

    @staticmethod
    def port_matchers(
        protocols: frozenset[str] | None,
        not_protocols: frozenset[str] | None,
        ports: tuple[PortMatcher, ...],
        not_ports: tuple[PortMatcher, ...],
    ) -> tuple[PortMatcher, ...]:
        """Plain port matchers where they say it all (so named ports stay visible), else one
        :class:`CalicoPortMatcher`."""
        if not_protocols or not_ports:
            return (CalicoPortMatcher(protocols, not_protocols or frozenset(), ports, not_ports),)
        if ports:
            return ports
        if protocols is None:
            return ALL_PORTS
        return tuple(PortProtocolMatcher(p) for p in sorted(protocols)) or (
            CalicoPortMatcher(frozenset()),
        )

    def icmp_type(self, value: object, where: str, protocols: frozenset[str] | None) -> int | None:
        """The ``icmp.type`` a rule names (its ``code`` is not judged); None: every type."""
        if value is None:
            return None
        fields = self.mapping(value, where, frozenset({"type", "code"}))
        if not protocols or not protocols <= {"ICMPv4", "ICMPv6"}:
            self.fail(where, "icmp needs protocol ICMP or ICMPv6")
        number = fields.get("type")
        if number is None:
            return None
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= 254:
            self.fail(f"{where}.type", f"{number!r} is not an ICMP type (0-254)")
        return number

    def protocol(self, value: object, where: str) -> frozenset[str] | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.fail(where, f"{value!r} is not a protocol")
        text = str(value).upper()
        if isinstance(value, int) and not 1 <= value <= 255:
            self.fail(where, f"{value} is not a protocol number (1-255)")
        if isinstance(value, str) and text not in PROTOCOLS:
            self.fail(where, f"unknown protocol {value!r}")
        found = PROTOCOLS.get(text)
        return frozenset({found}) if found else frozenset()

    def entity(
        self, value: object, where: str, ip_version: int, *, is_source: bool
    ) -> EntityCriteria:
        entity = self.mapping(value, where, _ENTITY_FIELDS)
        if not entity and not ip_version:
            return ANY_END
        for unsupported, reason in (
            ("serviceAccounts", "service accounts cannot be evaluated (flows do not record them)"),
            ("services", "services need the cluster's Service objects and cannot be evaluated"),
        ):
            if entity.get(unsupported):
                self.fail(f"{where}.{unsupported}", reason)
        if is_source and (entity.get("ports") or entity.get("notPorts")):
            self.fail(f"{where}.ports", "source ports cannot be evaluated (flows record none)")
        text: list[str] = []
        nets = self.networks(entity.get("nets"), f"{where}.nets", text, "")
        not_nets = self.networks(entity.get("notNets"), f"{where}.notNets", text, "not ")
        selector = not_selector = None
        if "selector" in entity:
            selector = self.selector(entity["selector"], f"{where}.selector")
            text.append(str(selector))
        if "notSelector" in entity:
            not_selector = self.selector(entity["notSelector"], f"{where}.notSelector")
            text.append(f"not ({not_selector})")
        namespaces = self.rule_namespaces(entity, where, text)
        if namespaces is not None and selector is None and "namespaceSelector" in entity:
            selector = All()  # a namespaceSelector alone: every pod of those namespaces
        domains = None
        if entity.get("domains"):
            if is_source:
                self.fail(f"{where}.domains", "domains are destinations (egress rules only)")
            names = self.domains(entity["domains"], f"{where}.domains")
            domains = FQDNPeerMatcher(
                names=tuple(n for n in names if "*" not in n),
                patterns=tuple(n for n in names if "*" in n),
            )
            text.append("domains " + ",".join(names))
        if ip_version:
            text.append(f"IPv{ip_version}")
        return EntityCriteria(
            nets=nets,
            not_nets=not_nets,
            selector=selector,
            not_selector=not_selector,
            namespaces=namespaces,
            domains=domains,
            ip_version=int(ip_version),
            text=" ".join(text),
        )

    def rule_namespaces(
        self, entity: Mapping[str, Any], where: str, text: list[str]
    ) -> NamespaceMatcher | None:
        value = entity.get("namespaceSelector")
        if value is None:
            return ExactNamespaceMatcher(self.namespace) if self.namespaced else None
        expression = self.selector(value, f"{where}.namespaceSelector")
        text.append(f"in ns({expression})")
        if isinstance(expression, All):
            return AllNamespacesMatcher()
        return CalicoSelectorNamespaceMatcher(expression)

    def networks(
        self, value: object, where: str, text: list[str], prefix: str
    ) -> tuple[_Network, ...]:
        found = []
        for index, item in enumerate(self.sequence(value, where)):
            cidr = self.string(item, f"{where}[{index}]")
            try:
                found.append(_network(cidr))
            except ValueError:
                self.fail(f"{where}[{index}]", f"{cidr!r} is not an address or CIDR")
            text.append(prefix + cidr)
        return tuple(found)

    def domains(self, value: object, where: str) -> list[str]:
        names = []
        for index, item in enumerate(self.sequence(value, where)):
            name = self.string(item, f"{where}[{index}]")
            if not _DOMAIN.match(name):
                self.fail(f"{where}[{index}]", f"{name!r} is not a domain name or pattern")
            names.append(name)
        return names

    def ports(
        self, destination: object, where: str, protocol: object
    ) -> tuple[tuple[PortMatcher, ...], tuple[PortMatcher, ...]]:
        """The destination's ``ports`` and ``notPorts``."""
        if not isinstance(destination, Mapping):
            return (), ()
        return (
            self.port_list(destination.get("ports"), f"{where}.ports", protocol),
            self.port_list(destination.get("notPorts"), f"{where}.notPorts", protocol),
        )

    def port_list(self, value: object, where: str, protocol: object) -> tuple[PortMatcher, ...]:
        items = self.sequence(value, where)
        if not items:
            return ()
        name = str(protocol).upper() if protocol is not None else ""
        traffic_protocol = PROTOCOLS.get(name, "")
        if traffic_protocol not in PORT_PROTOCOLS:
            self.fail(where, "ports need protocol TCP, UDP, SCTP or UDPLite")
        matchers: list[PortMatcher] = []
        for index, item in enumerate(items):
            matchers.append(self.port(item, f"{where}[{index}]", traffic_protocol))
        return tuple(matchers)

    def port(self, value: object, where: str, protocol: str) -> PortMatcher:
        if isinstance(value, bool):
            self.fail(where, f"{value!r} is not a port")
        if isinstance(value, int):
            if not 0 <= value <= 65535:
                self.fail(where, f"{value} is not a port number (0-65535)")
            return PortProtocolMatcher(protocol, value)
        if not isinstance(value, str):
            self.fail(where, f"{value!r} is not a port")
        if value.isdigit():
            return self.port(int(value), where, protocol)
        match = _PORT_RANGE.match(value)
        if match:
            start, end = int(match.group(1)), int(match.group(2))
            if not start <= end <= 65535:
                self.fail(where, f"{value!r} is not a port range (from:to, from <= to <= 65535)")
            return PortRangeMatcher(protocol, start, end)
        if not _PORT_NAME.match(value) or len(value) > 15:
            self.fail(where, f"{value!r} is neither a port, a range nor a port name")
        return PortProtocolMatcher(protocol, name=value)

    def http(self, value: object, where: str) -> tuple[L7Matcher, ...]:
        http = self.mapping(value, where, _HTTP_FIELDS)
        if not http:
            return ()
        methods = tuple(
            self.string(m, f"{where}.methods[{i}]")
            for i, m in enumerate(self.sequence(http.get("methods"), f"{where}.methods"))
        )
        exact: list[str] = []
        prefixes: list[str] = []
        for index, item in enumerate(self.sequence(http.get("paths"), f"{where}.paths")):
            path = self.mapping(item, f"{where}.paths[{index}]", frozenset({"exact", "prefix"}))
            if len(path) != 1:
                self.fail(f"{where}.paths[{index}]", "needs exactly one of exact or prefix")
            kind, text = next(iter(path.items()))
            (exact if kind == "exact" else prefixes).append(
                self.string(text, f"{where}.paths[{index}].{kind}")
            )
        return (CalicoHTTPMatcher(methods, tuple(exact), tuple(prefixes)),)


def parse_staged_kubernetes_policy(document: PolicyDocument) -> CompiledPolicy:
    """A StagedKubernetesNetworkPolicy: a Kubernetes NetworkPolicy spec, staged."""
    body = dict(document.body)
    spec = body.get("spec")
    if isinstance(spec, Mapping):
        spec = dict(spec)
        action = spec.pop("stagedAction", "Set")
        if action == "Delete":
            found = body.get("metadata")
            metadata: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
            ref = PolicyRef(
                str(metadata.get("namespace") or DEFAULT_NAMESPACE),
                str(metadata.get("name") or ""),
                STAGED_KUBERNETES_KIND,
                document.path,
                document.index,
            )
            return CompiledPolicy(ref, ())
        body["spec"] = spec
    body["apiVersion"], body["kind"] = "networking.k8s.io/v1", "NetworkPolicy"
    compiled = parse_network_policy(
        PolicyDocument(document.path, document.index, body, document.item)
    )
    ref = PolicyRef(
        compiled.ref.namespace,
        compiled.ref.name,
        STAGED_KUBERNETES_KIND,
        document.path,
        document.index,
    )
    return CompiledPolicy(ref, compiled.targets)


def parse_tier(document: PolicyDocument) -> CompiledPolicy:
    """A Tier: records its order for the policies compiled after it; selects nothing."""
    metadata = document.body.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    if not isinstance(name, str) or not name:
        raise document.error("metadata.name", "missing name")
    spec = document.body.get("spec")
    order = spec.get("order") if isinstance(spec, Mapping) else None
    if order is not None:
        if isinstance(order, bool) or not isinstance(order, int | float):
            raise document.error("spec.order", f"must be a number, not {order!r}")
        register_tier(name, float(order))
    return CompiledPolicy(PolicyRef("", name, TIER_KIND, document.path, document.index), ())


for _kind in (*NAMESPACED_KINDS, *GLOBAL_KINDS):
    register_dialect(API_GROUP, _kind, parse_calico_policy)
register_dialect(API_GROUP, STAGED_KUBERNETES_KIND, parse_staged_kubernetes_policy)
register_dialect(API_GROUP, TIER_KIND, parse_tier)
