"""CiliumNetworkPolicy semantics: (policy, traffic, expected) tables written from the Cilium
policy documentation (security/policy: language, kubernetes, deny, layer 7) and the CRD field
descriptions (pkg/policy/api), then invalid documents."""

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
from learner.semantics.cilium import parse_cilium_policy

CNP = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n"
CCNP = "apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\n"


def pod(namespace: str, namespace_labels: tuple[tuple[str, str], ...] = (), **labels: str) -> TrafficPeer:  # fmt: skip
    return TrafficPeer("pod", namespace, tuple(sorted(labels.items())), namespace_labels)


WEB = pod("shop", app="web")
DB = pod("shop", app="db")
GW = pod("edge", (("team", "platform"),), app="gw")
WORLD = TrafficPeer("world", ip="203.0.113.10")
GITHUB = TrafficPeer("world", ip="140.82.112.3", names=("api.github.com",))
BUCKET = TrafficPeer("world", ip="52.216.1.1", names=("logs.s3.amazonaws.com",))
HOST = TrafficPeer("host", ip="10.1.0.1")
REMOTE_NODE = TrafficPeer("remote-node", ip="10.1.0.2")
APISERVER = TrafficPeer("kube-apiserver", ip="10.1.0.100")
UNMANAGED_DNS = TrafficPeer("unmanaged", ip="10.0.3.53")
INGRESS_PROXY = TrafficPeer("ingress", ip="10.0.0.99")


def compiled(*texts: str) -> PolicySet:
    documents = [
        PolicyDocument(f"policy-{i}.yaml", 0, yaml.safe_load(text)) for i, text in enumerate(texts)
    ]
    return compile_policies(documents)


def allowed(policies: PolicySet, traffic: Traffic) -> bool:
    return policies.evaluate(traffic).allowed


WEB_INGRESS_FROM_GW = (
    CNP
    + """
metadata: {name: web, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEndpoints:
    - matchLabels: {app: gw, k8s:io.kubernetes.pod.namespace: edge}
    toPorts: [{ports: [{port: "8080", protocol: TCP}]}]
"""
)
WEB_INGRESS_SAME_NAMESPACE = (
    CNP
    + """
metadata: {name: web, namespace: shop}
spec:
  endpointSelector: {matchLabels: {"k8s:app": web}}
  ingress:
  - fromEndpoints: [{matchLabels: {"any:app": db}}]
"""
)
WEB_INGRESS_NAMESPACE_LABELS = (
    CNP
    + """
metadata: {name: web, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEndpoints: [{matchLabels: {"k8s:io.cilium.k8s.namespace.labels.team": platform}}]
"""
)
WEB_INGRESS_ANY_NAMESPACE = (
    CNP
    + """
metadata: {name: web, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEndpoints:
    - matchLabels: {app: gw}
      matchExpressions: [{key: k8s:io.kubernetes.pod.namespace, operator: Exists}]
"""
)
WEB_INGRESS_PORTS_ONLY = (
    CNP
    + """
metadata: {name: web, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - toPorts: [{ports: [{port: "443"}]}]
"""
)
WEB_INGRESS_EMPTY_RULE = (
    CNP
    + """
metadata: {name: web, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress: [{}]
"""
)
WEB_INGRESS_NO_ENTITY = (
    CNP
    + """
metadata: {name: web, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress: [{fromEntities: []}]
"""
)
WEB_INGRESS_EMPTY_LIST = (
    CNP
    + """
metadata: {name: web, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress: []
"""
)
WEB_EGRESS_ENTITIES = (
    CNP
    + """
metadata: {name: web, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  egress:
  - toEntities: [kube-apiserver, world]
  - toEntities: [cluster]
    toPorts: [{ports: [{port: "9000", protocol: TCP}]}]
"""
)
WEB_EGRESS_CIDR = (
    CNP
    + """
metadata: {name: web, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  egress:
  - toCIDRSet: [{cidr: 203.0.113.0/24, except: [203.0.113.128/25]}]
  - toCIDR: [10.0.0.0/8]
"""
)
WEB_EGRESS_FQDN = (
    CNP
    + """
metadata: {name: web, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  egress:
  - toFQDNs: [{matchName: api.github.com}, {matchPattern: "*.s3.amazonaws.com"}]
    toPorts: [{ports: [{port: "443", protocol: TCP}]}]
"""
)
WEB_EGRESS_PORTS = (
    CNP
    + """
metadata: {name: web, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  egress:
  - toEndpoints: [{}]
    toPorts:
    - ports:
      - {port: "53"}
      - {port: "8000", endPort: 8010, protocol: TCP}
      - {port: http, protocol: TCP}
      - {port: "0", protocol: SCTP}
  - toEntities: [world]
    icmps: [{fields: [{family: IPv4, type: 8}]}]
"""
)
WEB_EGRESS_DENY = (
    CNP
    + """
metadata: {name: web, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  egress:
  - toEntities: [all]
  egressDeny:
  - toEntities: [world]
    toPorts: [{ports: [{port: "25", protocol: TCP}]}]
"""
)
DENY_ONLY = (
    CNP
    + """
metadata: {name: deny-db, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  egressDeny:
  - toEndpoints: [{matchLabels: {app: db}}]
"""
)
DENY_ONLY_ADDITIVE = (
    CNP
    + """
metadata: {name: deny-db, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  enableDefaultDeny: {egress: false}
  egressDeny:
  - toEndpoints: [{matchLabels: {app: db}}]
"""
)
K8S_ALLOW_ALL_EGRESS = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{}]
"""
WEB_HTTP = (
    CNP
    + """
