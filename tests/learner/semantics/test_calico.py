"""Calico policy semantics: (policies, traffic, expected) tables written from tigera/docs
``calico/reference/resources/{networkpolicy,globalnetworkpolicy,stagednetworkpolicy,tier}.mdx``
and the rule/entity-rule/ports includes, then invalid documents."""

from __future__ import annotations

import pytest
import yaml

from learner.model.errors import PolicyError
from learner.model.flow import HTTPRequest
from learner.semantics import (
    PolicyDocument,
    PolicySet,
    Traffic,
    TrafficPeer,
    compile_policies,
    parse_document,
)
from learner.semantics.calico import register_tier

NP = "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\n"
GNP = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\n"
SNP = "apiVersion: projectcalico.org/v3\nkind: StagedNetworkPolicy\n"


def pod(namespace: str, ns_labels: tuple[tuple[str, str], ...] = (), **labels: str) -> TrafficPeer:
    return TrafficPeer("pod", namespace, tuple(sorted(labels.items())), ns_labels)


WEB = pod("shop", app="web")
API = pod("shop", app="api", tier="backend")
DB = pod("shop", app="db")
GW = pod("edge", (("team", "platform"),), app="gw")
OTHER_API = pod("lab", app="api")
WORLD = TrafficPeer("world", ip="203.0.113.10")
WORLD_UNKNOWN = TrafficPeer("world")
METADATA = TrafficPeer("world", ip="169.254.169.254")
STRIPE = TrafficPeer("world", ip="198.51.100.7", names=("api.stripe.com",))


def traffic(
    source: TrafficPeer,
    destination: TrafficPeer,
    port: int = 8080,
    protocol: str = "TCP",
    port_name: str = "",
    http: HTTPRequest | None = None,
) -> Traffic:
    return Traffic(source, destination, protocol, port, port_name, http)


def compiled(*texts: str) -> PolicySet:
    documents = []
    for i, text in enumerate(texts):
        for j, body in enumerate(yaml.safe_load_all(text)):
            documents.append(PolicyDocument(f"policy-{i}.yaml", j, body))
    return compile_policies(documents)


