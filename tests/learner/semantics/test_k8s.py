"""Kubernetes NetworkPolicy semantics: a truth table written from the Kubernetes documentation
(concepts/services-networking/network-policies) and the upstream e2e layout (pods a/b/c in
namespaces x/y/z, ports 80/81 over TCP/UDP/SCTP), then invalid documents."""

from __future__ import annotations

import pytest

from learner.model.errors import PolicyError
from learner.semantics import PolicyDocument, compile_policies
from tests.learner.semantics.truth import compile_text, documents, traffic

HEADER = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"


def policy(text: str) -> str:
    return HEADER + text


DENY_ALL_INGRESS_X = policy("""
metadata: {name: deny-all-ingress, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress]
""")
DENY_ALL_INGRESS_DEFAULTED = policy("""
metadata: {name: deny-all-ingress-defaulted, namespace: x}
spec:
  podSelector: {}
""")
EMPTY_POLICY_TYPES_WITH_EGRESS = policy("""
metadata: {name: empty-policy-types, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: []
  egress:
  - to: [{podSelector: {matchLabels: {pod: b}}}]
""")
ALLOW_ALL_INGRESS_X = policy("""
metadata: {name: allow-all-ingress, namespace: x}
spec:
  podSelector: {}
  ingress: [{}]
  policyTypes: [Ingress]
""")
DENY_ALL_EGRESS_X = policy("""
metadata: {name: deny-all-egress, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Egress]
""")
ALLOW_ALL_EGRESS_X = policy("""
metadata: {name: allow-all-egress, namespace: x}
spec:
  podSelector: {}
  egress: [{}]
  policyTypes: [Egress]
""")
DENY_ALL_BOTH_X = policy("""
metadata: {name: default-deny-all, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
""")
EMPTY_INGRESS_LIST_X = policy("""
metadata: {name: empty-ingress-list, namespace: x}
spec:
  podSelector: {}
  ingress: []
""")
ALLOW_B_TO_A = policy("""
metadata: {name: allow-b-to-a, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: b}}}]
""")
ALLOW_C_TO_A = policy("""
metadata: {name: allow-c-to-a, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: c}}}]
""")
ALLOW_NS_Y_TO_A = policy("""
metadata: {name: allow-ns-y-to-a, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {ns: y}}}]
""")
# The classic trap (kubernetes docs "Behavior of to and from selectors"): one peer with both
# selectors is AND, two peers are OR.
ALLOW_Y_B_AND = policy("""
metadata: {name: allow-y-and-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {ns: y}}
      podSelector: {matchLabels: {pod: b}}
""")
ALLOW_Y_B_OR = policy("""
metadata: {name: allow-y-or-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {ns: y}}
    - podSelector: {matchLabels: {pod: b}}
""")
ALLOW_ALL_NAMESPACES_TO_A = policy("""
metadata: {name: allow-all-namespaces, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{namespaceSelector: {}}]
""")
ALLOW_OWN_NAMESPACE_TO_A = policy("""
metadata: {name: allow-own-namespace, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{podSelector: {}}]
""")
ALLOW_B_IN_ANY_NAMESPACE_TO_A = policy("""
metadata: {name: allow-b-anywhere, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{namespaceSelector: {}, podSelector: {matchLabels: {pod: b}}}]
""")
ALLOW_NS_BY_NAME_TO_A = policy("""
metadata: {name: allow-ns-z-by-name, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: z}}}]
""")
ALLOW_PORT_80_TO_A = policy("""
metadata: {name: allow-port-80, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - ports: [{port: 80}]
""")
ALLOW_UDP_80_TO_A = policy("""
metadata: {name: allow-udp-80, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - ports: [{port: 80, protocol: UDP}]
""")
ALLOW_SCTP_TO_A = policy("""
metadata: {name: allow-sctp, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - ports: [{protocol: SCTP}]
""")
ALLOW_NAMED_PORT_TO_A = policy("""
metadata: {name: allow-named-port, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - ports: [{port: serve-81-tcp}]
""")
ALLOW_NAMED_UDP_PORT_TO_A = policy("""
metadata: {name: allow-named-udp-port, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - ports: [{port: serve-80-udp, protocol: UDP}]
""")
ALLOW_RANGE_TO_A = policy("""
metadata: {name: allow-range, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - ports: [{port: 81, endPort: 90}]
""")
ALLOW_B_ON_80_TO_A = policy("""
metadata: {name: allow-b-on-80, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: b}}}]
    ports: [{port: 80, protocol: TCP}]
""")
EGRESS_A_TO_WORLD_BLOCK = policy("""
metadata: {name: egress-to-block, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 192.0.2.0/24, except: [192.0.2.128/25]}}]
""")
EGRESS_A_TO_POD_RANGE = policy("""
metadata: {name: egress-to-pod-range, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 10.0.0.0/8}}]
""")
INGRESS_FROM_NODE_RANGE = policy("""
metadata: {name: ingress-from-nodes, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{ipBlock: {cidr: 10.1.0.0/16}}]
""")
EGRESS_RULES_WITHOUT_TYPES = policy("""
metadata: {name: egress-rules-no-types, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  egress:
  - to: [{podSelector: {matchLabels: {pod: b}}}]
""")
EGRESS_ONLY_WITH_INGRESS_RULES = policy("""
metadata: {name: egress-only, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  ingress:
  - from: [{podSelector: {matchLabels: {pod: b}}}]
  egress:
  - to: [{namespaceSelector: {matchLabels: {ns: y}}}]
""")
EXPR_IN = policy("""
metadata: {name: expr-in, namespace: x}
spec:
  podSelector: {matchExpressions: [{key: pod, operator: In, values: [a, b]}]}
  ingress: []
""")
EXPR_NOT_IN = policy("""
metadata: {name: expr-not-in, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{podSelector: {matchExpressions: [{key: pod, operator: NotIn, values: [b]}]}}]
""")
EXPR_EXISTS_NS = policy("""
metadata: {name: expr-exists, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{namespaceSelector: {matchExpressions: [{key: ns, operator: Exists}]}}]
""")
EXPR_DOES_NOT_EXIST = policy("""
metadata: {name: expr-does-not-exist, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {}
      podSelector: {matchExpressions: [{key: tier, operator: DoesNotExist}]}
    ports: [{port: 81}]
""")
EXPR_NOT_IN_MISSING_KEY = policy("""
metadata: {name: expr-not-in-missing-key, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{podSelector: {matchExpressions: [{key: tier, operator: NotIn, values: [web]}]}}]
""")
NO_NAMESPACE = (
    HEADER
    + """
metadata: {name: no-namespace}
spec:
  podSelector: {}
"""
)
DENY_ALL_INGRESS_Y = policy("""
metadata: {name: deny-all-ingress, namespace: y}
spec:
  podSelector: {}
  policyTypes: [Ingress]
""")
ALLOW_EGRESS_A_TO_Y_B = policy("""
metadata: {name: allow-egress-to-y-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {ns: y}}, podSelector: {matchLabels: {pod: b}}}]
    ports: [{port: 80}]
""")
ALLOW_INGRESS_Y_B_FROM_X_A = policy("""
metadata: {name: allow-from-x-a, namespace: y}
spec:
  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {ns: x}}, podSelector: {matchLabels: {pod: a}}}]
""")


