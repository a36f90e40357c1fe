from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from learner.app.pipeline import build_proposal, ingest, new_store, read_flows
from learner.model.config import LearnConfig, RenderOptions
from learner.model.errors import UsageError
from learner.model.policy import (
    CIDRPeer,
    Entity,
    EntityPeer,
    Evidence,
    LabelSelector,
    Operator,
    PodPeer,
    PortSpec,
    Proposal,
    ProposedPolicy,
    Requirement,
    Rule,
    namespace_name_selector,
)
from learner.model.run_stats import CollectorStats, NormalizeStats
from outputs import calico, calico_staged
from outputs.base import renderer
from outputs.calico_selector_syntax import selector_expression

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "outputs" / "schemas" / "calico-networkpolicy.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
CALICO_FLOWS = ROOT / "tests" / "fixtures" / "calico" / "valid"
T0 = 1767225600.0

WEB = LabelSelector(match_labels=(("app", "web"),))
EVIDENCE = Evidence(flows=12, first_seen=T0, last_seen=T0 + 300)


def rule(*peers: Any, ports: tuple[PortSpec, ...] = (), purpose: str = "") -> Rule:
    return Rule(peers=tuple(peers), ports=ports, evidence=EVIDENCE, purpose=purpose)


def pods(**labels: str) -> LabelSelector:
    return LabelSelector(match_labels=tuple(sorted(labels.items())))


TCP_8080 = (PortSpec("TCP", 8080),)
INGRESS_RULES = (
    rule(PodPeer(pods=pods(app="frontend")), ports=TCP_8080),
    rule(
        PodPeer(pods=pods(app="prometheus"), namespaces=namespace_name_selector("monitoring")),
        ports=(PortSpec("TCP", name="metrics"),),
    ),
    rule(PodPeer(namespaces=LabelSelector()), ports=(PortSpec("TCP", 6040, end_port=6050),)),
    rule(EntityPeer(Entity.HOST)),  # no node addresses: cannot be expressed
    rule(PodPeer(pods=pods(app="frontend")), ports=(PortSpec("ICMPv4"),)),
)
EGRESS_RULES = (
    rule(
        PodPeer(
            pods=pods(**{"k8s-app": "kube-dns"}), namespaces=namespace_name_selector("kube-system")
        ),
        ports=(PortSpec("UDP", 53), PortSpec("TCP", 53)),
        purpose="cluster DNS",
    ),
    rule(
        CIDRPeer("203.0.113.0/24", excepts=("203.0.113.7/32",), names=("mirror.example",)),
        ports=(PortSpec("TCP", 443),),
    ),
    rule(CIDRPeer("198.51.100.10/32", fqdns=("api.stripe.com",)), ports=(PortSpec("TCP", 443),)),
    rule(EntityPeer(Entity.KUBE_APISERVER, cidrs=("10.0.0.1/32",)), ports=(PortSpec("TCP", 6443),)),
    rule(EntityPeer(Entity.WORLD), ports=(PortSpec("UDP", 123),)),
    rule(EntityPeer(Entity.CLUSTER), ports=(PortSpec("TCP"),)),
    rule(
        PodPeer(
            pods=LabelSelector(
                match_expressions=(
                    Requirement("tier", Operator.IN, ("db", "cache")),
                    Requirement("canary", Operator.DOES_NOT_EXIST),
                )
            ),
            namespaces=LabelSelector(match_labels=(("team", "data"),)),
        ),
        ports=TCP_8080,
    ),
)
WEB_POLICY = ProposedPolicy(
    name="web",
    namespace="shop",
    subject=WEB,
    workload="pod:shop/app=web",
    ingress=INGRESS_RULES,
    egress=EGRESS_RULES,
)
EGRESS_ONLY = ProposedPolicy(
    name="batch",
    namespace="shop",
    subject=pods(app="batch"),
    workload="pod:shop/app=batch",
    ingress=None,
    egress=(),
)
PROPOSAL = Proposal(policies=(WEB_POLICY, EGRESS_ONLY), namespaces=("shop",))
OPTION_SETS = [
    RenderOptions(),
    RenderOptions(default_deny=True),
    RenderOptions(default_deny=True, tier="learned", evidence=False),
]