API_FROM_WEB = (
    NP
    + """
metadata: {name: api, namespace: shop}
spec:
  selector: app == 'api'
  ingress:
  - action: Allow
    protocol: TCP
    source: {selector: app == 'web'}
    destination: {ports: [8080, '9000:9100', metrics]}
"""
)
API_FROM_GW_NAMESPACE = (
    NP
    + """
metadata: {name: api, namespace: shop}
spec:
  selector: app == 'api' && has(tier)
  types: [Ingress]
  ingress:
  - action: Allow
    source:
      selector: app == 'gw'
      namespaceSelector: projectcalico.org/name == 'edge'
"""
)
API_FROM_PLATFORM_TEAM = (
    NP
    + """
metadata: {name: api, namespace: shop}
spec:
  selector: app == 'api'
  ingress:
  - action: Allow
    source: {namespaceSelector: team == 'platform'}
"""
)
WEB_EGRESS_NETS = (
    NP
    + """
metadata: {name: web, namespace: shop}
spec:
  selector: app == 'web'
  egress:
  - action: Deny
    destination: {nets: [169.254.169.254/32]}
  - action: Allow
    protocol: TCP
    destination:
      nets: [0.0.0.0/0, '::/0']
      notNets: [203.0.113.0/24]
      ports: [443]
"""
)
WEB_EGRESS_DOMAINS = (
    NP
    + """
metadata: {name: web, namespace: shop}
spec:
  selector: app == 'web'
  types: [Egress]
  egress:
  - action: Allow
    protocol: TCP
    destination: {domains: ['*.stripe.com'], ports: [443]}
"""
)
ORDERED = (
    NP
    + """
metadata: {name: deny-db, namespace: shop}
spec:
  order: 100
  selector: app == 'db'
  ingress:
  - action: Log
  - action: Deny
    source: {selector: app == 'web'}
---
"""
    + NP
    + """
metadata: {name: allow-db, namespace: shop}
spec:
  order: 200
  selector: app == 'db'
  ingress:
  - action: Allow
"""
)
TIERED = (
    """
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100}
---
"""
    + GNP
    + """
metadata: {name: security.web}
spec:
  tier: security
  order: 10
  selector: app == 'web'
  types: [Egress]
  egress:
  - action: Deny
    protocol: UDP
  - action: Pass
    protocol: TCP
    destination: {ports: [8080]}
---
"""
    + NP
    + """
metadata: {name: web, namespace: shop}
spec:
  selector: app == 'web'
  types: [Egress]
  egress:
  - action: Allow
    destination: {selector: app == 'api'}
"""
)
GLOBAL = (
    GNP
    + """
metadata: {name: backend-from-platform}
spec:
  selector: has(tier)
  namespaceSelector: projectcalico.org/name in {'shop', 'lab'}
  ingress:
  - action: Allow
    source:
      selector: app == 'gw'
"""
)
NEGATIONS = (
    NP
    + """
metadata: {name: api, namespace: shop}
spec:
  selector: app == 'api'
  ingress:
  - action: Allow
    protocol: TCP
    source: {notSelector: app == 'db'}
    destination: {notPorts: [22]}
  - action: Allow
    notProtocol: UDP
    source: {selector: app == 'gw', namespaceSelector: all()}
"""
)
WEB_EGRESS_PING = (
    NP
    + """
metadata: {name: web, namespace: shop}
spec:
  selector: app == 'web'
  egress:
  - action: Allow
    protocol: ICMP
    icmp: {type: 8}
"""
)
OWN_END = (
    NP
    + """
metadata: {name: all, namespace: shop}
spec:
  selector: all()
  types: [Ingress]
  ingress:
  - action: Allow
    destination: {selector: tier == 'backend'}
"""
)
CALICO_KEYS = (
    NP
    + """
metadata: {name: api, namespace: shop}
spec:
  selector: projectcalico.org/orchestrator == 'k8s' && app == 'api'
  ingress:
  - action: Allow
    source:
      selector: pcns.team == 'platform' && projectcalico.org/namespace == 'edge'
      namespaceSelector: all()
"""
)
HTTP_ONLY_GET = (
    NP
    + """
metadata: {name: api, namespace: shop}
spec:
  selector: app == 'api'
  ingress:
  - action: Allow
    protocol: TCP
    http:
      methods: [GET]
      paths: [{prefix: /v1/}, {exact: /healthz}]
"""
)
STAGED = (
    SNP
    + """
metadata: {name: api, namespace: shop}
spec:
  stagedAction: Set
  selector: app == 'api'
  types: [Ingress]
"""
)
STAGED_DELETE = (
    SNP
    + """
metadata: {name: api, namespace: shop}
spec: {stagedAction: Delete}
"""
)
STAGED_KUBERNETES = """
apiVersion: projectcalico.org/v3
kind: StagedKubernetesNetworkPolicy
metadata: {name: api, namespace: shop}
spec:
  stagedAction: Set
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
"""
KUBERNETES_ALLOW = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress: [{}]
"""
CALICO_DENY_WEB = (
    NP
    + """
metadata: {name: no-web, namespace: shop}
spec:
  order: 10
  selector: app == 'api'
  ingress:
  - action: Deny
    source: {selector: app == 'web'}
"""
)
EGRESS_ONLY_RULES = (
    NP
    + """
metadata: {name: web, namespace: shop}
spec:
  selector: app == 'web'
  egress:
  - action: Allow
    destination: {selector: app == 'api'}
