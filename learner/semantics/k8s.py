"""Kubernetes NetworkPolicy (``networking.k8s.io/v1``) compiled into targets and matchers.

Defaults and cases are decided here and nowhere else:

* ``metadata.namespace`` missing: ``default``. ``spec.podSelector`` missing or ``{}``: every
  pod of the namespace.
* ``policyTypes`` missing or empty: ``Ingress``, plus ``Egress`` when ``spec.egress`` has at
  least one rule (the API server's defaulting). A direction not listed isolates nothing, even
  when rules for it are written.
* A rule without ``from``/``to`` admits every peer; without ``ports``, every port.
* A peer, by which selectors are set (missing or ``null`` = not set, ``{}`` = empty):

  ============== ================== ============================================
  podSelector    namespaceSelector  matches
  ============== ================== ============================================
  set            not set            pods matching it in the policy's namespace
  not set        set                every pod in namespaces matching it
  set            set                pods matching podSelector *in* namespaces
                                    matching namespaceSelector (AND, one peer)
  ``{}``         ``{}``             every pod in every namespace
  ============== ================== ============================================

  ``ipBlock`` stands alone and matches addresses that are not pods (world, nodes, the API
  server): pod traffic is matched by selectors only, as Cilium does; Kubernetes leaves it to the
  plugin ("these should be cluster-external IPs").
* A port's ``protocol`` defaults to TCP; ``port`` missing means every port of the protocol; a
  string ``port`` is a named container port of the destination pod; ``endPort`` makes an
  inclusive range.

Anything the API server would reject is a :class:`~learner.errors.PolicyError` naming the field.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from learner.model.flow import make_labels
from learner.model.policy import LabelSelector
from learner.semantics.dialects import PolicyDocument, register_dialect
from learner.semantics.matchers import (
    ALL_PEERS,
    ALL_PORTS,
    AllNamespacesMatcher,
    AllPodsMatcher,
    CompiledPolicy,
    ExactNamespaceMatcher,
    IPBlockPeerMatcher,
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
    Tier,
    parse_network,
)
from learner.semantics.ports import PortMatcher, PortProtocolMatcher, PortRangeMatcher
from learner.semantics.reader import DocumentReader

API_VERSION = "networking.k8s.io/v1"
KIND = "NetworkPolicy"
DEFAULT_NAMESPACE = "default"
PROTOCOLS = ("TCP", "UDP", "SCTP")

KUBERNETES_TIER = Tier(order=1_000_000.0, name="default")
"""Where Kubernetes policies sit among tiered dialects: Calico's default tier."""
KUBERNETES_RULE_ORDER = (1000.0,)
"""One order for every rule, so that matching rules form a union (Calico's order for them)."""

_SPEC_FIELDS = frozenset({"podSelector", "policyTypes", "ingress", "egress"})
_PEER_FIELDS = frozenset({"podSelector", "namespaceSelector", "ipBlock"})
_SELECTOR_FIELDS = frozenset({"matchLabels", "matchExpressions"})
_IPBLOCK_FIELDS = frozenset({"cidr", "except"})
_PORT_FIELDS = frozenset({"protocol", "port", "endPort"})
_PORT_NAME = re.compile(r"^(?=.*[a-z])[a-z0-9]([a-z0-9-]*[a-z0-9])?$")

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_DIRECTIONS = {
    RuleDirection.INGRESS: ("ingress", "from"),
    RuleDirection.EGRESS: ("egress", "to"),
}
_ALL_NAMESPACES = AllNamespacesMatcher()
_ALL_PODS = AllPodsMatcher()


def parse_network_policy(document: PolicyDocument) -> CompiledPolicy:
    """Compile one NetworkPolicy document; raises :class:`~learner.errors.PolicyError`."""
    return _Parser(document).policy()


