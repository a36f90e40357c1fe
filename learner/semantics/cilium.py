"""CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy (``cilium.io/v2``) compiled into the
engine's targets and matchers (L3/L4, FQDN, deny rules, HTTP).

Cases and defaults, decided here only:

* ``spec`` and every item of ``specs`` is one rule: its ``endpointSelector`` selects the
  subject pods, in the policy's namespace (CNP) or in any namespace unless the selector names
  one (CCNP). Rules with a ``nodeSelector`` are host policies: pods are never their subjects.
* Selector keys may carry a source (``k8s:app``, ``any:app``; none means any source).
  ``io.kubernetes.pod.namespace`` selects the namespace by name,
  ``io.cilium.k8s.namespace.labels.<key>`` by namespace label; ``reserved:<entity>`` selects
  an entity; ``io.cilium.k8s.policy.cluster`` is ignored (one cluster). A peer selector naming
  no namespace means the policy's own namespace (CNP) or any namespace (CCNP), unless it uses
  namespace labels, which then decide alone.
* Peer kinds: ``from/toEndpoints``, ``from/toEntities``, ``from/toCIDR``, ``from/toCIDRSet``
  (with ``except``; like Cilium, never matching pods or nodes), ``toFQDNs`` (judged against
  the DNS names observed for the destination address, :attr:`TrafficPeer.names`),
  ``from/toNodes`` (approximated as the ``host`` and ``remote-node`` entities). An explicitly
  empty peer list selects nothing; a rule naming no peer but with ports admits every peer on
  them; a rule with neither (``{}``) admits nothing: it only isolates.
* ``toPorts``: ``protocol`` defaults to ``ANY`` (TCP, UDP, SCTP); port ``0`` is every port;
  a non-numeric port is a named container port; ``endPort`` makes a range. Each port rule
  compiles to its own rule matcher, with its ``rules.http`` as HTTP matchers (``headers`` are
  not judged); ``dns``, ``kafka`` and ``l7proto`` rules admit the connection (their requests are
  not judged). ``icmps`` admit ICMP messages of the family and type (a number or a name such
  as ``EchoRequest``); traffic whose type was not recorded (port 0) is let through.
* ``ingressDeny``/``egressDeny`` rules deny before any allow rule of the same direction, also
  those of Kubernetes policies: Cilium, Kubernetes and Calico's default tier share one tier.
* A direction isolates its subjects when ``enableDefaultDeny`` says so, by default when the
  rule has allow or deny rules for it; a direction without rules compiles to no target.

Constructs that need cluster objects the engine does not have (``fromRequires``,
``toServices``, ``fromGroups``, CIDR groups) are :class:`~learner.errors.PolicyError` s.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from learner.model.flow import EndpointKind
from learner.model.policy import NAMESPACE_NAME_LABEL, LabelSelector, Operator, Requirement
from learner.semantics.dialects import PolicyDocument, register_dialect
from learner.semantics.k8s import KUBERNETES_RULE_ORDER, KUBERNETES_TIER
from learner.semantics.matchers import (
    ALL_PEERS,
    ALL_PORTS,
    KNOWN_ENTITIES,
    Action,
    AllNamespacesMatcher,
    AllPodsMatcher,
    CompiledPolicy,
    EntityPeerMatcher,
    ExactNamespaceMatcher,
    FQDNPeerMatcher,
    HTTPRuleMatcher,
    IPBlockPeerMatcher,
    L7Matcher,
    LabelSelectorNamespaceMatcher,
    LabelSelectorPodMatcher,
    NamespaceMatcher,
    PeerMatcher,
    PodMatcher,
    PodPeerMatcher,
    PolicyRef,
    RuleDirection,
    RuleMatcher,
    RuleRef,
    Target,
)
from learner.semantics.ports import (
    ICMPTypeMatcher,
    PortMatcher,
    PortProtocolMatcher,
    PortRangeMatcher,
)
from learner.semantics.reader import DocumentReader, type_name
from learner.semantics.traffic import TrafficPeer

API_VERSION = "cilium.io/v2"
POLICY_KIND = "CiliumNetworkPolicy"
CLUSTERWIDE_KIND = "CiliumClusterwideNetworkPolicy"
DEFAULT_NAMESPACE = "default"

POD_NAMESPACE_KEY = "io.kubernetes.pod.namespace"
NAMESPACE_LABELS_PREFIX = "io.cilium.k8s.namespace.labels."
IGNORED_KEYS = frozenset({"io.cilium.k8s.policy.cluster"})
RESERVED_SOURCE = "reserved"
PROTOCOLS = frozenset({"TCP", "UDP", "SCTP", "ANY"})
ICMP_FAMILIES = {"IPv4": "ICMPv4", "IPv6": "ICMPv6"}
ICMP_TYPE_NAMES: dict[str, dict[str, int]] = {
    "IPv4": {
        "EchoReply": 0, "DestinationUnreachable": 3, "Redirect": 5, "Echo": 8, "EchoRequest": 8,
        "RouterAdvertisement": 9, "RouterSelection": 10, "TimeExceeded": 11,
        "ParameterProblem": 12, "Timestamp": 13, "TimestampReply": 14,
        "ExtendedEchoRequest": 42, "ExtendedEchoReply": 43,
    },
    "IPv6": {
        "DestinationUnreachable": 1, "PacketTooBig": 2, "TimeExceeded": 3,
        "ParameterProblem": 4, "EchoRequest": 128, "EchoReply": 129,
        "MulticastListenerQuery": 130, "MulticastListenerReport": 131,
        "MulticastListenerDone": 132, "RouterSolicitation": 133, "RouterAdvertisement": 134,
        "NeighborSolicitation": 135, "NeighborAdvertisement": 136, "RedirectMessage": 137,
        "ExtendedEchoRequest": 160, "ExtendedEchoReply": 161,
    },
}  # fmt: skip
"""Cilium's ICMP type names (``pkg/policy/api/icmp.go``), per family."""