def both(*texts: str) -> str:
    return "---\n".join(texts)


CASES = [
    # --- no policy, deny-all, allow-all (docs "Default policies") ---
    ("no-policies", "", "x/b", "x/a", "80/TCP", True),
    ("deny-all-ingress blocks same-ns", DENY_ALL_INGRESS_X, "x/b", "x/a", "80/TCP", False),
    ("deny-all-ingress blocks cross-ns", DENY_ALL_INGRESS_X, "y/a", "x/a", "81/UDP", False),
    ("deny-all-ingress blocks world", DENY_ALL_INGRESS_X, "world", "x/c", "80/TCP", False),
    ("deny-all-ingress leaves egress open", DENY_ALL_INGRESS_X, "x/a", "y/a", "80/TCP", True),
    ("deny-all-ingress other ns unaffected", DENY_ALL_INGRESS_X, "y/a", "y/b", "80/TCP", True),
    ("policyTypes defaulted to Ingress", DENY_ALL_INGRESS_DEFAULTED, "y/b", "x/a", "80/TCP", False),
    ("defaulted types leave egress open", DENY_ALL_INGRESS_DEFAULTED, "x/a", "y/b", "80/TCP", True),
    ("empty ingress list denies", EMPTY_INGRESS_LIST_X, "x/b", "x/a", "80/TCP", False),
    ("allow-all-ingress", ALLOW_ALL_INGRESS_X, "z/c", "x/a", "81/SCTP", True),
    ("allow-all-ingress world", ALLOW_ALL_INGRESS_X, "world", "x/b", "80/TCP", True),
    (
        "allow-all-ingress wins over deny-all",
        both(DENY_ALL_INGRESS_X, ALLOW_ALL_INGRESS_X),
        "y/c",
        "x/a",
        "80/UDP",
        True,
    ),
    ("deny-all-egress blocks pods", DENY_ALL_EGRESS_X, "x/a", "x/b", "80/TCP", False),
    ("deny-all-egress blocks world", DENY_ALL_EGRESS_X, "x/a", "world", "443/TCP", False),
    ("deny-all-egress leaves ingress open", DENY_ALL_EGRESS_X, "y/a", "x/a", "80/TCP", True),
    ("allow-all-egress", ALLOW_ALL_EGRESS_X, "x/a", "world", "443/TCP", True),
    ("deny-all-both egress", DENY_ALL_BOTH_X, "x/a", "y/a", "80/TCP", False),
    ("deny-all-both ingress", DENY_ALL_BOTH_X, "y/a", "x/a", "80/TCP", False),
    ("deny-all-both within ns", DENY_ALL_BOTH_X, "x/a", "x/b", "80/TCP", False),
    # --- podSelector / namespaceSelector / AND vs OR ---
    ("podSelector peer admits b", ALLOW_B_TO_A, "x/b", "x/a", "80/TCP", True),
    ("podSelector peer rejects c", ALLOW_B_TO_A, "x/c", "x/a", "80/TCP", False),
    ("podSelector peer is own-namespace only", ALLOW_B_TO_A, "y/b", "x/a", "80/TCP", False),
    ("policy selects only pod a", ALLOW_B_TO_A, "x/c", "x/b", "80/TCP", True),
    ("namespaceSelector peer admits y/c", ALLOW_NS_Y_TO_A, "y/c", "x/a", "81/TCP", True),
    ("namespaceSelector peer rejects z", ALLOW_NS_Y_TO_A, "z/c", "x/a", "81/TCP", False),
    ("namespaceSelector peer rejects own ns", ALLOW_NS_Y_TO_A, "x/b", "x/a", "81/TCP", False),
    ("AND admits y/b", ALLOW_Y_B_AND, "y/b", "x/a", "80/TCP", True),
    ("AND rejects y/c", ALLOW_Y_B_AND, "y/c", "x/a", "80/TCP", False),
    ("AND rejects x/b", ALLOW_Y_B_AND, "x/b", "x/a", "80/TCP", False),
    ("AND rejects z/b", ALLOW_Y_B_AND, "z/b", "x/a", "80/TCP", False),
    ("OR admits y/c", ALLOW_Y_B_OR, "y/c", "x/a", "80/TCP", True),
    ("OR admits x/b", ALLOW_Y_B_OR, "x/b", "x/a", "80/TCP", True),
    ("OR rejects z/b", ALLOW_Y_B_OR, "z/b", "x/a", "80/TCP", False),
    ("OR rejects x/c", ALLOW_Y_B_OR, "x/c", "x/a", "80/TCP", False),
    ("empty namespaceSelector: all ns", ALLOW_ALL_NAMESPACES_TO_A, "z/c", "x/a", "80/TCP", True),
    (
        "empty namespaceSelector: not world",
        ALLOW_ALL_NAMESPACES_TO_A,
        "world",
        "x/a",
        "80/TCP",
        False,
    ),
    ("empty podSelector peer: own ns", ALLOW_OWN_NAMESPACE_TO_A, "x/c", "x/a", "80/TCP", True),
    ("empty podSelector peer: not y", ALLOW_OWN_NAMESPACE_TO_A, "y/c", "x/a", "80/TCP", False),
    ("both selectors: b anywhere", ALLOW_B_IN_ANY_NAMESPACE_TO_A, "z/b", "x/a", "80/TCP", True),
    ("both selectors: not c", ALLOW_B_IN_ANY_NAMESPACE_TO_A, "z/c", "x/a", "80/TCP", False),
    ("namespace by metadata.name", ALLOW_NS_BY_NAME_TO_A, "z/a", "x/a", "80/TCP", True),
    ("namespace by metadata.name: not y", ALLOW_NS_BY_NAME_TO_A, "y/a", "x/a", "80/TCP", False),
    # --- ports, protocols, named ports, endPort ---
    ("port 80 defaults to TCP", ALLOW_PORT_80_TO_A, "y/b", "x/a", "80/TCP", True),
    ("port 80 TCP not UDP", ALLOW_PORT_80_TO_A, "y/b", "x/a", "80/UDP", False),
    ("port 80 not 81", ALLOW_PORT_80_TO_A, "y/b", "x/a", "81/TCP", False),
    ("UDP 80", ALLOW_UDP_80_TO_A, "y/b", "x/a", "80/UDP", True),
    ("UDP 80 not TCP", ALLOW_UDP_80_TO_A, "y/b", "x/a", "80/TCP", False),
    ("protocol without port: all SCTP", ALLOW_SCTP_TO_A, "z/a", "x/a", "81/SCTP", True),
    ("protocol without port: not TCP", ALLOW_SCTP_TO_A, "z/a", "x/a", "81/TCP", False),
    ("named port matches 81/TCP", ALLOW_NAMED_PORT_TO_A, "x/b", "x/a", "81/TCP", True),
    ("named port not 80/TCP", ALLOW_NAMED_PORT_TO_A, "x/b", "x/a", "80/TCP", False),
    ("named port not 81/UDP", ALLOW_NAMED_PORT_TO_A, "x/b", "x/a", "81/UDP", False),
    ("named UDP port", ALLOW_NAMED_UDP_PORT_TO_A, "x/b", "x/a", "80/UDP", True),
    ("named UDP port not TCP", ALLOW_NAMED_UDP_PORT_TO_A, "x/b", "x/a", "80/TCP", False),
    ("endPort range start", ALLOW_RANGE_TO_A, "y/a", "x/a", "81/TCP", True),
    ("endPort range end", ALLOW_RANGE_TO_A, "y/a", "x/a", "90/TCP", True),
    ("endPort range below", ALLOW_RANGE_TO_A, "y/a", "x/a", "80/TCP", False),
    ("endPort range above", ALLOW_RANGE_TO_A, "y/a", "x/a", "91/TCP", False),
    ("peer and port both needed", ALLOW_B_ON_80_TO_A, "x/b", "x/a", "80/TCP", True),
    ("peer right, port wrong", ALLOW_B_ON_80_TO_A, "x/b", "x/a", "81/TCP", False),
    ("port right, peer wrong", ALLOW_B_ON_80_TO_A, "x/c", "x/a", "80/TCP", False),
    # --- ipBlock ---
    ("ipBlock admits address", EGRESS_A_TO_WORLD_BLOCK, "x/a", "world", "443/TCP", True),
    ("ipBlock except", EGRESS_A_TO_WORLD_BLOCK, "x/a", "world-excepted", "443/TCP", False),
    ("ipBlock outside cidr", EGRESS_A_TO_WORLD_BLOCK, "x/a", "other-world", "443/TCP", False),
    ("ipBlock egress isolates pods too", EGRESS_A_TO_WORLD_BLOCK, "x/a", "x/b", "80/TCP", False),
    ("ipBlock never matches pod IPs", EGRESS_A_TO_POD_RANGE, "x/a", "y/b", "80/TCP", False),
    ("ipBlock covers remote node", INGRESS_FROM_NODE_RANGE, "remote-node", "x/a", "80/TCP", True),
    # --- policyTypes defaulting, egress-only ---
    ("egress rules default Egress type", EGRESS_RULES_WITHOUT_TYPES, "x/a", "x/b", "80/TCP", True),
    (
        "egress rules default: egress isolated",
        EGRESS_RULES_WITHOUT_TYPES,
        "x/a",
        "x/c",
        "80/TCP",
        False,
    ),
    (
        "egress rules default: ingress isolated",
        EGRESS_RULES_WITHOUT_TYPES,
        "x/b",
        "x/a",
        "80/TCP",
        False,
    ),
    ("egress-only: ingress open", EGRESS_ONLY_WITH_INGRESS_RULES, "z/c", "x/a", "80/TCP", True),
    ("egress-only: egress to y", EGRESS_ONLY_WITH_INGRESS_RULES, "x/a", "y/c", "80/TCP", True),
    ("egress-only: egress not to x", EGRESS_ONLY_WITH_INGRESS_RULES, "x/a", "x/b", "80/TCP", False),
    (
        "empty policyTypes: Egress defaulted",
        EMPTY_POLICY_TYPES_WITH_EGRESS,
        "x/a",
        "x/c",
        "80/TCP",
        False,
    ),
    (
        "empty policyTypes: Ingress defaulted",
        EMPTY_POLICY_TYPES_WITH_EGRESS,
        "x/c",
        "x/a",
        "80/TCP",
        False,
    ),
    # --- matchExpressions ---
    ("In selects a", EXPR_IN, "y/a", "x/a", "80/TCP", False),
    ("In selects b", EXPR_IN, "y/a", "x/b", "80/TCP", False),
    ("In does not select c", EXPR_IN, "y/a", "x/c", "80/TCP", True),
    ("NotIn admits c", EXPR_NOT_IN, "x/c", "x/a", "80/TCP", True),
    ("NotIn rejects b", EXPR_NOT_IN, "x/b", "x/a", "80/TCP", False),
    ("NotIn admits missing key", EXPR_NOT_IN_MISSING_KEY, "x/b", "x/a", "80/TCP", True),
    ("Exists on namespace label", EXPR_EXISTS_NS, "z/b", "x/a", "80/TCP", True),
    ("DoesNotExist admits", EXPR_DOES_NOT_EXIST, "y/c", "x/a", "81/TCP", True),
    ("DoesNotExist still port-bound", EXPR_DOES_NOT_EXIST, "y/c", "x/a", "80/TCP", False),
    # --- union of policies, both sides ---
    ("union: first policy", both(ALLOW_B_TO_A, ALLOW_C_TO_A), "x/b", "x/a", "80/TCP", True),
    ("union: second policy", both(ALLOW_B_TO_A, ALLOW_C_TO_A), "x/c", "x/a", "80/TCP", True),
    ("union: neither", both(ALLOW_B_TO_A, ALLOW_C_TO_A), "y/b", "x/a", "80/TCP", False),
    (
        "egress allowed, ingress denied",
        both(ALLOW_EGRESS_A_TO_Y_B, DENY_ALL_INGRESS_Y),
        "x/a",
        "y/b",
        "80/TCP",
        False,
    ),
    (
        "egress and ingress both allow",
        both(ALLOW_EGRESS_A_TO_Y_B, DENY_ALL_INGRESS_Y, ALLOW_INGRESS_Y_B_FROM_X_A),
        "x/a",
        "y/b",
        "80/TCP",
        True,
    ),
    (
        "ingress allows, egress port denies",
        both(ALLOW_EGRESS_A_TO_Y_B, ALLOW_INGRESS_Y_B_FROM_X_A),
        "x/a",
        "y/b",
        "81/TCP",
        False,
    ),
    ("isolation only where listed", ALLOW_EGRESS_A_TO_Y_B, "y/c", "x/a", "81/TCP", True),
    ("world destination is never isolated", DENY_ALL_INGRESS_X, "x/a", "world", "80/TCP", True),
    ("world source, egress side open", DENY_ALL_EGRESS_X, "world", "y/a", "80/TCP", True),
    # --- host traffic, default namespace ---
    ("own node always allowed in", DENY_ALL_INGRESS_X, "host", "x/a", "80/TCP", True),
    ("own node allowed despite both", DENY_ALL_BOTH_X, "host", "x/b", "8080/TCP", True),
    ("remote node is not exempt", DENY_ALL_INGRESS_X, "remote-node", "x/a", "80/TCP", False),
    ("egress to own node is policed", DENY_ALL_EGRESS_X, "x/a", "host", "10250/TCP", False),
    ("missing namespace means default", NO_NAMESPACE, "x/a", "x/b", "80/TCP", True),
]


