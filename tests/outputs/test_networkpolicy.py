from __future__ import annotations

import random

import yaml

from learner.infer.baseline import BaselineLearner
from learner.model.config import RenderOptions
from learner.model.edges import EdgeStore
from learner.model.flow import Direction, Protocol
from outputs.networkpolicy import render
from tests.flowbuild import flow, pod, world
from tests.k8s_schema import validate

WEB = pod("shop", "web-7d4b9c8f6d-x2kqp", app="web", tier="frontend")
API = pod("shop", "api-5f6c7d8e9f-abcde", app="api", extra={"app.kubernetes.io/version": "1.2"})
DB = pod("data", "db-0", app="db", enabled="true")
MON = pod("monitoring", "prom-0", app="prometheus")


def sample_flows() -> list:
    return [
        flow(WEB, API, 8080),
        flow(WEB, API, 8080, direction=Direction.INGRESS),
        flow(API, DB, 5432),
        flow(API, DB, 5433),
        flow(MON, API, 9090),
        flow(MON, DB, 9187),
        flow(API, world("52.1.2.3"), 443, dns_names=("api.stripe.com",)),
        flow(
            WEB,
            pod("kube-system", "coredns-1", extra={"k8s-app": "kube-dns"}),
            53,
            protocol=Protocol.UDP,
        ),
        flow(WEB, API, 0, protocol=Protocol.ICMPV4),
    ]


def render_store(flows: list) -> dict[str, str]:
    store = EdgeStore()
    for f in flows:
        store.add(f)
    return render(BaselineLearner().fit(store).proposal, RenderOptions(default_deny=True))


def test_every_document_is_valid_against_the_api_schema() -> None:
    files = render_store(sample_flows())
    policies = [p for p in files if p != "kustomization.yaml"]
    assert "shop/api.yaml" in files and "data/db.yaml" in files
    for path in policies:
        for document in yaml.safe_load_all(files[path]):
            assert validate(document) == [], path
    kustomization = yaml.safe_load(files["kustomization.yaml"])
    assert kustomization["resources"] == sorted(policies)


def test_shuffled_input_gives_identical_bytes() -> None:
    flows = sample_flows()
    first = render_store(flows)
    for seed in range(5):
        shuffled = flows[:]
        random.Random(seed).shuffle(shuffled)
        assert render_store(shuffled) == first


def test_cross_namespace_peer_is_one_peer_with_both_selectors() -> None:
    doc = yaml.safe_load(render_store(sample_flows())["data/db.yaml"])
    peers = [peer for rule in doc["spec"]["ingress"] for peer in rule["from"]]
    api_peer = next(p for p in peers if p["podSelector"]["matchLabels"].get("app") == "api")
    assert api_peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "shop"}}
    assert doc["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert doc["spec"]["podSelector"] == {"matchLabels": {"app": "db", "enabled": "true"}}


def test_ports_merge_per_peer_and_volatile_labels_are_gone() -> None:
    text = render_store(sample_flows())["shop/api.yaml"]
    doc = yaml.safe_load(text)
    assert "app.kubernetes.io/version" not in text
    db_rule = next(
        r
        for r in doc["spec"]["egress"]
        if any(
            "podSelector" in p
            and p["podSelector"]["matchLabels"] == {"app": "db", "enabled": "true"}
            for p in r["to"]
        )
    )
    assert sorted(p["port"] for p in db_rule["ports"]) == [5432, 5433]
    world_rule = next(r for r in doc["spec"]["egress"] if "ipBlock" in r["to"][0])
    assert world_rule["to"][0]["ipBlock"] == {"cidr": "52.1.2.3/32"}
    assert "api.stripe.com" in text


def test_label_values_stay_strings() -> None:
    doc = yaml.safe_load(render_store(sample_flows())["data/db.yaml"])
    assert doc["spec"]["podSelector"]["matchLabels"]["enabled"] == "true"


def test_icmp_is_left_out_with_a_comment() -> None:
    text = render_store(sample_flows())["shop/web.yaml"]
    doc = yaml.safe_load(text)
    protocols = {p["protocol"] for r in doc["spec"]["egress"] for p in r.get("ports", [])}
    assert protocols == {"TCP", "UDP"}


def test_evidence_is_in_comments_and_annotations() -> None:
    text = render_store(sample_flows())["shop/api.yaml"]
    assert "# observed " in text
    doc = yaml.safe_load(text)
    assert int(doc["metadata"]["annotations"]["netpol-learner.io/observed-flows"]) > 0


def test_default_deny_per_namespace() -> None:
    files = render_store(sample_flows())
    doc = yaml.safe_load(files["shop/default-deny.yaml"])
    assert doc["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