"""
)

CASES = [
    # selectors, ports, ranges, named ports
    ("same-namespace selector", [API_FROM_WEB], traffic(WEB, API), True),
    ("port range", [API_FROM_WEB], traffic(WEB, API, 9050), True),
    ("port outside", [API_FROM_WEB], traffic(WEB, API, 9101), False),
    ("named port", [API_FROM_WEB], traffic(WEB, API, 9999, port_name="metrics"), True),
    ("wrong protocol", [API_FROM_WEB], traffic(WEB, API, 8080, "UDP"), False),
    ("selector is namespaced", [API_FROM_WEB], traffic(pod("lab", app="web"), API), False),
    ("not selected: not isolated", [API_FROM_WEB], traffic(DB, OTHER_API), True),
    ("namespaceSelector by name", [API_FROM_GW_NAMESPACE], traffic(GW, API), True),
    (
        "selector needs has(tier)",
        [API_FROM_GW_NAMESPACE],
        traffic(WEB, pod("shop", app="api")),
        True,
    ),
    ("other namespace denied", [API_FROM_GW_NAMESPACE], traffic(pod("lab", app="gw"), API), False),
    ("namespaceSelector alone", [API_FROM_PLATFORM_TEAM], traffic(GW, API), True),
    ("namespaceSelector alone, pods only", [API_FROM_PLATFORM_TEAM], traffic(WORLD, API), False),
    # nets, notNets, deny before allow
    ("deny metadata service", [WEB_EGRESS_NETS], traffic(WEB, METADATA, 443), False),
    (
        "allowed world",
        [WEB_EGRESS_NETS],
        traffic(WEB, TrafficPeer("world", ip="8.8.8.8"), 443),
        True,
    ),
    ("notNets", [WEB_EGRESS_NETS], traffic(WEB, WORLD, 443), False),
    ("unknown address in 0.0.0.0/0", [WEB_EGRESS_NETS], traffic(WEB, WORLD_UNKNOWN, 443), True),
    ("nets do not match pods without address", [WEB_EGRESS_NETS], traffic(WEB, API, 443), False),
    ("domains", [WEB_EGRESS_DOMAINS], traffic(WEB, STRIPE, 443), True),
    ("domains need the name", [WEB_EGRESS_DOMAINS], traffic(WEB, WORLD, 443), False),
    # order across policies, Log goes on
    ("lower order decides first", [ORDERED], traffic(WEB, DB), False),
    ("next policy allows", [ORDERED], traffic(API, DB), True),
    # tiers
    ("tier deny", [TIERED], traffic(WEB, API, 53, "UDP"), False),
    ("pass to the default tier", [TIERED], traffic(WEB, API, 8080), True),
    ("pass, then no rule", [TIERED], traffic(WEB, DB, 8080), False),
    ("end of tier denies", [TIERED], traffic(WEB, API, 9090), False),
    # global policies
    ("global selects across namespaces", [GLOBAL], traffic(DB, pod("lab", tier="x")), False),
    ("global: unselected namespace", [GLOBAL], traffic(DB, pod("edge", tier="x")), True),
    ("global rule selector spans namespaces", [GLOBAL], traffic(GW, API), True),
    # negations
    ("notSelector", [NEGATIONS], traffic(DB, API), False),
    ("notPorts", [NEGATIONS], traffic(WEB, API, 22), False),
    ("notProtocol", [NEGATIONS], traffic(GW, API, 53, "UDP"), False),
    ("notProtocol admits others", [NEGATIONS], traffic(GW, API, 0, "ICMPv4"), True),
    ("negations allow the rest", [NEGATIONS], traffic(WEB, API, 8443), True),
    # ICMP types (the type travels as the port; 0: not recorded)
    ("icmp type", [WEB_EGRESS_PING], traffic(WEB, WORLD, 8, "ICMPv4"), True),
    ("icmp other type", [WEB_EGRESS_PING], traffic(WEB, WORLD, 13, "ICMPv4"), False),
    ("icmp type not recorded", [WEB_EGRESS_PING], traffic(WEB, WORLD, 0, "ICMPv4"), True),
    ("icmp is v4 only", [WEB_EGRESS_PING], traffic(WEB, WORLD, 128, "ICMPv6"), False),
    ("notSelector admits non-pods", [NEGATIONS], traffic(WORLD, API, 443), True),
    (
        "negations: UDP not allowed by the first rule",
        [NEGATIONS],
        traffic(WEB, API, 53, "UDP"),
        False,
    ),
    # criteria on the policy's own end
    ("own-end selector holds", [OWN_END], traffic(WEB, API), True),
    ("own-end selector fails: isolated", [OWN_END], traffic(API, WEB), False),
    # labels Calico adds
    ("pcns. and projectcalico.org keys", [CALICO_KEYS], traffic(GW, API), True),
    ("pcns. mismatch", [CALICO_KEYS], traffic(pod("edge", app="gw"), API), False),
    # HTTP
    ("http prefix", [HTTP_ONLY_GET], traffic(WEB, API, http=HTTPRequest("GET", "/v1/items")), True),
    ("http exact", [HTTP_ONLY_GET], traffic(WEB, API, http=HTTPRequest("GET", "/healthz")), True),
    ("http method", [HTTP_ONLY_GET], traffic(WEB, API, http=HTTPRequest("POST", "/v1/x")), False),
    ("http path", [HTTP_ONLY_GET], traffic(WEB, API, http=HTTPRequest("GET", "/admin")), False),
    ("connection-level", [HTTP_ONLY_GET], traffic(WEB, API), True),
    # staged policies are evaluated as if enforced
    ("staged isolates", [STAGED], traffic(WEB, API), False),
    ("staged delete is nothing", [STAGED_DELETE], traffic(WEB, API), True),
    ("staged kubernetes", [STAGED_KUBERNETES], traffic(WEB, API), True),
    ("staged kubernetes isolates", [STAGED_KUBERNETES], traffic(DB, API), False),
    # with Kubernetes policies in the default tier: order decides
    ("calico deny before k8s allow", [CALICO_DENY_WEB, KUBERNETES_ALLOW], traffic(WEB, API), False),
    ("k8s allow for the rest", [CALICO_DENY_WEB, KUBERNETES_ALLOW], traffic(DB, API), True),
    # types default
    ("egress rules only: egress isolated", [EGRESS_ONLY_RULES], traffic(WEB, DB), False),
    ("egress rules only: ingress open", [EGRESS_ONLY_RULES], traffic(DB, WEB), True),
]


@pytest.mark.parametrize(
    ("policies", "connection", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_semantics(policies: list[str], connection: Traffic, expected: bool) -> None:
    decision = compiled(*policies).evaluate(connection)
    assert decision.allowed is expected, decision.reason


def test_decisions_name_the_deciding_rule() -> None:
    decision = compiled(ORDERED).evaluate(traffic(WEB, DB))
    assert [r.key for r in decision.ingress.rules] == ["shop/deny-db ingress rule 2"]
    assert "Deny" in str(decision.reason) or "denied by" in decision.reason


def test_an_unknown_tier_sorts_before_default() -> None:
    register_tier("late", 2_000_000.0)
    late = (
        NP
        + """