DENY_ORDER = (0.0,)
"""Before every allow rule (Kubernetes' and Cilium's share :data:`KUBERNETES_RULE_ORDER`)."""
ALLOW_ORDER = KUBERNETES_RULE_ORDER

_RULE_FIELDS = frozenset(
    {"endpointSelector", "nodeSelector", "ingress", "ingressDeny", "egress", "egressDeny",
     "labels", "enableDefaultDeny", "description", "log"}
)  # fmt: skip
_SELECTOR_FIELDS = frozenset({"matchLabels", "matchExpressions"})
_CIDR_RULE_FIELDS = frozenset({"cidr", "except", "cidrGroupRef", "cidrGroupSelector"})
_FQDN_FIELDS = frozenset({"matchName", "matchPattern"})
_PORT_RULE_FIELDS = frozenset(
    {"ports", "rules", "terminatingTLS", "originatingTLS", "serverNames", "listener"}
)
_PORT_FIELDS = frozenset({"port", "endPort", "protocol"})
_L7_FIELDS = frozenset({"http", "kafka", "dns", "l7proto", "l7"})
_HTTP_FIELDS = frozenset({"method", "path", "host", "headers", "headerMatches"})
_ICMP_FIELDS = frozenset({"family", "type"})
_PORT_NAME = re.compile(r"^(?=.*[a-zA-Z])[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
_UNSUPPORTED = {
    "fromRequires": "fromRequires (deprecated in Cilium) cannot be evaluated",
    "toRequires": "toRequires (deprecated in Cilium) cannot be evaluated",
    "toServices": "toServices needs the cluster's Services and cannot be evaluated",
    "fromGroups": "fromGroups needs cloud provider groups and cannot be evaluated",
    "toGroups": "toGroups needs cloud provider groups and cannot be evaluated",
    "authentication": "mutual authentication cannot be evaluated",
}


@dataclass(frozen=True, slots=True)
class _Direction:
    rule: RuleDirection
    allow: str
    deny: str
    prefix: str
    """``from`` or ``to``."""


_INGRESS = _Direction(RuleDirection.INGRESS, "ingress", "ingressDeny", "from")
_EGRESS = _Direction(RuleDirection.EGRESS, "egress", "egressDeny", "to")


_CLUSTER_KINDS = frozenset(
    {EndpointKind.POD, EndpointKind.HOST, EndpointKind.REMOTE_NODE, EndpointKind.HEALTH}
)


@dataclass(frozen=True, slots=True)
class ExternalCIDRPeerMatcher(PeerMatcher):
    """Cilium CIDR peers: addresses in a block, but never pods, nodes or health endpoints.

    Cilium's CIDR rules do not apply where both ends are Cilium-managed or node addresses
    (``policy-cidr-match-mode`` unset), so only the world and the API server can match.
    """

    block: IPBlockPeerMatcher

    def allows(self, peer: TrafficPeer) -> bool:
        return peer.kind not in _CLUSTER_KINDS and self.block.allows(peer)

    @property
    def key(self) -> str:
        return "cidr " + self.block.key


@dataclass(frozen=True, slots=True)
class NoPeerMatcher(PeerMatcher):
    """An explicitly empty peer list (``fromEntities: []``): selects nothing."""

    def allows(self, peer: TrafficPeer) -> bool:
        return False

    @property
    def key(self) -> str:
        return "<no peer>"


NO_PEERS: tuple[PeerMatcher, ...] = (NoPeerMatcher(),)
_ALL_NAMESPACES = AllNamespacesMatcher()
_ALL_PODS = AllPodsMatcher()


@dataclass(frozen=True, slots=True)
class _Selector:
    """A Cilium endpoint selector split by what each key selects."""

    pods: LabelSelector
    namespaces: NamespaceMatcher | None
    """None: the selector says nothing about namespaces."""
    entities: tuple[str, ...] = ()
    """``reserved:`` labels required."""


def parse_cilium_policy(document: PolicyDocument) -> CompiledPolicy:
    """Compile one CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy document."""
    return _Parser(document).policy()


class _Parser(DocumentReader):
    def __init__(self, document: PolicyDocument) -> None:
        super().__init__(document)
        self.clusterwide = document.kind == CLUSTERWIDE_KIND
        self.namespace = ""
        self.ref = PolicyRef("", "")

    # --- the policy ---

    def policy(self) -> CompiledPolicy:
        body = self.document.body
        if self.document.api_version != API_VERSION:
            self.fail("apiVersion", f"expected {API_VERSION}, got {self.document.api_version!r}")
        metadata = body.get("metadata")
        if not isinstance(metadata, Mapping):
            self.fail("metadata", "missing metadata")
        name = self.string(metadata.get("name"), "metadata.name")
        if not self.clusterwide:
            self.namespace = self.string(
                metadata.get("namespace") or DEFAULT_NAMESPACE, "metadata.namespace"
            )
        self.ref = PolicyRef(
            self.namespace, name, self.document.kind, self.document.path, self.document.index
        )
        specs: list[tuple[object, str]] = []
        if body.get("spec") is not None:
            specs.append((body["spec"], "spec"))
        for i, item in enumerate(self.sequence(body.get("specs"), "specs")):
            specs.append((item, f"specs[{i}]"))
        if not specs:
            self.fail("spec", "a Cilium policy needs spec or specs")
        targets: list[Target] = []
        counters = {RuleDirection.INGRESS: 0, RuleDirection.EGRESS: 0}
        for value, where in specs:
            targets.extend(self.rule(value, where, counters))
        return CompiledPolicy(self.ref, tuple(targets))

    def rule(self, value: object, where: str, counters: dict[RuleDirection, int]) -> list[Target]:
        rule = self.mapping(value, where, _RULE_FIELDS)
        has_endpoints = rule.get("endpointSelector") is not None
        if rule.get("nodeSelector") is not None:
            if has_endpoints:
                self.fail(where, "endpointSelector and nodeSelector cannot both be set")
            if not self.clusterwide:
                self.fail(f"{where}.nodeSelector", "nodeSelector is for clusterwide policies")
            return []  # a host policy: pods are never its subjects
        if not has_endpoints:
            self.fail(f"{where}.endpointSelector", "missing endpointSelector")
        namespaces, pods = self.subject(rule["endpointSelector"], f"{where}.endpointSelector")
        default_deny = self.mapping(
            rule.get("enableDefaultDeny"),
            f"{where}.enableDefaultDeny",
            frozenset({"ingress", "egress"}),
        )
        targets = []
        for direction in (_INGRESS, _EGRESS):
            allow = self.sequence(rule.get(direction.allow), f"{where}.{direction.allow}")
            deny = self.sequence(rule.get(direction.deny), f"{where}.{direction.deny}")
            if not allow and not deny:
                continue
            isolates = default_deny.get(direction.allow, True)
            if not isinstance(isolates, bool):
                self.fail(f"{where}.enableDefaultDeny.{direction.allow}", "must be true or false")
            matchers: list[RuleMatcher] = []
            # Allow rules first, so that a single spec's ``ingress[i]`` keeps its index in
            # rule references; evaluation orders deny rules first whatever the list order.
            for action, items, section in (
                (Action.ALLOW, allow, direction.allow),
                (Action.DENY, deny, direction.deny),
            ):
                for i, item in enumerate(items):
                    ref = RuleRef(self.ref, direction.rule, counters[direction.rule])
                    counters[direction.rule] += 1
                    matchers.extend(
                        self.peer_rule(item, f"{where}.{section}[{i}]", direction, action, ref)
                    )
            targets.append(
                Target(
                    direction=direction.rule,
                    namespaces=namespaces,
                    pods=pods,
                    rules=tuple(matchers),
                    sources=(self.ref,),
                    tier=KUBERNETES_TIER,
                    isolates=isolates,
                )
            )
        return targets

    def subject(self, value: object, where: str) -> tuple[NamespaceMatcher, PodMatcher]:
        selector = self.selector(value, where)
        if selector.entities:
            self.fail(where, "an endpointSelector cannot select reserved entities")
        pods = _ALL_PODS if selector.pods.is_empty else LabelSelectorPodMatcher(selector.pods)
        if not self.clusterwide:
            # Cilium scopes a namespaced policy's subjects to its namespace, whatever is written.
            return ExactNamespaceMatcher(self.namespace), pods
        return selector.namespaces or _ALL_NAMESPACES, pods

    # --- rules ---

    def peer_rule(
        self,
        value: object,
        where: str,
        direction: _Direction,
        action: Action,
        ref: RuleRef,
    ) -> list[RuleMatcher]:
        prefix = direction.prefix
        allowed = {
            f"{prefix}Endpoints", f"{prefix}Entities", f"{prefix}CIDR", f"{prefix}CIDRSet",
            f"{prefix}Nodes", f"{prefix}Requires", f"{prefix}Groups", "toPorts", "icmps",
        }  # fmt: skip
        if direction is _EGRESS:
            allowed |= {"toServices"} if action is Action.DENY else {"toServices", "toFQDNs"}
        if action is Action.ALLOW:
            allowed.add("authentication")
        rule = self.mapping(value, where, frozenset(allowed))
        for name in rule:
            if name in _UNSUPPORTED and rule[name]:
                self.fail(f"{where}.{name}", _UNSUPPORTED[name])
        peers = self.peers(rule, where, prefix)
        port_rules = self.sequence(rule.get("toPorts"), f"{where}.toPorts")
        icmps = self.sequence(rule.get("icmps"), f"{where}.icmps")
        order = DENY_ORDER if action is Action.DENY else ALLOW_ORDER
        if peers is None:
            if not port_rules and not icmps:
                return []  # ``{}``: names no peer and no port, admits nothing
            peers = ALL_PEERS
        if not port_rules and not icmps:
            return [RuleMatcher(ref, peers, ALL_PORTS, action, order)]
        matchers = []
        for i, item in enumerate(port_rules):
            ports, http = self.port_rule(item, f"{where}.toPorts[{i}]", action)
            matchers.append(RuleMatcher(ref, peers, ports, action, order, http))
        if icmps:
            ports = self.icmp_ports(icmps, f"{where}.icmps")
            matchers.append(RuleMatcher(ref, peers, ports, action, order))
        return matchers

    def peers(
        self, rule: Mapping[str, Any], where: str, prefix: str
    ) -> tuple[PeerMatcher, ...] | None:
        """The rule's peers; None when it names none (every peer, if it has ports)."""
        found: list[PeerMatcher] = []
        named = False
        for suffix in ("Endpoints", "Entities", "CIDR", "CIDRSet", "Nodes", "FQDNs"):
            name = prefix + suffix
            if name not in rule:
                continue
            items = self.sequence(rule[name], f"{where}.{name}")
            if rule[name] is None:
                continue
            named = True
            for i, item in enumerate(items):
                found.append(self.peer(suffix, item, f"{where}.{name}[{i}]"))
        if not named:
            return None
        return tuple(found) or NO_PEERS

    def peer(self, kind: str, value: object, where: str) -> PeerMatcher:
        if kind == "Endpoints":
            selector = self.selector(value, where)
            if selector.entities:
                return EntityPeerMatcher(selector.entities)
            namespaces = selector.namespaces
            if namespaces is None:
                namespaces = (
                    _ALL_NAMESPACES if self.clusterwide else ExactNamespaceMatcher(self.namespace)
                )
            pods = _ALL_PODS if selector.pods.is_empty else LabelSelectorPodMatcher(selector.pods)
            return PodPeerMatcher(namespaces, pods)
        if kind == "Entities":
            entity = self.string(value, where)
            if entity not in KNOWN_ENTITIES and entity not in ("ingress", "unmanaged"):
                self.fail(where, f"unknown entity {entity!r}")
            return EntityPeerMatcher((entity,))
        if kind == "CIDR":
            return ExternalCIDRPeerMatcher(IPBlockPeerMatcher(self.cidr(value, where)))
        if kind == "CIDRSet":
            return self.cidr_rule(value, where)
        if kind == "Nodes":
            self.selector(value, where)
            # Node labels are not in the inventory: any node, local or remote.
            return EntityPeerMatcher(("host", "remote-node"))
        return self.fqdn(value, where)

    def cidr(self, value: object, where: str) -> str:
        text = self.string(value, where)
        try:
            if "/" not in text:
                address = ipaddress.ip_address(text)
                return f"{address}/{address.max_prefixlen}"
            return str(ipaddress.ip_network(text, strict=False))
        except ValueError:
            self.fail(where, f"{text!r} is not a valid CIDR")

    def cidr_rule(self, value: object, where: str) -> PeerMatcher:
        rule = self.mapping(value, where, _CIDR_RULE_FIELDS)
        if rule.get("cidrGroupRef") or rule.get("cidrGroupSelector"):
            self.fail(where, "CIDR groups need CiliumCIDRGroup objects and cannot be evaluated")
        cidr = self.cidr(rule.get("cidr"), f"{where}.cidr")
        network = ipaddress.ip_network(cidr)
        excepts = []
        for i, item in enumerate(self.sequence(rule.get("except"), f"{where}.except")):
            text = self.cidr(item, f"{where}.except[{i}]")
            inner = ipaddress.ip_network(text)
            if not _inside(inner, network):
                self.fail(f"{where}.except[{i}]", f"{text} is not inside cidr {cidr}")
            excepts.append(text)
        return ExternalCIDRPeerMatcher(IPBlockPeerMatcher(cidr, tuple(excepts)))

    def fqdn(self, value: object, where: str) -> PeerMatcher:
        selector = self.mapping(value, where, _FQDN_FIELDS)
        name = selector.get("matchName")
        pattern = selector.get("matchPattern")
        if (name is None) == (pattern is None):
            self.fail(where, "set exactly one of matchName and matchPattern")
        if name is not None:
            return FQDNPeerMatcher(names=(self.string(name, f"{where}.matchName"),))
        return FQDNPeerMatcher(patterns=(self.string(pattern, f"{where}.matchPattern"),))

    # --- ports ---

    def port_rule(
        self, value: object, where: str, action: Action
    ) -> tuple[tuple[PortMatcher, ...], tuple[L7Matcher, ...]]:
        allowed = _PORT_RULE_FIELDS if action is Action.ALLOW else frozenset({"ports"})
        rule = self.mapping(value, where, allowed)
        ports = tuple(
            self.port(item, f"{where}.ports[{i}]")
            for i, item in enumerate(self.sequence(rule.get("ports"), f"{where}.ports"))
        )
        rules = self.mapping(rule.get("rules"), f"{where}.rules", _L7_FIELDS)
        kinds = [name for name in ("http", "kafka", "dns", "l7proto") if rules.get(name)]
        if len(kinds) > 1:
            self.fail(f"{where}.rules", f"one kind of L7 rule per port rule, not {kinds}")
        http = tuple(
            self.http(item, f"{where}.rules.http[{i}]")
            for i, item in enumerate(self.sequence(rules.get("http"), f"{where}.rules.http"))
        )
        return ports or ALL_PORTS, http

    def port(self, value: object, where: str) -> PortMatcher:
        port = self.mapping(value, where, _PORT_FIELDS)
        protocol = port.get("protocol") or "ANY"
        if not isinstance(protocol, str) or protocol not in PROTOCOLS:
            self.fail(
                f"{where}.protocol", f"unsupported protocol {protocol!r} (TCP, UDP, SCTP, ANY)"
            )
        text = port.get("port", "0")
        if isinstance(text, int) and not isinstance(text, bool):
            text = str(text)
        if not isinstance(text, str):
            self.fail(f"{where}.port", f"must be a string, not {type_name(text)}")
        end = port.get("endPort")
        if not text.isdigit():
            if not _PORT_NAME.match(text) or len(text) > 15:
                self.fail(f"{where}.port", f"{text!r} is neither a port number nor a port name")
            if end:
                self.fail(f"{where}.endPort", "endPort needs a numeric port")
            return PortProtocolMatcher(protocol, name=text)
        number = int(text)
        if number > 65535:
            self.fail(f"{where}.port", f"{number} is not a port number (0-65535)")
        if number == 0:
            return PortProtocolMatcher(protocol)
        if not end:
            return PortProtocolMatcher(protocol, number)
        if isinstance(end, bool) or not isinstance(end, int) or not number <= end <= 65535:
            self.fail(f"{where}.endPort", f"endPort {end!r} must be a port number >= {number}")
        return PortRangeMatcher(protocol, number, end)

    def http(self, value: object, where: str) -> L7Matcher:
        rule = self.mapping(value, where, _HTTP_FIELDS)
        expressions = {}
        for name in ("method", "path"):
            text = rule.get(name) or ""
            if not isinstance(text, str):
                self.fail(f"{where}.{name}", f"must be a string, not {type_name(text)}")
            try:
                re.compile(text)
            except re.error as exc:
                self.fail(f"{where}.{name}", f"invalid regular expression: {exc}")
            expressions[name] = text
        return HTTPRuleMatcher(expressions["method"], expressions["path"])

    def icmp_ports(self, items: Sequence[Any], where: str) -> tuple[PortMatcher, ...]:
        found: list[PortMatcher] = []
        for i, item in enumerate(items):
            rule = self.mapping(item, f"{where}[{i}]", frozenset({"fields"}))
            for j, entry in enumerate(self.sequence(rule.get("fields"), f"{where}[{i}].fields")):
                at = f"{where}[{i}].fields[{j}]"
                fields = self.mapping(entry, at, _ICMP_FIELDS)
                family = fields.get("family") or "IPv4"
                if family not in ICMP_FAMILIES:
                    self.fail(f"{at}.family", f"{family!r} is not IPv4 or IPv6")
                icmp_type = fields.get("type")
                if icmp_type is None:
                    self.fail(f"{at}.type", "missing ICMP type")
                matcher = ICMPTypeMatcher(
                    ICMP_FAMILIES[family], self.icmp_type(family, icmp_type, f"{at}.type")
                )
                if matcher not in found:
                    found.append(matcher)
        if not found:
            self.fail(where, "icmps without fields")
        return tuple(found)

    def icmp_type(self, family: str, value: object, where: str) -> int:
        if isinstance(value, str) and not value.isdigit():
            number = ICMP_TYPE_NAMES[family].get(value)
            if number is None:
                self.fail(where, f"{value!r} is not an {family} ICMP type name")
            return number
        if isinstance(value, bool) or not isinstance(value, int | str):
            self.fail(where, f"must be a number or a name, not {type_name(value)}")
        number = int(value)
        if not 0 <= number <= 255:
            self.fail(where, f"{number} is not an ICMP type (0-255)")
        return number

    # --- selectors ---

    def selector(self, value: object, where: str) -> _Selector:
        selector = self.mapping(value, where, _SELECTOR_FIELDS)
        pods: list[tuple[str, str]] = []
        pod_requirements: list[Requirement] = []
        namespace_labels: list[tuple[str, str]] = []
        namespace_requirements: list[Requirement] = []
        entities: list[str] = []
        labels = self.mapping(selector.get("matchLabels"), f"{where}.matchLabels", None)
        for key, label_value in labels.items():
            at = f"{where}.matchLabels.{key}"
            if not isinstance(key, str) or not key:
                self.fail(at, "label keys must be non-empty strings")
            if label_value is None:
                label_value = ""
            if not isinstance(label_value, str):
                self.fail(at, f"label values must be strings (quote {label_value!r})")
            source, name = _split_key(key)
            if source == RESERVED_SOURCE:
                entities.append(name)
            elif name == POD_NAMESPACE_KEY:
                namespace_labels.append((NAMESPACE_NAME_LABEL, label_value))
            elif name.startswith(NAMESPACE_LABELS_PREFIX):
                namespace_labels.append((name[len(NAMESPACE_LABELS_PREFIX) :], label_value))
            elif name not in IGNORED_KEYS:
                pods.append((name, label_value))
        expressions = self.sequence(selector.get("matchExpressions"), f"{where}.matchExpressions")
        for i, item in enumerate(expressions):
            requirement = self.requirement(item, f"{where}.matchExpressions[{i}]")
            source, name = _split_key(requirement.key)
            if source == RESERVED_SOURCE:
                self.fail(f"{where}.matchExpressions[{i}]", "reserved labels only in matchLabels")
            if name == POD_NAMESPACE_KEY:
                namespace_requirements.append(
                    Requirement(NAMESPACE_NAME_LABEL, requirement.operator, requirement.values)
                )
            elif name.startswith(NAMESPACE_LABELS_PREFIX):
                namespace_requirements.append(
                    Requirement(
                        name[len(NAMESPACE_LABELS_PREFIX) :],
                        requirement.operator,
                        requirement.values,
                    )
                )
            elif name not in IGNORED_KEYS:
                pod_requirements.append(Requirement(name, requirement.operator, requirement.values))
        namespaces = _namespace_matcher(namespace_labels, namespace_requirements)
        pod_selector = LabelSelector(tuple(sorted(dict(pods).items())), tuple(pod_requirements))
        return _Selector(pod_selector, namespaces, tuple(sorted(set(entities))))


def _inside(
    inner: ipaddress.IPv4Network | ipaddress.IPv6Network,
    outer: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> bool:
    return (
        inner.version == outer.version
        and inner.prefixlen >= outer.prefixlen
        and int(inner.network_address) & int(outer.netmask) == int(outer.network_address)
    )


def _split_key(key: str) -> tuple[str, str]:
    """``k8s:app`` → (``k8s``, ``app``); Kubernetes label keys never contain ``:``."""
    source, colon, name = key.partition(":")
    return (source, name) if colon else ("", key)


def _namespace_matcher(
    labels: list[tuple[str, str]], requirements: list[Requirement]
) -> NamespaceMatcher | None:
    if not labels and not requirements:
        return None
    # The namespace label always exists, so "namespace Exists" only says "any namespace".
    requirements = [
        r
        for r in requirements
        if not (r.key == NAMESPACE_NAME_LABEL and r.operator is Operator.EXISTS)
    ]
    if not labels and not requirements:
        return _ALL_NAMESPACES
    if len(labels) == 1 and not requirements and labels[0][0] == NAMESPACE_NAME_LABEL:
        return ExactNamespaceMatcher(labels[0][1])
    selector = LabelSelector(tuple(sorted(dict(labels).items())), tuple(requirements))
    return LabelSelectorNamespaceMatcher(selector)


register_dialect(API_VERSION, POLICY_KIND, parse_cilium_policy)
register_dialect(API_VERSION, CLUSTERWIDE_KIND, parse_cilium_policy)