class _Parser(DocumentReader):
    # --- the policy ---

    def policy(self) -> CompiledPolicy:
        body = self.document.body
        if self.document.kind != KIND:
            self.fail("kind", f"expected {KIND}, got {self.document.kind!r}")
        if self.document.api_version != API_VERSION:
            self.fail("apiVersion", f"expected {API_VERSION}, got {self.document.api_version!r}")
        metadata = body.get("metadata")
        if not isinstance(metadata, Mapping):
            self.fail("metadata", "missing metadata")
        name = self.string(metadata.get("name"), "metadata.name")
        namespace = self.string(
            metadata.get("namespace") or DEFAULT_NAMESPACE, "metadata.namespace"
        )
        ref = PolicyRef(namespace, name, KIND, self.document.path, self.document.index)
        spec = self.mapping(body.get("spec"), "spec", _SPEC_FIELDS)
        pods = self.pod_matcher(spec.get("podSelector"), "spec.podSelector")
        targets = []
        for direction in self.policy_types(spec):
            section, _ = _DIRECTIONS[direction]
            rules = tuple(
                self.rule(rule, f"spec.{section}[{i}]", direction, RuleRef(ref, direction, i), ref)
                for i, rule in enumerate(self.sequence(spec.get(section), f"spec.{section}"))
            )
            targets.append(
                Target(
                    direction=direction,
                    namespaces=ExactNamespaceMatcher(namespace),
                    pods=pods,
                    rules=rules,
                    sources=(ref,),
                    tier=KUBERNETES_TIER,
                )
            )
        return CompiledPolicy(ref, tuple(targets))

    def policy_types(self, spec: Mapping[str, Any]) -> tuple[RuleDirection, ...]:
        written = self.sequence(spec.get("policyTypes"), "spec.policyTypes")
        if not written:
            # The API server's defaulting for manifests that leave policyTypes out.
            egress = self.sequence(spec.get("egress"), "spec.egress")
            return (
                (RuleDirection.INGRESS, RuleDirection.EGRESS)
                if egress
                else (RuleDirection.INGRESS,)
            )
        found = []
        for i, value in enumerate(written):
            try:
                found.append(RuleDirection(value))
            except ValueError:
                self.fail(f"spec.policyTypes[{i}]", f"{value!r} is not Ingress or Egress")
        return tuple(dict.fromkeys(sorted(found)))

    def rule(
        self,
        value: object,
        field: str,
        direction: RuleDirection,
        ref: RuleRef,
        policy: PolicyRef,
    ) -> RuleMatcher:
        _, peers_field = _DIRECTIONS[direction]
        rule = self.mapping(value, field, frozenset({peers_field, "ports"}))
        peers = tuple(
            self.peer(peer, f"{field}.{peers_field}[{i}]", policy.namespace)
            for i, peer in enumerate(self.sequence(rule.get(peers_field), f"{field}.{peers_field}"))
        )
        ports = tuple(
            self.port(port, f"{field}.ports[{i}]")
            for i, port in enumerate(self.sequence(rule.get("ports"), f"{field}.ports"))
        )
        return RuleMatcher(
            ref=ref,
            peers=peers or ALL_PEERS,
            ports=ports or ALL_PORTS,
            order=KUBERNETES_RULE_ORDER,
        )

    # --- peers ---

    def peer(self, value: object, field: str, namespace: str) -> PeerMatcher:
        peer = self.mapping(value, field, _PEER_FIELDS)
        pod_selector = peer.get("podSelector")
        namespace_selector = peer.get("namespaceSelector")
        ip_block = peer.get("ipBlock")
        if ip_block is not None:
            if pod_selector is not None or namespace_selector is not None:
                self.fail(field, "ipBlock cannot be combined with podSelector or namespaceSelector")
            return self.ip_block(ip_block, f"{field}.ipBlock")
        if pod_selector is None and namespace_selector is None:
            self.fail(field, "a peer needs podSelector, namespaceSelector or ipBlock")
        namespaces: NamespaceMatcher
        if namespace_selector is None:
            namespaces = ExactNamespaceMatcher(namespace)
        else:
            selector = self.selector(namespace_selector, f"{field}.namespaceSelector")
            namespaces = (
                _ALL_NAMESPACES if selector.is_empty else LabelSelectorNamespaceMatcher(selector)
            )
        pods = self.pod_matcher(pod_selector, f"{field}.podSelector")
        return PodPeerMatcher(namespaces, pods)

    def pod_matcher(self, value: object, field: str) -> PodMatcher:
        selector = self.selector(value, field)
        return _ALL_PODS if selector.is_empty else LabelSelectorPodMatcher(selector)

    def ip_block(self, value: object, field: str) -> IPBlockPeerMatcher:
        block = self.mapping(value, field, _IPBLOCK_FIELDS)
        cidr = self.string(block.get("cidr"), f"{field}.cidr")
        network = self.network(cidr, f"{field}.cidr")
        excepts = []
        for i, item in enumerate(self.sequence(block.get("except"), f"{field}.except")):
            where = f"{field}.except[{i}]"
            text = self.string(item, where)
            excepted = self.network(text, where)
            if not _inside(excepted, network):
                self.fail(where, f"{text} is not inside cidr {cidr}")
            excepts.append(text)
        return IPBlockPeerMatcher(cidr, tuple(excepts))

    def network(self, text: str, field: str) -> _Network:
        if "/" not in text:
            self.fail(field, f"{text!r} is not a CIDR (write an address with a prefix length)")
        try:
            return parse_network(text)
        except ValueError:
            self.fail(field, f"{text!r} is not a valid CIDR")

    # --- selectors ---

    def selector(self, value: object, field: str) -> LabelSelector:
        selector = self.mapping(value, field, _SELECTOR_FIELDS)
        labels = self.mapping(selector.get("matchLabels"), f"{field}.matchLabels", None)
        pairs = []
        for key, label_value in labels.items():
            where = f"{field}.matchLabels.{key}"
            if not isinstance(key, str) or not key:
                self.fail(where, "label keys must be non-empty strings")
            if not isinstance(label_value, str):
                self.fail(where, f"label values must be strings (quote {label_value!r})")
            pairs.append((key, label_value))
        requirements = tuple(
            self.requirement(item, f"{field}.matchExpressions[{i}]")
            for i, item in enumerate(
                self.sequence(selector.get("matchExpressions"), f"{field}.matchExpressions")
            )
        )
        return LabelSelector(make_labels(pairs), requirements)

    # --- ports ---

    def port(self, value: object, field: str) -> PortMatcher:
        port = self.mapping(value, field, _PORT_FIELDS)
        protocol = port.get("protocol", "TCP")
        if protocol not in PROTOCOLS:
            self.fail(f"{field}.protocol", f"unsupported protocol {protocol!r} (TCP, UDP or SCTP)")
        number = port.get("port")
        end = port.get("endPort")
        if number is None:
            if end is not None:
                self.fail(f"{field}.endPort", "endPort needs a numeric port")
            return PortProtocolMatcher(protocol)
        if isinstance(number, str):
            if end is not None:
                self.fail(f"{field}.endPort", "endPort needs a numeric port, not a named one")
            if not _PORT_NAME.match(number) or len(number) > 15:
                self.fail(f"{field}.port", f"{number!r} is neither a port number nor a port name")
            return PortProtocolMatcher(protocol, name=number)
        start = self.port_number(number, f"{field}.port")
        if end is None:
            return PortProtocolMatcher(protocol, start)
        stop = self.port_number(end, f"{field}.endPort")
        if stop < start:
            self.fail(f"{field}.endPort", f"endPort {stop} is below port {start}")
        return PortRangeMatcher(protocol, start, stop)

    def port_number(self, value: object, field: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            self.fail(field, f"{value!r} is not a port number (1-65535)")
        return value


def _inside(inner: _Network, outer: _Network) -> bool:
    return (
        inner.version == outer.version
        and inner.prefixlen >= outer.prefixlen
        and int(inner.network_address) & int(outer.netmask) == int(outer.network_address)
    )


register_dialect(API_VERSION, KIND, parse_network_policy)