metadata: {name: late.deny, namespace: shop}
spec:
  tier: late
  selector: app == 'api'
  ingress: [{action: Deny}]
"""
    )
    early = late.replace("late", "audit")
    allow = KUBERNETES_ALLOW
    assert compiled(late, allow).evaluate(traffic(WEB, API)).allowed  # default tier first
    assert not compiled(early, allow).evaluate(traffic(WEB, API)).allowed


def test_rule_keys_are_readable() -> None:
    policies = compiled(WEB_EGRESS_NETS)
    keys = [rule.key for rule in policies.targets[0].rules]
    assert "169.254.169.254/32" in keys[0] and "Deny" in keys[0]
    assert "443/TCP" in keys[1]


INVALID = [
    ("spec:\n  selector: app = 'x'\n", "spec.selector", "invalid selector"),
    ("spec:\n  ingress: [{action: Allow, destination: {ports: [80]}}]\n", "destination.ports", "need protocol"),
    ("spec:\n  ingress: [{action: Allow, protocol: TCP, destination: {ports: ['90:80']}}]\n", "ports[0]", "not a port range"),
    ("spec:\n  ingress: [{action: Allow, protocol: TCP, source: {ports: [1]}}]\n", "source.ports", "source ports"),
    ("spec:\n  ingress: [{action: Accept}]\n", "ingress[0].action", "not Allow, Deny, Pass or Log"),
    ("spec:\n  ingress: [{action: Allow, source: {serviceAccounts: {names: [a]}}}]\n", "serviceAccounts", "service accounts"),
    ("spec:\n  ingress: [{action: Allow, destination: {services: {name: a}}}]\n", "services", "Service objects"),
    ("spec:\n  serviceAccountSelector: a == 'b'\n", "spec.serviceAccountSelector", "service accounts"),
    ("spec:\n  selectr: all()\n", "spec.selectr", "unknown field"),
    ("spec:\n  egress: [{action: Allow, destination: {nets: [10.0.0.300/8]}}]\n", "nets[0]", "not an address"),
    ("spec:\n  ingress: [{action: Allow, protocol: GRE}]\n", "protocol", "unknown protocol"),
    ("spec:\n  types: [Inbound]\n", "spec.types[0]", "not Ingress or Egress"),
    ("spec:\n  order: first\n", "spec.order", "must be a number"),
    ("spec:\n  namespaceSelector: all()\n", "spec.namespaceSelector", "only global policies"),
    ("spec:\n  ingress: [{action: Allow, source: {domains: [a.com]}}]\n", "source.domains", "destinations"),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "where", "reason"), INVALID, ids=[i[1] for i in INVALID])
def test_invalid_documents_name_the_field(spec: str, where: str, reason: str) -> None:
    body = yaml.safe_load(NP + "metadata: {name: p, namespace: shop}\n" + spec)
    with pytest.raises(PolicyError) as raised:
        parse_document(PolicyDocument("bad.yaml", 3, body))
    assert where in raised.value.field
    assert reason in raised.value.reason
    assert str(raised.value).startswith("bad.yaml document 3")
