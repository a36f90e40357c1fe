from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

import learner.semantics.cilium  # noqa: F401  (registers the Cilium dialect)
import outputs
from learner.app.pipeline import build_proposal, effective_inventory, ingest, read_flows
from learner.app.selfcheck import documents_from_files
from learner.infer.l7 import generalize_http
from learner.model.config import LearnConfig, RenderOptions
from learner.model.edges import EdgeKey, EdgeStore
from learner.model.flow import HTTPRequest
from learner.model.identity import Identity
from learner.model.policy import (
    CIDRPeer,
    Entity,
    EntityPeer,
    Evidence,
    HTTPRule,
    LabelSelector,
    Operator,
    Peer,
    PodPeer,
    PortSpec,
    Proposal,
    ProposedPolicy,
    Requirement,
    Rule,
    namespace_name_selector,
)
from learner.model.run_stats import CollectorStats, NormalizeStats
from learner.semantics import PolicySet, Traffic, TrafficPeer, compile_policies, traffic_for_edge
from outputs.cilium import render
from tests.learner.edge_builders import external, flow, pod_labels, store_of

SCHEMA_PATH = Path(outputs.__file__).parent / "schemas" / "cilium-networkpolicy.json"
VALIDATOR = Draft202012Validator(
    json.loads(SCHEMA_PATH.read_text()), format_checker=Draft202012Validator.FORMAT_CHECKER
)
REAL_FLOWS = Path(__file__).parents[1] / "fixtures" / "hubble" / "files" / "real"

EVIDENCE = Evidence(12, 1_700_000_000.0, 1_700_003_600.0)
KUBE_DNS = PodPeer(
    pods=LabelSelector(match_labels=(("k8s-app", "kube-dns"),)),
    namespaces=namespace_name_selector("kube-system"),
)


def labels(**pairs: str) -> LabelSelector:
    return LabelSelector(match_labels=tuple(sorted(pairs.items())))


def web_policy(
    ingress: tuple[Rule, ...] | None = (), egress: tuple[Rule, ...] | None = None
) -> ProposedPolicy:
    return ProposedPolicy(
        name="web",
        namespace="shop",
        subject=labels(app="web"),
        workload="pod:shop/app=web",
        ingress=ingress,
        egress=egress,
    )


def rendered(
    *policies: ProposedPolicy, options: RenderOptions | None = None, **proposal: Any
) -> dict[str, str]:
    files = render(Proposal(policies=policies, **proposal), options or RenderOptions())
    assert_valid(files)
    return files


