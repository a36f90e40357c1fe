"""Each matcher answers its one question; dialect matchers (entities, FQDN, HTTP) included."""

from __future__ import annotations

import pytest

from learner.model.flow import HTTPRequest
from learner.model.policy import LabelSelector, Operator, Requirement
from learner.semantics import (
    AllNamespacesMatcher,
    AllPodsMatcher,
    EntityPeerMatcher,
    ExactNamespaceMatcher,
    FQDNPeerMatcher,
    HTTPRuleMatcher,
    IPBlockPeerMatcher,
    LabelSelectorNamespaceMatcher,
    LabelSelectorPodMatcher,
    PodPeerMatcher,
    PolicyRef,
    PortProtocolMatcher,
    PortRangeMatcher,
    RuleDirection,
    RuleMatcher,
    RuleRef,
    Traffic,
    TrafficPeer,
    selector_matches,
)
from tests.learner.semantics.truth import HOST, REMOTE_NODE, WORLD, pod

RULE = RuleRef(PolicyRef("x", "p"), RuleDirection.INGRESS, 0)


def world(ip: str, *names: str) -> TrafficPeer:
    return TrafficPeer(kind="world", ip=ip, names=names)


@pytest.mark.parametrize(
    ("cidr", "excepts", "ip", "expected"),
    [
        ("192.0.2.0/24", (), "192.0.2.1", True),
        ("192.0.2.0/24", (), "192.0.3.1", False),
        ("192.0.2.0/24", ("192.0.2.0/28",), "192.0.2.5", False),
        ("192.0.2.0/24", ("192.0.2.0/28",), "192.0.2.16", True),
        ("0.0.0.0/0", ("10.0.0.0/8",), "8.8.8.8", True),
        ("0.0.0.0/0", ("10.0.0.0/8",), "10.9.9.9", False),
        ("0.0.0.0/0", (), "2001:db8::1", False),
        ("::/0", (), "2001:db8::1", True),
        ("2001:db8::/64", ("2001:db8::/120",), "2001:db8::ff", False),
        ("2001:db8::/64", ("2001:db8::/120",), "2001:db8::100", True),
        ("192.0.2.7/24", (), "192.0.2.200", True),
        ("192.0.2.0/24", (), "pub", False),
        ("192.0.2.0/24", (), "", False),
    ],
)
def test_ip_block(cidr: str, excepts: tuple[str, ...], ip: str, expected: bool) -> None:
    assert IPBlockPeerMatcher(cidr, excepts).allows(world(ip)) is expected


def test_ip_block_ignores_pods_unless_told() -> None:
    a = pod("x/a")  # 10.0.1.1
    assert not IPBlockPeerMatcher("10.0.0.0/8").allows(a)
    assert IPBlockPeerMatcher("10.0.0.0/8", matches_pods=True).allows(a)
    assert IPBlockPeerMatcher("10.1.0.0/16").allows(HOST)


def test_namespace_and_pod_matchers() -> None:
    a = pod("y/a")
    assert ExactNamespaceMatcher("y").allows(a)
    assert not ExactNamespaceMatcher("x").allows(a)
    assert AllNamespacesMatcher().allows(a)
    ns_y = LabelSelector(match_labels=(("ns", "y"),))
    assert LabelSelectorNamespaceMatcher(ns_y).allows(a)
    by_name = LabelSelector(match_labels=(("kubernetes.io/metadata.name", "y"),))
    assert LabelSelectorNamespaceMatcher(by_name).allows(a), "the name label is implicit"
    assert LabelSelectorPodMatcher(LabelSelector(match_labels=(("pod", "a"),))).allows(a)
    assert not LabelSelectorPodMatcher(LabelSelector(match_labels=(("pod", "b"),))).allows(a)
    peer_matcher = PodPeerMatcher(ExactNamespaceMatcher("y"), AllPodsMatcher())
    assert peer_matcher.allows(a)
    assert not peer_matcher.allows(WORLD), "pod matchers never match non-pods"
    assert peer_matcher.key == "y/<all pods>"


@pytest.mark.parametrize(
    ("requirement", "labels", "expected"),
    [
        (Requirement("app", Operator.IN, ("a", "b")), {"app": "a"}, True),
        (Requirement("app", Operator.IN, ("a", "b")), {"app": "c"}, False),
        (Requirement("app", Operator.IN, ("a",)), {}, False),
        (Requirement("app", Operator.NOT_IN, ("a",)), {"app": "b"}, True),
        (Requirement("app", Operator.NOT_IN, ("a",)), {"app": "a"}, False),
        (Requirement("app", Operator.NOT_IN, ("a",)), {}, True),
        (Requirement("app", Operator.EXISTS), {"app": ""}, True),
        (Requirement("app", Operator.EXISTS), {"other": "x"}, False),
        (Requirement("app", Operator.DOES_NOT_EXIST), {}, True),
        (Requirement("app", Operator.DOES_NOT_EXIST), {"app": "a"}, False),
    ],
)
def test_selector_operators(
    requirement: Requirement, labels: dict[str, str], expected: bool
) -> None:
    selector = LabelSelector(match_expressions=(requirement,))
    assert selector_matches(selector, labels) is expected


def test_selector_labels_and_expressions_are_anded() -> None:
    selector = LabelSelector(
        match_labels=(("tier", "web"),),
        match_expressions=(Requirement("env", Operator.IN, ("prod",)),),
    )
    assert selector_matches(selector, {"tier": "web", "env": "prod"})
    assert not selector_matches(selector, {"tier": "web", "env": "dev"})
    assert not selector_matches(selector, {"env": "prod"})
    assert selector_matches(LabelSelector(), {})