@pytest.mark.parametrize(
    ("policies", "source", "destination", "port", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_truth_table(
    policies: str, source: str, destination: str, port: str, expected: bool
) -> None:
    decision = compile_text(policies).evaluate(traffic(source, destination, port))
    assert decision.allowed is expected, decision.reason


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 60
    assert len({case[0] for case in CASES}) == len(CASES)


def test_missing_namespace_selects_default_namespace() -> None:
    policies = compile_text(NO_NAMESPACE)
    decision = policies.evaluate(traffic("x/a", "x/b"))
    assert decision.allowed
    [compiled] = policies.policies
    assert compiled.ref.namespace == "default"


def test_decision_names_the_deciding_policies() -> None:
    policies = compile_text(both(ALLOW_B_TO_A, ALLOW_C_TO_A, DENY_ALL_INGRESS_X))
    denied = policies.evaluate(traffic("y/b", "x/a"))
    assert not denied.allowed
    assert [side.direction for side in denied.denied_by] == ["Ingress"]
    assert sorted(p.name for p in denied.policies) == [
        "allow-b-to-a",
        "allow-c-to-a",
        "deny-all-ingress",
    ]
    assert "isolated for ingress" in denied.reason
    allowed = policies.evaluate(traffic("x/c", "x/a"))
    assert [str(rule) for rule in allowed.ingress.rules] == ["x/allow-c-to-a ingress rule 1"]
    assert allowed.egress.outcome == "not isolated"


def test_rules_can_be_described() -> None:
    policies = compile_text(ALLOW_B_ON_80_TO_A)
    [ref] = policies.rules
    assert policies.rule_matcher(ref).key == "Allow x/pod=b on 80/TCP"
    decision = policies.evaluate(traffic("x/b", "x/a"))
    assert decision.reason == (
        "allowed (egress allowed: no policy isolates x/pod=b for egress; "
        "ingress allowed by x/allow-b-on-80 ingress rule 1)"
    )


def test_union_lists_every_allowing_rule() -> None:
    policies = compile_text(both(ALLOW_Y_B_OR, ALLOW_B_ON_80_TO_A))
    decision = policies.evaluate(traffic("x/b", "x/a", "80/TCP"))
    assert sorted(str(rule) for rule in decision.ingress.rules) == [
        "x/allow-b-on-80 ingress rule 1",
        "x/allow-y-or-b ingress rule 1",
    ]


def test_ipv6_ip_block() -> None:
    text = policy("""
metadata: {name: v6, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: "2001:db8::/32", except: ["2001:db8:ff::/48"]}}]
""")
    from learner.semantics import Traffic, TrafficPeer
    from tests.learner.semantics.truth import pod

    policies = compile_text(text)

    def to(ip: str) -> bool:
        return policies.evaluate(
            Traffic(pod("x/a"), TrafficPeer(kind="world", ip=ip), "TCP", 443)
        ).allowed

    assert to("2001:db8:1::5")
    assert not to("2001:db8:ff::5")
    assert not to("2001:db9::1")
    assert not to("192.0.2.10")


# --- invalid documents -----------------------------------------------------------------------

INVALID = [
    (
        "bad apiVersion",
        "apiVersion: networking.k8s.io/v1beta1\nkind: NetworkPolicy\n"
        "metadata: {name: p, namespace: x}\nspec: {podSelector: {}}\n",
        "apiVersion",
        "unsupported apiVersion 'networking.k8s.io/v1beta1'",
    ),
    (
        "misspelt kind",
        "apiVersion: networking.k8s.io/v1\nkind: Networkpolicy\n"
        "metadata: {name: p, namespace: x}\nspec: {podSelector: {}}\n",
        "kind",
        "did you mean NetworkPolicy",
    ),
    (
        "unknown operator",
        policy("""
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchExpressions: [{key: app, operator: Equals, values: [a]}]}
"""),
        "spec.podSelector.matchExpressions[0].operator",
        "unknown operator 'Equals'",
    ),
    (
        "bad CIDR",
        policy("""
metadata: {name: p, namespace: x}
spec:
  podSelector: {}
  ingress: [{from: [{ipBlock: {cidr: 10.0.0.300/8}}]}]
"""),
        "spec.ingress[0].from[0].ipBlock.cidr",
        "not a valid CIDR",
    ),
    (
        "CIDR without prefix",
        policy("""
metadata: {name: p, namespace: x}
spec:
  podSelector: {}
  ingress: [{from: [{ipBlock: {cidr: 10.0.0.1}}]}]
"""),
        "spec.ingress[0].from[0].ipBlock.cidr",
        "not a CIDR",
    ),
    (
        "except outside cidr",
        policy("""
metadata: {name: p, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.1.0.0/24]}}]}]
"""),
        "spec.egress[0].to[0].ipBlock.except[0]",
        "not inside cidr",
    ),
    (
        "endPort below port",
        policy("""
metadata: {name: p, namespace: x}
spec:
  podSelector: {}
  ingress: [{ports: [{port: 90, endPort: 80}]}]
"""),
        "spec.ingress[0].ports[0].endPort",
        "below port 90",
    ),
    (
        "endPort with named port",
        policy("""
metadata: {name: p, namespace: x}
spec:
  podSelector: {}
  ingress: [{ports: [{port: http, endPort: 80}]}]
"""),
        "spec.ingress[0].ports[0].endPort",
        "named",
    ),
    (
        "ipBlock with selector",
        policy("""
metadata: {name: p, namespace: x}
spec:
  podSelector: {}
  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]
"""),
        "spec.ingress[0].from[0]",
        "cannot be combined",
    ),
    (
        "unknown protocol",
        policy("""
metadata: {name: p, namespace: x}
spec:
  podSelector: {}
  ingress: [{ports: [{port: 80, protocol: ICMP}]}]
"""),
        "spec.ingress[0].ports[0].protocol",
        "unsupported protocol 'ICMP'",
    ),
    (
        "misspelt field",
        policy("""
metadata: {name: p, namespace: x}
spec:
  podSelector: {}
  ingres: [{}]
"""),
        "spec.ingres",
        "unknown field",
    ),
    (
        "bad policyType",
        policy("""
metadata: {name: p, namespace: x}
spec:
  podSelector: {}
  policyTypes: [ingress]
"""),
        "spec.policyTypes[0]",
        "not Ingress or Egress",
    ),
    (
        "label value not a string",
        policy("""
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {enabled: true}}
"""),
        "spec.podSelector.matchLabels.enabled",
        "must be strings",
    ),
    (
        "In without values",
        policy("""
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchExpressions: [{key: app, operator: In}]}
"""),
        "spec.podSelector.matchExpressions[0].values",
        "at least one value",
    ),
    (
        "empty peer",
        policy("""
metadata: {name: p, namespace: x}
spec:
  podSelector: {}
  ingress: [{from: [{}]}]
"""),
        "spec.ingress[0].from[0]",
        "needs podSelector, namespaceSelector or ipBlock",
    ),
    (
        "port out of range",
        policy("""
metadata: {name: p, namespace: x}
spec:
  podSelector: {}
  ingress: [{ports: [{port: 70000}]}]
"""),
        "spec.ingress[0].ports[0].port",
        "not a port number",
    ),
    (
        "quoted port number",
        policy("""
metadata: {name: p, namespace: x}
spec:
  podSelector: {}
  ingress: [{ports: [{port: "80"}]}]
"""),
        "spec.ingress[0].ports[0].port",
        "neither a port number nor a port name",
    ),
    (
        "missing name",
        policy("""
metadata: {namespace: x}
spec: {podSelector: {}}
"""),
        "metadata.name",
        "non-empty string",
    ),
]


@pytest.mark.parametrize(
    ("text", "field", "reason"), [pytest.param(*case[1:], id=case[0]) for case in INVALID]
)
def test_invalid_document_names_file_document_and_field(text: str, field: str, reason: str) -> None:
    valid = ALLOW_B_TO_A
    docs = documents(both(valid, text, valid.replace("allow-b-to-a", "allow-b-to-a-again")))
    errors: list[PolicyError] = []
    policies = compile_policies(docs, errors=errors)
    [error] = errors
    assert (error.path, error.document, error.field) == ("policies.yaml", 1, field)
    assert reason in error.reason
    assert str(error).startswith(f"policies.yaml document 1 ({field}): ")
    # The valid documents around the bad one still compile and decide.
    assert [p.ref.name for p in policies.policies] == ["allow-b-to-a", "allow-b-to-a-again"]
    assert policies.evaluate(traffic("x/b", "x/a")).allowed
    assert not policies.evaluate(traffic("x/c", "x/a")).allowed


def test_invalid_document_raises_without_error_list() -> None:
    docs = documents(INVALID[2][1])
    with pytest.raises(PolicyError, match=r"policies.yaml document 0 .*unknown operator"):
        compile_policies(docs)


def test_list_item_errors_name_the_item() -> None:
    body = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "p", "namespace": "x"},
        "spec": {"podSelector": {"matchLabels": {"n": 1}}},
    }
    with pytest.raises(PolicyError) as raised:
        compile_policies([PolicyDocument("dump.yaml", 0, body, item=3)])
    assert raised.value.field == "items[3].spec.podSelector.matchLabels.n"


def test_unsupported_but_known_dialect_is_reported() -> None:
    body = {
        "apiVersion": "policy.networking.k8s.io/v1alpha1",
        "kind": "AdminNetworkPolicy",
        "metadata": {"name": "p"},
        "spec": {},
    }
    with pytest.raises(PolicyError, match="cannot be evaluated yet"):
        compile_policies([PolicyDocument("anp.yaml", 0, body)])