def documents(files: Mapping[str, str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path, text in sorted(files.items()):
        if path != "kustomization.yaml":
            found.extend(d for d in yaml.safe_load_all(text) if d)
    return found


def assert_valid(files: Mapping[str, str]) -> None:
    for document in documents(files):
        errors = sorted(str(e.message) for e in VALIDATOR.iter_errors(document))
        assert not errors, (document["metadata"]["name"], errors)


def spec_of(files: Mapping[str, str], path: str = "shop/web.yaml") -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(files[path])["spec"]
    return spec


def compiled(files: Mapping[str, str]) -> PolicySet:
    return compile_policies(documents_from_files(files))


def pod(namespace: str, **pairs: str) -> TrafficPeer:
    return TrafficPeer("pod", namespace, tuple(sorted(pairs.items())))


WEB = pod("shop", app="web")


# --- layout --------------------------------------------------------------------------------


def test_one_file_per_policy_and_a_kustomization() -> None:
    api = dataclasses.replace(web_policy(), name="api", subject=labels(app="api"))
    files = rendered(web_policy(), api)
    assert sorted(files) == ["kustomization.yaml", "shop/api.yaml", "shop/web.yaml"]
    kustomization = yaml.safe_load(files["kustomization.yaml"])
    assert kustomization["resources"] == ["shop/api.yaml", "shop/web.yaml"]
    document = yaml.safe_load(files["shop/web.yaml"])
    assert (document["apiVersion"], document["kind"]) == ("cilium.io/v2", "CiliumNetworkPolicy")
    assert document["metadata"]["namespace"] == "shop"
    assert document["spec"]["endpointSelector"] == {"matchLabels": {"app": "web"}}


def test_rendering_is_deterministic() -> None:
    rule_a = Rule((PodPeer(labels(app="a")),), (PortSpec("TCP", 80),), evidence=EVIDENCE)
    rule_b = Rule((EntityPeer(Entity.HOST),), (PortSpec("TCP", 9090),))
    api = dataclasses.replace(web_policy(), name="api", subject=labels(app="api"))
    first = rendered(web_policy(ingress=(rule_a, rule_b)), api)
    second = rendered(api, web_policy(ingress=(rule_b, rule_a)))
    assert first == second
    assert "# observed 12 flows over 0 edges, 2023-11-14T22:13:20Z" in first["shop/web.yaml"]


# --- peers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "selector"),
    [
        (PodPeer(labels(app="db")), {"matchLabels": {"app": "db"}}),
        (PodPeer(labels(app="db"), namespace_name_selector("shop")), {"matchLabels": {"app": "db"}}),
        (
            PodPeer(labels(app="gw"), namespace_name_selector("edge")),
            {"matchLabels": {"app": "gw", "k8s:io.kubernetes.pod.namespace": "edge"}},
        ),
        (
            PodPeer(None, labels(team="payments")),
            {"matchLabels": {"k8s:io.cilium.k8s.namespace.labels.team": "payments"}},
        ),
        (
            PodPeer(labels(app="prom"), LabelSelector()),
            {
                "matchLabels": {"app": "prom"},
                "matchExpressions": [
                    {"key": "k8s:io.kubernetes.pod.namespace", "operator": "Exists"}
                ],
            },
        ),
        (
            PodPeer(
                LabelSelector(match_expressions=(Requirement("tier", Operator.IN, ("a", "b")),)),
                LabelSelector(
                    match_expressions=(
                        Requirement("kubernetes.io/metadata.name", Operator.IN, ("x", "y")),
                    )
                ),
            ),
            {
                "matchExpressions": [
                    {"key": "k8s:io.kubernetes.pod.namespace", "operator": "In", "values": ["x", "y"]},
                    {"key": "tier", "operator": "In", "values": ["a", "b"]},
                ]
            },
        ),
        (PodPeer(None, None), {}),
        # Cilium keeps no kubernetes.io label but app.kubernetes.io ones in identities.
        (
            PodPeer(labels(**{"app.kubernetes.io/name": "db", "topology.kubernetes.io/zone": "a"})),
            {"matchLabels": {"app.kubernetes.io/name": "db"}},
        ),
    ],
)  # fmt: skip
def test_pod_peers_become_endpoint_selectors(peer: PodPeer, selector: dict[str, Any]) -> None:
    files = rendered(web_policy(ingress=(Rule((peer,), (PortSpec("TCP", 80),)),)))
    assert spec_of(files)["ingress"] == [
        {"fromEndpoints": [selector], "toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}]}]}
    ]


def test_pod_peer_namespaces_mean_what_they_say() -> None:
    peers: tuple[Peer, ...] = (
        PodPeer(labels(app="gw"), namespace_name_selector("edge")),
        PodPeer(None, labels(team="payments")),
        PodPeer(labels(app="prom"), LabelSelector()),
        PodPeer(labels(app="db")),
    )
    files = rendered(web_policy(ingress=(Rule(peers, (PortSpec("TCP", 80),)),)))
    policies = compiled(files)

    def allowed(source: TrafficPeer) -> bool:
        return policies.evaluate(Traffic(source, WEB, "TCP", 80)).allowed

    assert allowed(pod("edge", app="gw"))
    assert not allowed(pod("shop", app="gw"))
    assert allowed(TrafficPeer("pod", "billing", (("x", "y"),), (("team", "payments"),)))
    assert not allowed(TrafficPeer("pod", "billing", (("x", "y"),), (("team", "other"),)))
    assert allowed(pod("monitoring", app="prom"))
    assert allowed(pod("shop", app="db"))
    assert not allowed(pod("other", app="db"))


def test_entities_cidr_sets_and_any_peer() -> None:
    rules = (
        Rule((EntityPeer(Entity.KUBE_APISERVER), EntityPeer(Entity.REMOTE_NODE)), ()),
        Rule((CIDRPeer("10.9.0.0/16", excepts=("10.9.1.0/24",)),), (PortSpec("TCP", 5432),)),
        Rule((), (PortSpec("TCP", 8443),)),
    )
    files = rendered(web_policy(egress=rules))
    egress = spec_of(files)["egress"]
    assert {
        "toEntities": ["all"],
        "toPorts": [{"ports": [{"port": "8443", "protocol": "TCP"}]}],
    } in egress
    assert {"toEntities": ["kube-apiserver", "remote-node"]} in egress
    assert {
        "toCIDRSet": [{"cidr": "10.9.0.0/16", "except": ["10.9.1.0/24"]}],
        "toPorts": [{"ports": [{"port": "5432", "protocol": "TCP"}]}],
    } in egress
    policies = compiled(files)
    db = TrafficPeer("world", ip="10.9.2.7")
    assert policies.evaluate(Traffic(WEB, db, "TCP", 5432)).allowed
    assert not policies.evaluate(
        Traffic(WEB, TrafficPeer("world", ip="10.9.1.7"), "TCP", 5432)
    ).allowed
    assert policies.evaluate(Traffic(WEB, TrafficPeer("world", ip="1.2.3.4"), "TCP", 8443)).allowed
    assert not policies.evaluate(Traffic(WEB, TrafficPeer("world", ip="1.2.3.4"), "TCP", 80)).allowed  # fmt: skip


def test_mixed_peer_kinds_split_into_one_rule_each() -> None:
    rule = Rule(
        (PodPeer(labels(app="a")), EntityPeer(Entity.HOST), CIDRPeer("192.0.2.0/24")),
        (PortSpec("TCP", 9090),),
        evidence=EVIDENCE,
    )
    files = rendered(web_policy(ingress=(rule,)))
    ingress = spec_of(files)["ingress"]
    assert [sorted(set(r) - {"toPorts"}) for r in ingress] == [
        ["fromEndpoints"],
        ["fromEntities"],
        ["fromCIDRSet"],
    ]
    assert files["shop/web.yaml"].count("same rule: Cilium needs one peer kind per rule") == 2


# --- ports ---------------------------------------------------------------------------------


def test_port_forms() -> None:
    ports = (
        PortSpec("TCP", 8000, 8099),
        PortSpec("TCP", name="http-metrics"),
        PortSpec("UDP"),
        PortSpec("SCTP", 9),
    )
    files = rendered(web_policy(ingress=(Rule((PodPeer(labels(app="a")),), ports),)))
    assert spec_of(files)["ingress"][0]["toPorts"] == [
        {
            "ports": [
                {"port": "http-metrics", "protocol": "TCP"},
                {"port": "8000", "endPort": 8099, "protocol": "TCP"},
                {"port": "9", "protocol": "SCTP"},
                {"port": "0", "protocol": "UDP"},
            ]
        }
    ]


def test_icmp_gets_a_rule_of_its_own() -> None:
    rule = Rule((EntityPeer(Entity.HOST),), (PortSpec("TCP", 8080), PortSpec("ICMPv4")))
    files = rendered(web_policy(ingress=(rule,)))
    ingress = spec_of(files)["ingress"]
    assert ingress[1] == {"fromEntities": ["host"], "icmps": [{"fields": [{"family": "IPv4", "type": 8}]}]}  # fmt: skip
    assert "echo request (ping) assumed" in files["shop/web.yaml"]
    node = TrafficPeer("remote-node", ip="10.0.0.2")
    only_icmp = rendered(web_policy(ingress=(Rule((EntityPeer(Entity.REMOTE_NODE),), (PortSpec("ICMPv4"),)),)))  # fmt: skip
    policies = compiled(only_icmp)
    assert policies.evaluate(Traffic(node, WEB, "ICMPv4", 0)).allowed
    assert not policies.evaluate(Traffic(node, WEB, "TCP", 80)).allowed


# --- isolation -----------------------------------------------------------------------------


def test_isolated_direction_without_rules_selects_nothing() -> None:
    files = rendered(web_policy(ingress=(), egress=None))
    spec = spec_of(files)
    assert spec["ingress"] == [{"fromEntities": ["none"]}]
    assert "egress" not in spec
    policies = compiled(files)
    assert not policies.evaluate(Traffic(pod("shop", app="x"), WEB, "TCP", 80)).allowed
    assert policies.evaluate(Traffic(WEB, pod("shop", app="x"), "TCP", 80)).allowed


def test_default_deny_per_namespace_and_clusterwide_dns() -> None:
    files = rendered(
        web_policy(),
        options=RenderOptions(default_deny=True),
        namespaces=("shop", "billing"),
        dns_peers=(KUBE_DNS,),
    )
    assert {"billing/default-deny.yaml", "shop/default-deny.yaml"} <= set(files)
    deny = spec_of(files, "billing/default-deny.yaml")
    assert deny["endpointSelector"] == {}
    assert deny["enableDefaultDeny"] == {"egress": True, "ingress": True}
    assert deny["ingress"] == [{"fromEntities": ["none"]}]
    assert deny["egress"] == [{"toEntities": ["none"]}]
    cluster = yaml.safe_load(files["_clusterwide/allow-cluster-dns.yaml"])
    assert cluster["kind"] == "CiliumClusterwideNetworkPolicy"
    assert "namespace" not in cluster["metadata"]
    assert cluster["spec"]["enableDefaultDeny"] == {"egress": False, "ingress": False}
    assert cluster["spec"]["endpointSelector"]["matchExpressions"][0]["values"] == ["billing", "shop"]  # fmt: skip
    dns_rule = cluster["spec"]["egress"][0]
    assert dns_rule["toPorts"][0]["rules"] == {"dns": [{"matchPattern": "*"}]}
    policies = compiled(files)
    payments = pod("billing", app="payments")
    coredns = pod("kube-system", **{"k8s-app": "kube-dns"})
    assert policies.evaluate(Traffic(payments, coredns, "UDP", 53)).allowed
    assert not policies.evaluate(Traffic(payments, pod("billing", app="x"), "TCP", 80)).allowed
    # The clusterwide DNS policy isolates nothing outside the default-deny namespaces.
    assert policies.evaluate(Traffic(pod("other", app="x"), pod("other", app="y"), "TCP", 1)).allowed  # fmt: skip


# --- FQDN egress and DNS visibility --------------------------------------------------------


def fqdn_store() -> EdgeStore:
    web = pod_labels("shop", "web", {"app": "web"}, ip="10.0.1.5")
    dns = pod_labels("kube-system", "coredns", {"k8s-app": "kube-dns"}, ip="10.0.9.9")
    buckets = ("logs.s3.amazonaws.com", "assets.s3.amazonaws.com", "backup.s3.amazonaws.com")
    flows = [flow(web, dns, 53, "UDP", dns_query=q) for q in ("api.github.com", *buckets)]
    flows.append(flow(web, external("140.82.112.3"), 443, dns_names=("api.github.com",)))
    flows += [
        flow(web, external(f"52.216.1.{i}"), 443, dns_names=(name,))
        for i, name in enumerate(buckets, start=1)
    ]
    return store_of(flows)


def assert_observed_allowed(files: Mapping[str, str], store: EdgeStore, proposal: Proposal) -> None:
    policies = compiled(files)
    inventory = effective_inventory(store, None)
    pending = {p.edge for p in proposal.pending}
    denied = [
        f"{edge.key}: {decision.reason}"
        for edge, stats in store.sorted_edges()
        if edge not in pending
        and not (decision := policies.evaluate(traffic_for_edge(edge, inventory, stats))).allowed
    ]
    assert not denied


@pytest.mark.parametrize("max_overreach", [0, 1])
def test_dns_lookups_give_fqdns_and_the_dns_rule(max_overreach: int) -> None:
    store = fqdn_store()
    proposal = build_proposal(
        store, None, LearnConfig(format="cilium", max_overreach=max_overreach)
    )
    files = render(proposal, RenderOptions())
    assert_valid(files)
    egress = spec_of(files)["egress"]
    fqdns = [r for r in egress if "toFQDNs" in r]
    assert len(fqdns) == 1
    names = {s.get("matchName") or s["matchPattern"] for s in fqdns[0]["toFQDNs"]}
    if max_overreach:
        assert names == {"api.github.com", "*.s3.amazonaws.com"}
    else:
        assert names == {"api.github.com", "logs.s3.amazonaws.com", "assets.s3.amazonaws.com",
                         "backup.s3.amazonaws.com"}  # fmt: skip
    assert not any("toCIDRSet" in r or "toEntities" in r for r in egress)
    dns = [r for r in egress if any("rules" in p for p in r.get("toPorts", ()))]
    assert len(dns) == 1
    assert dns[0]["toEndpoints"] == [
        {"matchLabels": {"k8s-app": "kube-dns", "k8s:io.kubernetes.pod.namespace": "kube-system"}}
    ]
    port_rule = dns[0]["toPorts"][0]
    assert port_rule["ports"] == [{"port": "53", "protocol": "ANY"}]
    looked_up = {s.get("matchName") or s["matchPattern"] for s in port_rule["rules"]["dns"]}
    assert names <= looked_up
    assert_observed_allowed(files, store, proposal)
    policies = compiled(files)
    web = pod("shop", app="web")
    unnamed = TrafficPeer("world", ip="140.82.112.3")
    assert not policies.evaluate(Traffic(web, unnamed, "TCP", 443)).allowed
    other = TrafficPeer("world", ip="140.82.112.3", names=("evil.example.com",))
    assert not policies.evaluate(Traffic(web, other, "TCP", 443)).allowed
    new_bucket = TrafficPeer("world", ip="52.216.9.9", names=("new.s3.amazonaws.com",))
    assert policies.evaluate(Traffic(web, new_bucket, "TCP", 443)).allowed is bool(max_overreach)


def world_edge(address: str, port: int = 443) -> EdgeKey:
    web = Identity("pod", "shop", (("app", "web"),))
    return EdgeKey(web, Identity("world", address=address), "TCP", port)


@pytest.mark.parametrize(
    ("edges", "world_kept"),
    [
        ((world_edge("140.82.112.3"),), False),
        ((world_edge("140.82.112.3"), world_edge("203.0.113.9")), True),
        ((world_edge("140.82.112.3", port=80),), True),
    ],
)
def test_world_entity_is_left_out_only_when_fqdns_cover_it(
    edges: tuple[EdgeKey, ...], world_kept: bool
) -> None:
    world = Rule((EntityPeer(Entity.WORLD),), (PortSpec("TCP", 443), PortSpec("TCP", 80)), edges=edges)  # fmt: skip
    github = Rule(
        (CIDRPeer("140.82.112.3/32", fqdns=("api.github.com",)),), (PortSpec("TCP", 443),)
    )
    files = rendered(web_policy(egress=(world, github)), dns_peers=(KUBE_DNS,))
    egress = spec_of(files)["egress"]
    assert any(r.get("toEntities") == ["world"] for r in egress) is world_kept
    assert any("toFQDNs" in r for r in egress)


def test_dns_rule_is_added_when_the_proposal_has_none() -> None:
    rule = Rule((CIDRPeer("140.82.112.3/32", fqdns=("api.github.com",)),), (PortSpec("TCP", 443),))
    with_dns = spec_of(rendered(web_policy(egress=(rule,)), dns_peers=(KUBE_DNS,)))["egress"]
    assert with_dns[-1]["toEndpoints"][0]["matchLabels"]["k8s-app"] == "kube-dns"
    assert with_dns[-1]["toPorts"][0]["rules"] == {"dns": [{"matchPattern": "*"}]}
    files = rendered(web_policy(egress=(rule,)))
    assert "no cluster DNS observed" in files["shop/web.yaml"]
    fallback = spec_of(files)["egress"][-1]
    assert fallback["toEndpoints"] == [
        {"matchLabels": {"k8s-app": "kube-dns", "k8s:io.kubernetes.pod.namespace": "kube-system"}}
    ]


def test_dns_rule_admits_every_lookup_when_there_are_too_many() -> None:
    names = tuple(f"host{i}.example.com" for i in range(150))
    dns_rule = Rule(
        (KUBE_DNS,),
        (PortSpec("UDP", 53),),
        dns_names=names,
        dns_selectors=names,
        purpose="cluster DNS",
    )
    fqdn = Rule((CIDRPeer("192.0.2.1/32", fqdns=("host1.example.com",)),), (PortSpec("TCP", 443),))
    egress = spec_of(rendered(web_policy(egress=(fqdn, dns_rule))))["egress"]
    assert egress[-1]["toPorts"][0]["rules"] == {"dns": [{"matchPattern": "*"}]}


def test_without_fqdns_dns_stays_plain_l4() -> None:
    dns_rule = Rule((KUBE_DNS,), (PortSpec("UDP", 53),), dns_names=("a.b",), purpose="cluster DNS")
    egress = spec_of(rendered(web_policy(egress=(dns_rule,))))["egress"]
    assert egress[0]["toPorts"] == [{"ports": [{"port": "53", "protocol": "UDP"}]}]


# --- L7 ------------------------------------------------------------------------------------

HTTP_RULES = (HTTPRule("GET", "^/api/v1/users/[0-9]+([?].*)?$"),)


def l7_policy() -> ProposedPolicy:
    ingress = Rule((PodPeer(labels(app="gw")),), (PortSpec("TCP", 8080),), http=HTTP_RULES)
    egress = Rule((PodPeer(labels(app="api")),), (PortSpec("TCP", 80),), http=HTTP_RULES)
    return web_policy(ingress=(ingress,), egress=(egress,))


def test_l7_rules_go_on_the_servers_ingress_only_with_l7() -> None:
    plain = spec_of(rendered(l7_policy()))
    assert "rules" not in plain["ingress"][0]["toPorts"][0]
    with_l7 = spec_of(rendered(l7_policy(), options=RenderOptions(l7=True)))
    assert with_l7["ingress"][0]["toPorts"][0]["rules"] == {
        "http": [{"method": "GET", "path": "^/api/v1/users/[0-9]+([?].*)?$"}]
    }
    assert "rules" not in with_l7["egress"][0]["toPorts"][0]


def test_l7_rules_admit_observed_requests_and_reject_others() -> None:
    policies = compiled(rendered(l7_policy(), options=RenderOptions(l7=True)))
    gateway = pod("shop", app="gw")

    def allowed(method: str, path: str) -> bool:
        traffic = Traffic(gateway, WEB, "TCP", 8080, http=HTTPRequest(method, path))
        return policies.evaluate(traffic).allowed

    assert allowed("GET", "/api/v1/users/42")
    assert not allowed("GET", "/api/v1/admin")
    assert not allowed("DELETE", "/api/v1/users/42")
    assert policies.evaluate(Traffic(gateway, WEB, "TCP", 8080)).allowed


# --- real flows ----------------------------------------------------------------------------


def real_proposal(*, with_http: bool = False) -> tuple[Proposal, EdgeStore]:
    config = LearnConfig(format="cilium", include_system=True)
    store = EdgeStore()
    flows = read_flows([str(REAL_FLOWS)], source="hubble", stats=CollectorStats())
    ingest(flows, store, config, NormalizeStats())
    proposal = build_proposal(store, None, config)
    if with_http:
        # What the pipeline does with --l7: each rule's HTTP rules from its edges' requests.
        policies = []
        for policy in proposal.policies:
            ingress = tuple(
                dataclasses.replace(
                    rule,
                    http=generalize_http(r for e in rule.edges for r in store.edges[e].http),
                )
                for rule in policy.ingress or ()
            )
            policies.append(dataclasses.replace(policy, ingress=ingress))
        proposal = dataclasses.replace(proposal, policies=tuple(policies))
    return proposal, store


@pytest.mark.parametrize("default_deny", [False, True])
def test_real_flows_validate_and_stay_allowed(default_deny: bool) -> None:
    proposal, store = real_proposal()
    assert len(proposal.policies) > 5
    files = render(proposal, RenderOptions(default_deny=default_deny))
    assert_valid(files)
    assert_observed_allowed(files, store, proposal)


def test_real_http_flows_with_l7() -> None:
    proposal, store = real_proposal(with_http=True)
    files = render(proposal, RenderOptions(l7=True))
    assert_valid(files)
    assert "http:" in "".join(files.values())
    policies = compiled(files)
    inventory = effective_inventory(store, None)
    checked = 0
    for edge, stats in store.sorted_edges():
        if not stats.http or not edge.destination.is_pod or not edge.destination.labels:
            continue  # a pod seen without labels cannot be a policy subject
        traffic = traffic_for_edge(edge, inventory, stats)
        for method, path in sorted(stats.http):
            request = dataclasses.replace(traffic, http=HTTPRequest(method, path))
            assert policies.evaluate(request).allowed, (edge.key, method, path)
            other = dataclasses.replace(traffic, http=HTTPRequest(method, path + "/not-seen"))
            assert not policies.evaluate(other).allowed, (edge.key, method, path)
            checked += 1
    assert checked >= 4