metadata: {name: web, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: gw, k8s:io.kubernetes.pod.namespace: edge}}]
    toPorts:
    - ports: [{port: "8080", protocol: TCP}]
      rules:
        http:
        - {method: GET, path: "^/api/v1/users/[0-9]+$"}
        - {method: "POST|PUT", path: "/orders"}
    - ports: [{port: "9090", protocol: TCP}]
"""
)
CLUSTERWIDE_DNS = (
    CCNP
    + """
metadata: {name: dns}
spec:
  endpointSelector:
    matchExpressions: [{key: k8s:io.kubernetes.pod.namespace, operator: In, values: [shop]}]
  enableDefaultDeny: {egress: false, ingress: false}
  egress:
  - toEndpoints: [{matchLabels: {k8s-app: kube-dns, k8s:io.kubernetes.pod.namespace: kube-system}}]
    toPorts: [{ports: [{port: "53", protocol: ANY}], rules: {dns: [{matchPattern: "*"}]}}]
"""
)
CLUSTERWIDE_ALL_PODS = (
    CCNP
    + """
metadata: {name: lock-ingress}
specs:
- endpointSelector: {matchLabels: {app: web}}
  ingress: [{fromEndpoints: [{matchLabels: {app: gw}}]}]
- nodeSelector: {matchLabels: {role: worker}}
  ingress: [{fromEntities: [cluster]}]