@pytest.mark.parametrize(
    ("matcher", "protocol", "port", "name", "expected"),
    [
        (PortProtocolMatcher("TCP", 80), "TCP", 80, "", True),
        (PortProtocolMatcher("TCP", 80), "UDP", 80, "", False),
        (PortProtocolMatcher("TCP", 80), "TCP", 81, "", False),
        (PortProtocolMatcher("UDP"), "UDP", 5353, "", True),
        (PortProtocolMatcher("UDP"), "ICMPv4", 0, "", False),
        (PortProtocolMatcher("TCP", name="http"), "TCP", 8080, "http", True),
        (PortProtocolMatcher("TCP", name="http"), "TCP", 8080, "", False),
        (PortProtocolMatcher("TCP", name="http"), "UDP", 8080, "http", False),
        (PortProtocolMatcher("ANY", 53), "UDP", 53, "", True),
        (PortProtocolMatcher("ANY", 53), "TCP", 53, "", True),
        (PortProtocolMatcher("ANY", 53), "ICMPv4", 53, "", False),
        (PortRangeMatcher("TCP", 8000, 8100), "TCP", 8000, "", True),
        (PortRangeMatcher("TCP", 8000, 8100), "TCP", 8100, "", True),
        (PortRangeMatcher("TCP", 8000, 8100), "TCP", 8101, "", False),
        (PortRangeMatcher("TCP", 8000, 8100), "SCTP", 8050, "", False),
    ],
)
def test_port_matchers(
    matcher: PortProtocolMatcher | PortRangeMatcher,
    protocol: str,
    port: int,
    name: str,
    expected: bool,
) -> None:
    assert matcher.allows(protocol, port, name) is expected


@pytest.mark.parametrize(
    ("entities", "peer", "expected"),
    [
        (("world",), WORLD, True),
        (("world",), HOST, False),
        (("world-ipv4",), WORLD, True),
        (("world-ipv6",), WORLD, False),
        (("world-ipv6",), world("2001:db8::1"), True),
        (("host",), HOST, True),
        (("remote-node",), REMOTE_NODE, True),
        (("cluster",), pod("x/a"), True),
        (("cluster",), REMOTE_NODE, True),
        (("cluster",), WORLD, False),
        (("kube-apiserver",), TrafficPeer(kind="kube-apiserver", ip="10.96.0.1"), True),
        (("all",), WORLD, True),
        (("none",), WORLD, False),
    ],
)
def test_entity_matcher(entities: tuple[str, ...], peer: TrafficPeer, expected: bool) -> None:
    assert EntityPeerMatcher(entities).allows(peer) is expected


@pytest.mark.parametrize(
    ("names", "patterns", "observed", "expected"),
    [
        (("api.example.com",), (), ("api.example.com",), True),
        (("api.example.com",), (), ("API.Example.com.",), True),
        (("api.example.com",), (), ("www.example.com",), False),
        ((), ("*.example.com",), ("api.example.com",), True),
        ((), ("*.example.com",), ("example.com",), False),
        ((), ("*.example.com",), ("a.b.example.com",), False),
        ((), ("**.example.com",), ("a.b.example.com",), True),
        ((), ("api-*.example.com",), ("api-eu.example.com",), True),
        ((), ("*",), ("anything.at.all",), True),
        ((), ("*.example.com",), (), False),
    ],
)
def test_fqdn_matcher(
    names: tuple[str, ...], patterns: tuple[str, ...], observed: tuple[str, ...], expected: bool
) -> None:
    matcher = FQDNPeerMatcher(names, patterns)
    assert matcher.allows(world("192.0.2.10", *observed)) is expected


def test_fqdn_matcher_never_matches_pods() -> None:
    peer = TrafficPeer(kind="pod", namespace="x", names=("api.example.com",))
    assert not FQDNPeerMatcher(("api.example.com",)).allows(peer)


def test_http_constraint_applies_to_requests_only() -> None:
    rule = RuleMatcher(ref=RULE, http=(HTTPRuleMatcher("GET", "/api/.*"),))
    a, b = pod("x/a"), pod("x/b")
    connection = Traffic(b, a, "TCP", 80)
    assert rule.allows(b, connection), "a connection is allowed at L3/L4"
    get = Traffic(b, a, "TCP", 80, http=HTTPRequest("GET", "/api/v1/items"))
    post = Traffic(b, a, "TCP", 80, http=HTTPRequest("POST", "/api/v1/items"))
    other = Traffic(b, a, "TCP", 80, http=HTTPRequest("GET", "/admin/api/x"))
    assert rule.allows(b, get)
    assert not rule.allows(b, post)
    assert not rule.allows(b, other), "paths match in full"


def test_traffic_peer_derives_lookups_once() -> None:
    peer = TrafficPeer(kind="pod", namespace="x", labels=(("app", "web"),), ip="10.0.0.1")
    assert peer.label_map == {"app": "web"}
    assert peer.namespace_label_map == {"kubernetes.io/metadata.name": "x"}
    assert (peer.ip_version, peer.ip_value) == (4, 0x0A000001)
    assert peer == TrafficPeer(kind="pod", namespace="x", labels=(("app", "web"),), ip="10.0.0.1")
    assert hash(peer) == hash(
        TrafficPeer(kind="pod", namespace="x", labels=(("app", "web"),), ip="10.0.0.1")
    )