def documents(files: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {
        path: yaml.safe_load(text) for path, text in files.items() if path != "kustomization.yaml"
    }


def spec_of(files: dict[str, str], path: str = "shop/web.yaml") -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load(files[path])["spec"]
    return body


def check_document(document: dict[str, Any]) -> None:
    errors = sorted(VALIDATOR.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
    tier = document["spec"].get("tier", "default")
    if tier != "default":
        assert document["metadata"]["name"].startswith(f"{tier}.")


@pytest.mark.parametrize("options", OPTION_SETS, ids=["plain", "default-deny", "tier"])
@pytest.mark.parametrize("module", [calico, calico_staged], ids=["calico", "staged"])
def test_every_document_validates_against_the_schema(module: Any, options: RenderOptions) -> None:
    files = module.render(PROPOSAL, options)
    for document in documents(files).values():
        check_document(document)
    listed = yaml.safe_load(files["kustomization.yaml"])["resources"]
    assert sorted(listed) == sorted(p for p in files if p != "kustomization.yaml")


def test_the_schema_rejects_what_calico_rejects() -> None:
    good = documents(calico.render(PROPOSAL, RenderOptions()))["shop/web.yaml"]
    broken = json.loads(json.dumps(good))
    broken["spec"]["ingress"][0]["destination"]["ports"] = [8080]
    del broken["spec"]["ingress"][0]["protocol"]  # ports without a protocol
    assert list(VALIDATOR.iter_errors(broken))
    typo = json.loads(json.dumps(good))
    typo["spec"]["egress"][0]["destinaton"] = {}
    assert list(VALIDATOR.iter_errors(typo))


def test_rendering_is_deterministic() -> None:
    first = calico.render(PROPOSAL, RenderOptions(default_deny=True))
    reordered = Proposal(policies=tuple(reversed(PROPOSAL.policies)), namespaces=("shop",))
    assert calico.render(reordered, RenderOptions(default_deny=True)) == first


def test_subject_types_and_order() -> None:
    spec = spec_of(calico.render(PROPOSAL, RenderOptions()))
    assert spec["selector"] == "app == 'web'"
    assert spec["types"] == ["Ingress", "Egress"]
    assert (spec["tier"], spec["order"]) == ("default", 1000)
    batch = spec_of(calico.render(PROPOSAL, RenderOptions()), "shop/batch.yaml")
    # Egress isolated with nothing allowed; ingress left alone.
    assert batch["types"] == ["Egress"] and batch["egress"] == [] and "ingress" not in batch


def test_pod_peers_and_namespaces() -> None:
    ingress = spec_of(calico.render(PROPOSAL, RenderOptions()))["ingress"]
    assert len(ingress) == 4  # the host rule has no addresses to name
    assert {
        "action": "Allow",
        "protocol": "TCP",
        "source": {"selector": "app == 'frontend'"},
        "destination": {"ports": [8080]},
    } in ingress
    assert {
        "action": "Allow",
        "protocol": "TCP",
        "source": {
            "selector": "app == 'prometheus'",
            "namespaceSelector": "projectcalico.org/name == 'monitoring'",
        },
        "destination": {"ports": ["metrics"]},
    } in ingress
    assert {
        "action": "Allow",
        "protocol": "TCP",
        "source": {"namespaceSelector": "all()"},
        "destination": {"ports": ["6040:6050"]},
    } in ingress
    assert {
        "action": "Allow",
        "protocol": "ICMP",
        "source": {"selector": "app == 'frontend'"},
    } in ingress


def test_egress_peers() -> None:
    egress = spec_of(calico.render(PROPOSAL, RenderOptions()))["egress"]
    dns = [r for r in egress if r["destination"].get("ports") == [53]]
    assert [r["protocol"] for r in dns] == ["UDP", "TCP"]
    assert dns[0]["destination"]["namespaceSelector"] == "projectcalico.org/name == 'kube-system'"
    destinations = [r["destination"] for r in egress]
    assert {"nets": ["203.0.113.0/24"], "notNets": ["203.0.113.7/32"], "ports": [443]} in (
        destinations
    )
    assert {"domains": ["api.stripe.com"], "ports": [443]} in destinations
    assert {"nets": ["10.0.0.1/32"], "ports": [6443]} in destinations
    assert {"nets": ["0.0.0.0/0", "::/0"], "ports": [123]} in destinations
    cluster = [r for r in egress if r["destination"] == {"namespaceSelector": "all()"}]
    assert cluster == [
        {"action": "Allow", "protocol": "TCP", "destination": {"namespaceSelector": "all()"}}
    ]  # every TCP port of every pod
    assert {
        "selector": "tier in {'db', 'cache'} && !has(canary)",
        "namespaceSelector": "team == 'data'",
        "ports": [8080],
    } in destinations
    assert len(egress) == 8


def test_every_rule_carries_its_evidence_and_notes() -> None:
    text = calico.render(PROPOSAL, RenderOptions())["shop/web.yaml"]
    assert text.count("# observed 12 flows") == len(INGRESS_RULES) + len(EGRESS_RULES) - 1
    assert "# cluster DNS" in text
    assert "# DNS: mirror.example" in text
    assert (
        "# domains: Calico Enterprise/Cloud only; on Calico Open Source use nets: 198.51.100.10/32"
        in text
    )
    assert "(same learned rule: one peer and protocol per rule)" in text
    quiet = calico.render(PROPOSAL, RenderOptions(evidence=False))["shop/web.yaml"]
    assert "# observed" not in quiet and "# cluster DNS" in quiet


def test_default_deny_comes_after_the_allows() -> None:
    files = calico.render(PROPOSAL, RenderOptions(default_deny=True))
    deny = yaml.safe_load(files["shop/default-deny.yaml"])
    assert deny["spec"] == {
        "tier": "default",
        "order": 10000,
        "selector": "all()",
        "types": ["Ingress", "Egress"],
    }
    assert deny["spec"]["order"] > spec_of(files)["order"]


def test_a_non_default_tier_prefixes_names() -> None:
    files = calico.render(PROPOSAL, RenderOptions(default_deny=True, tier="learned"))
    web = yaml.safe_load(files["shop/web.yaml"])
    assert web["metadata"]["name"] == "learned.web" and web["spec"]["tier"] == "learned"
    deny = yaml.safe_load(files["shop/default-deny.yaml"])
    assert deny["metadata"]["name"] == "learned.default-deny"


def test_staged_policies_are_the_same_policies_staged() -> None:
    options = RenderOptions(default_deny=True)
    enforced = documents(calico.render(PROPOSAL, options))
    staged = documents(calico_staged.render(PROPOSAL, options))
    assert enforced.keys() == staged.keys()
    for path, document in staged.items():
        assert document["kind"] == "StagedNetworkPolicy"
        assert next(iter(document["spec"])) == "stagedAction"
        assert document["spec"].pop("stagedAction") == "Set"
        document["kind"] = "NetworkPolicy"
        assert document == enforced[path]


def test_registry_finds_both_formats() -> None:
    assert renderer("calico") is calico.render
    assert renderer("calico-staged") is calico_staged.render


@pytest.mark.parametrize(
    ("selector", "namespace", "expected"),
    [
        (LabelSelector(), False, "all()"),
        (pods(app="web", tier="front"), False, "app == 'web' && tier == 'front'"),
        (namespace_name_selector("shop"), True, "projectcalico.org/name == 'shop'"),
        (namespace_name_selector("shop"), False, "kubernetes.io/metadata.name == 'shop'"),
        (
            LabelSelector(match_expressions=(Requirement("env", Operator.NOT_IN, ("dev", "qa")),)),
            False,
            "env not in {'dev', 'qa'}",
        ),
        (
            LabelSelector(match_expressions=(Requirement("env", Operator.NOT_IN, ("dev",)),)),
            False,
            "env != 'dev'",
        ),
        (
            LabelSelector(match_expressions=(Requirement("canary", Operator.EXISTS),)),
            False,
            "has(canary)",
        ),
        (pods(note="it's"), False, 'note == "it\'s"'),
    ],
)
def test_selector_language(selector: LabelSelector, namespace: bool, expected: str) -> None:
    assert selector_expression(selector, namespace=namespace) == expected


def test_values_calico_cannot_spell_are_a_usage_error() -> None:
    with pytest.raises(UsageError, match="cannot be written in a Calico selector"):
        selector_expression(pods(note='it\'s "quoted"'))
    with pytest.raises(UsageError, match="label key"):
        selector_expression(pods(**{"bad key": "x"}))


@pytest.mark.parametrize("format_name", ["calico", "calico-staged"])
def test_policies_learned_from_calico_flows_validate(format_name: str) -> None:
    config = LearnConfig(format=format_name, render=RenderOptions(default_deny=True))
    store = new_store(config)
    flows = read_flows([str(CALICO_FLOWS)], source="calico", stats=CollectorStats())
    ingest(flows, store, config, NormalizeStats())
    proposal = build_proposal(store, None, config)
    files = renderer(format_name)(proposal, config.render)
    assert len(files) > 3
    for document in documents(files).values():
        check_document(document)