"""
)
KUBE_DNS = TrafficPeer("pod", "kube-system", (("k8s-app", "kube-dns"),))

CASES = [
    # Peers: namespaces, label sources, entities, CIDRs, FQDNs.
    (WEB_INGRESS_FROM_GW, Traffic(GW, WEB, "TCP", 8080), True),
    (WEB_INGRESS_FROM_GW, Traffic(GW, WEB, "TCP", 8081), False),
    (WEB_INGRESS_FROM_GW, Traffic(pod("shop", app="gw"), WEB, "TCP", 8080), False),
    (WEB_INGRESS_FROM_GW, Traffic(GW, pod("other", app="web"), "TCP", 8080), True),
    (WEB_INGRESS_SAME_NAMESPACE, Traffic(DB, WEB, "UDP", 5), True),
    (WEB_INGRESS_SAME_NAMESPACE, Traffic(pod("edge", app="db"), WEB, "UDP", 5), False),
    (WEB_INGRESS_NAMESPACE_LABELS, Traffic(GW, WEB, "TCP", 1), True),
    (WEB_INGRESS_NAMESPACE_LABELS, Traffic(DB, WEB, "TCP", 1), False),
    (WEB_INGRESS_ANY_NAMESPACE, Traffic(GW, WEB, "TCP", 1), True),
    (WEB_INGRESS_ANY_NAMESPACE, Traffic(pod("x", app="gw"), WEB, "TCP", 1), True),
    (WEB_INGRESS_ANY_NAMESPACE, Traffic(DB, WEB, "TCP", 1), False),
    (WEB_INGRESS_PORTS_ONLY, Traffic(WORLD, WEB, "TCP", 443), True),
    (WEB_INGRESS_PORTS_ONLY, Traffic(GW, WEB, "UDP", 443), True),
    (WEB_INGRESS_PORTS_ONLY, Traffic(GW, WEB, "TCP", 80), False),
    (WEB_INGRESS_EMPTY_RULE, Traffic(GW, WEB, "TCP", 80), False),
    (WEB_INGRESS_NO_ENTITY, Traffic(GW, WEB, "TCP", 80), False),
    (WEB_INGRESS_EMPTY_LIST, Traffic(GW, WEB, "TCP", 80), True),
    (WEB_INGRESS_EMPTY_LIST, Traffic(HOST, WEB, "TCP", 80), True),
    (WEB_INGRESS_FROM_GW, Traffic(HOST, WEB, "TCP", 80), True),  # own node always allowed
    (WEB_EGRESS_ENTITIES, Traffic(WEB, APISERVER, "TCP", 6443), True),
    (WEB_EGRESS_ENTITIES, Traffic(WEB, WORLD, "UDP", 123), True),
    (WEB_EGRESS_ENTITIES, Traffic(WEB, DB, "TCP", 9000), True),
    (WEB_EGRESS_ENTITIES, Traffic(WEB, REMOTE_NODE, "TCP", 9000), True),
    (WEB_EGRESS_ENTITIES, Traffic(WEB, DB, "TCP", 9001), False),
    (WEB_EGRESS_ENTITIES, Traffic(WEB, HOST, "TCP", 22), False),
    # unmanaged pods and the ingress proxy are part of the cluster entity (pkg/policy/api
    # entity.go); endpoint selectors never match them
    (WEB_EGRESS_ENTITIES, Traffic(WEB, UNMANAGED_DNS, "TCP", 9000), True),
    (WEB_EGRESS_ENTITIES, Traffic(WEB, UNMANAGED_DNS, "UDP", 53), False),
    (WEB_EGRESS_ENTITIES, Traffic(WEB, INGRESS_PROXY, "TCP", 9000), True),
    (WEB_EGRESS_CIDR, Traffic(WEB, WORLD, "TCP", 443), True),
    (WEB_EGRESS_CIDR, Traffic(WEB, TrafficPeer("world", ip="203.0.113.200"), "TCP", 443), False),
    (WEB_EGRESS_CIDR, Traffic(WEB, TrafficPeer("world", ip="10.20.30.40"), "TCP", 443), True),
    # CIDR rules never select pods or nodes, even inside the block.
    (
        WEB_EGRESS_CIDR,
        Traffic(WEB, TrafficPeer("pod", "shop", (("app", "db"),), ip="10.0.0.5"), "TCP", 1),
        False,
    ),  # fmt: skip
    (WEB_EGRESS_CIDR, Traffic(WEB, TrafficPeer("remote-node", ip="10.1.0.2"), "TCP", 1), False),
    (WEB_EGRESS_FQDN, Traffic(WEB, GITHUB, "TCP", 443), True),
    (WEB_EGRESS_FQDN, Traffic(WEB, BUCKET, "TCP", 443), True),
    (WEB_EGRESS_FQDN, Traffic(WEB, GITHUB, "TCP", 80), False),
    (WEB_EGRESS_FQDN, Traffic(WEB, WORLD, "TCP", 443), False),
    (
        WEB_EGRESS_FQDN,
        Traffic(
            WEB, TrafficPeer("world", ip="52.216.1.2", names=("s3.amazonaws.com",)), "TCP", 443
        ),
        False,
    ),  # fmt: skip
    (
        WEB_EGRESS_FQDN,
        Traffic(
            WEB, TrafficPeer("pod", "shop", (("app", "x"),), names=("api.github.com",)), "TCP", 443
        ),
        False,
    ),  # fmt: skip
    # Ports: ANY by default, ranges, named ports, every port of a protocol, ICMP.
    (WEB_EGRESS_PORTS, Traffic(WEB, DB, "UDP", 53), True),
    (WEB_EGRESS_PORTS, Traffic(WEB, UNMANAGED_DNS, "UDP", 53), False),  # not an endpoint
    (WEB_EGRESS_PORTS, Traffic(WEB, DB, "TCP", 53), True),
    (WEB_EGRESS_PORTS, Traffic(WEB, DB, "TCP", 8005), True),
    (WEB_EGRESS_PORTS, Traffic(WEB, DB, "TCP", 8011), False),
    (WEB_EGRESS_PORTS, Traffic(WEB, DB, "TCP", 8443, port_name="http"), True),
    (WEB_EGRESS_PORTS, Traffic(WEB, DB, "TCP", 8443), False),
    (WEB_EGRESS_PORTS, Traffic(WEB, DB, "SCTP", 3868), True),
    (WEB_EGRESS_PORTS, Traffic(WEB, pod("other", app="db"), "UDP", 53), False),
    (WEB_EGRESS_PORTS, Traffic(WEB, WORLD, "ICMPv4", 0), True),  # type not recorded
    (WEB_EGRESS_PORTS, Traffic(WEB, WORLD, "ICMPv4", 8), True),  # echo request
    (WEB_EGRESS_PORTS, Traffic(WEB, WORLD, "ICMPv4", 13), False),  # timestamp: another type
    (WEB_EGRESS_PORTS, Traffic(WEB, WORLD, "ICMPv6", 0), False),
    (WEB_EGRESS_PORTS, Traffic(WEB, WORLD, "TCP", 80), False),
    # Deny rules win over allow rules, Kubernetes ones included; deny-only isolates by default.
    (WEB_EGRESS_DENY, Traffic(WEB, WORLD, "TCP", 443), True),
    (WEB_EGRESS_DENY, Traffic(WEB, WORLD, "TCP", 25), False),
    (WEB_EGRESS_DENY, Traffic(WEB, DB, "TCP", 25), True),
    (DENY_ONLY, Traffic(WEB, DB, "TCP", 5432), False),
    (DENY_ONLY, Traffic(WEB, WORLD, "TCP", 443), False),
    (DENY_ONLY_ADDITIVE, Traffic(WEB, DB, "TCP", 5432), False),
    (DENY_ONLY_ADDITIVE, Traffic(WEB, WORLD, "TCP", 443), True),
    # L7: HTTP requests judged; the connection itself is allowed at L3/L4.
    (WEB_HTTP, Traffic(GW, WEB, "TCP", 8080), True),
    (WEB_HTTP, Traffic(GW, WEB, "TCP", 8080, http=HTTPRequest("GET", "/api/v1/users/7")), True),
    (WEB_HTTP, Traffic(GW, WEB, "TCP", 8080, http=HTTPRequest("GET", "/api/v1/users/x")), False),
    (
        WEB_HTTP,
        Traffic(GW, WEB, "TCP", 8080, http=HTTPRequest("DELETE", "/api/v1/users/7")),
        False,
    ),  # fmt: skip
    (WEB_HTTP, Traffic(GW, WEB, "TCP", 8080, http=HTTPRequest("PUT", "/orders")), True),
    (WEB_HTTP, Traffic(GW, WEB, "TCP", 9090, http=HTTPRequest("DELETE", "/anything")), True),
    # Clusterwide: subjects across namespaces; additive (no default deny); host policies skipped.
    (CLUSTERWIDE_DNS, Traffic(WEB, KUBE_DNS, "UDP", 53), True),
    (CLUSTERWIDE_DNS, Traffic(WEB, WORLD, "TCP", 443), True),
    (CLUSTERWIDE_ALL_PODS, Traffic(GW, pod("x", app="web"), "TCP", 80), True),
    (CLUSTERWIDE_ALL_PODS, Traffic(DB, pod("x", app="web"), "TCP", 80), False),
    (CLUSTERWIDE_ALL_PODS, Traffic(DB, pod("x", app="api"), "TCP", 80), True),
]


@pytest.mark.parametrize(("text", "traffic", "expected"), CASES)
def test_truth_table(text: str, traffic: Traffic, expected: bool) -> None:
    decision = compiled(text).evaluate(traffic)
    assert decision.allowed is expected, decision.reason


def test_cilium_deny_overrides_a_kubernetes_allow() -> None:
    policies = compiled(K8S_ALLOW_ALL_EGRESS, WEB_EGRESS_DENY)
    assert allowed(policies, Traffic(WEB, WORLD, "TCP", 443))
    decision = policies.evaluate(Traffic(WEB, WORLD, "TCP", 25))
    assert not decision.allowed
    assert [r.key for r in decision.egress.rules] == ["shop/web egress rule 2"]


def test_policies_add_up() -> None:
    policies = compiled(WEB_INGRESS_FROM_GW, WEB_INGRESS_SAME_NAMESPACE)
    assert allowed(policies, Traffic(GW, WEB, "TCP", 8080))
    assert allowed(policies, Traffic(DB, WEB, "TCP", 1234))
    assert not allowed(policies, Traffic(pod("x", app="y"), WEB, "TCP", 8080))


def test_decisions_name_the_rule() -> None:
    decision = compiled(WEB_INGRESS_FROM_GW).evaluate(Traffic(GW, WEB, "TCP", 8080))
    assert [r.key for r in decision.ingress.rules] == ["shop/web ingress rule 1"]
    assert decision.ingress.policies[0].kind == "CiliumNetworkPolicy"


def test_both_kinds_are_registered() -> None:
    for text in (WEB_INGRESS_FROM_GW, CLUSTERWIDE_DNS):
        document = PolicyDocument("p.yaml", 0, yaml.safe_load(text))
        assert parse_document(document).targets


INVALID = [
    (
        CNP
        + "metadata: {name: p, namespace: n}\nspec: {endpointSelector: {}, ingress: [{fromEntity: [world]}]}",
        "spec.ingress[0].fromEntity",
        "unknown field",
    ),  # fmt: skip
    (
        CNP
        + "metadata: {name: p, namespace: n}\nspec: {endpointSelector: {}, ingress: [{fromEntities: [planet]}]}",
        "spec.ingress[0].fromEntities[0]",
        "unknown entity",
    ),  # fmt: skip
    (
        CNP
        + "metadata: {name: p, namespace: n}\nspec: {endpointSelector: {}, ingress: [{fromRequires: [{}]}]}",
        "spec.ingress[0].fromRequires",
        "cannot be evaluated",
    ),  # fmt: skip
    (
        CNP
        + "metadata: {name: p, namespace: n}\nspec: {endpointSelector: {}, egress: [{toServices: [{k8sService: {serviceName: a}}]}]}",
        "spec.egress[0].toServices",
        "cannot be evaluated",
    ),  # fmt: skip
    (
        CNP
        + "metadata: {name: p, namespace: n}\nspec: {endpointSelector: {}, egress: [{toCIDRSet: [{cidrGroupRef: g}]}]}",
        "spec.egress[0].toCIDRSet[0]",
        "CIDR groups",
    ),  # fmt: skip
    (
        CNP
        + "metadata: {name: p, namespace: n}\nspec: {endpointSelector: {}, egress: [{toCIDR: [10.0.0.0/33]}]}",
        "spec.egress[0].toCIDR[0]",
        "not a valid CIDR",
    ),  # fmt: skip
    (
        CNP
        + "metadata: {name: p, namespace: n}\nspec: {endpointSelector: {}, egress: [{toCIDRSet: [{cidr: 10.0.0.0/16, except: [10.1.0.0/24]}]}]}",
        "spec.egress[0].toCIDRSet[0].except[0]",
        "not inside",
    ),  # fmt: skip
    (
        CNP + "metadata: {name: p, namespace: n}\nspec: {nodeSelector: {}, ingress: [{}]}",
        "spec.nodeSelector",
        "clusterwide",
    ),  # fmt: skip
    (
        CNP + "metadata: {name: p, namespace: n}\nspec: {ingress: [{}]}",
        "spec.endpointSelector",
        "missing",
    ),  # fmt: skip
    (
        CNP
        + "metadata: {name: p, namespace: n}\nspec: {endpointSelector: {}, egress: [{toFQDNs: [{matchName: a.b, matchPattern: '*.b'}]}]}",
        "spec.egress[0].toFQDNs[0]",
        "exactly one",
    ),  # fmt: skip
    (
        CNP
        + "metadata: {name: p, namespace: n}\nspec: {endpointSelector: {}, egress: [{toPorts: [{ports: [{port: '80', protocol: ICMP}]}]}]}",
        "spec.egress[0].toPorts[0].ports[0].protocol",
        "unsupported protocol",
    ),  # fmt: skip
    (
        CNP
        + "metadata: {name: p, namespace: n}\nspec: {endpointSelector: {}, egress: [{toPorts: [{ports: [{port: '90', endPort: 80}]}]}]}",
        "spec.egress[0].toPorts[0].ports[0].endPort",
        "endPort",
    ),  # fmt: skip
    (
        CNP
        + "metadata: {name: p, namespace: n}\nspec: {endpointSelector: {}, ingress: [{toPorts: [{ports: [{port: '80'}], rules: {http: [{path: '(['}]}}]}]}",
        "spec.ingress[0].toPorts[0].rules.http[0].path",
        "invalid regular expression",
    ),  # fmt: skip
    (
        CNP
        + "metadata: {name: p, namespace: n}\nspec: {endpointSelector: {}, ingress: [{toPorts: [{ports: [{port: '53'}], rules: {http: [{}], dns: [{matchPattern: '*'}]}}]}]}",
        "spec.ingress[0].toPorts[0].rules",
        "one kind of L7 rule",
    ),  # fmt: skip
    (
        CNP
        + "metadata: {name: p, namespace: n}\nspec: {endpointSelector: {}, egressDeny: [{toPorts: [{ports: [{port: '80'}], rules: {http: [{}]}}]}]}",
        "spec.egressDeny[0].toPorts[0].rules",
        "unknown field",
    ),  # fmt: skip
    (
        CNP
        + "metadata: {name: p, namespace: n}\nspec: {endpointSelector: {matchLabels: {'reserved:host': ''}}, ingress: [{}]}",
        "spec.endpointSelector",
        "reserved",
    ),  # fmt: skip
    (
        "apiVersion: cilium.io/v1\nkind: CiliumNetworkPolicy\nmetadata: {name: p}\nspec: {endpointSelector: {}}",
        "apiVersion",
        "cilium.io/v1",
    ),  # fmt: skip
]


@pytest.mark.parametrize(("text", "field", "reason"), INVALID)
def test_invalid_documents_name_the_field(text: str, field: str, reason: str) -> None:
    document = PolicyDocument("bad.yaml", 3, yaml.safe_load(text))
    with pytest.raises(PolicyError) as caught:
        parse_document(document)
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert str(caught.value).startswith("bad.yaml document 3 (")


def test_a_policy_needs_a_spec() -> None:
    document = PolicyDocument("p.yaml", 0, yaml.safe_load(CNP + "metadata: {name: p}"))
    with pytest.raises(PolicyError, match="spec or specs"):
        parse_cilium_policy(document)
