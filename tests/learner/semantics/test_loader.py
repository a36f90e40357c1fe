"""Loading policy documents from real files: multi-document YAML, List dumps, API list JSON,
kustomization files ignored, per-document errors while the rest loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from learner.model.errors import PolicyError, UsageError
from learner.semantics import (
    LoadStats,
    Traffic,
    TrafficPeer,
    compile_policies,
    load_policy_documents,
)

POLICIES = Path(__file__).parents[2] / "fixtures" / "policies"


def shop(labels: dict[str, str]) -> TrafficPeer:
    return TrafficPeer(kind="pod", namespace="shop", labels=tuple(sorted(labels.items())))


def test_loads_every_policy_shape_from_a_directory() -> None:
    stats = LoadStats()
    documents, errors = load_policy_documents([str(POLICIES / "valid")], stats=stats)
    assert errors == []
    found = [(Path(d.path).name, d.index, d.item, d.body["metadata"]["name"]) for d in documents]
    assert found == [
        ("default-deny-ingress.yaml", 0, -1, "default-deny-ingress"),
        ("kubectl-list.yaml", 0, 0, "allow-web-from-frontend"),
        ("kubectl-list.yaml", 0, 1, "web-egress-dns"),
        ("api-list.json", 0, 0, "db-from-web"),
    ]
    # The typed list's item got the kind and apiVersion the API leaves out.
    assert documents[-1].kind == "NetworkPolicy"
    assert documents[-1].api_version == "networking.k8s.io/v1"
    assert stats.files == 3, "kustomization.yaml is not read"
    assert stats.policies == 4
    assert stats.skipped == {"Deployment": 1, "ConfigMap": 1}


def test_loaded_documents_compile_and_decide() -> None:
    documents, _ = load_policy_documents([str(POLICIES / "valid")])
    policies = compile_policies(documents)
    web, frontend, db = shop({"app": "web"}), shop({"role": "frontend"}), shop({"app": "db"})
    assert policies.evaluate(Traffic(frontend, web, "TCP", 8080)).allowed
    assert not policies.evaluate(Traffic(frontend, web, "TCP", 9090)).allowed
    assert not policies.evaluate(Traffic(frontend, db, "TCP", 5432)).allowed
    # web may only talk DNS to kube-system
    assert not policies.evaluate(Traffic(web, db, "TCP", 5432)).allowed
    dns = TrafficPeer(kind="pod", namespace="kube-system", labels=(("k8s-app", "kube-dns"),))
    assert policies.evaluate(Traffic(web, dns, "UDP", 53)).allowed
    [decision_policy] = policies.evaluate(Traffic(frontend, web, "TCP", 8080)).ingress.policies
    assert decision_policy.location.endswith("kubectl-list.yaml document 0")


def test_bad_documents_are_errors_while_the_rest_loads() -> None:
    documents, errors = load_policy_documents([str(POLICIES / "invalid")])
    broken = str(POLICIES / "invalid" / "broken-yaml.yaml")
    [yaml_error] = errors
    assert (yaml_error.path, yaml_error.document) == (broken, 1)
    assert "invalid YAML" in yaml_error.reason
    names = [d.body["metadata"]["name"] for d in documents]
    assert names == ["before-the-break", "first-good", "bad-operator", "second-good", "bad-cidr"]

    compile_errors: list[PolicyError] = []
    policies = compile_policies(documents, errors=compile_errors)
    mixed = str(POLICIES / "invalid" / "mixed.yaml")
    assert [(e.path, e.document, e.field) for e in compile_errors] == [
        (mixed, 1, "spec.podSelector.matchExpressions[0].operator"),
        (mixed, 3, "spec.egress[0].to[0].ipBlock.cidr"),
    ]
    assert str(compile_errors[0]).startswith(f"{mixed} document 1 (spec.podSelector")
    assert [p.ref.name for p in policies.policies] == [
        "before-the-break",
        "first-good",
        "second-good",
    ]


def test_named_file_is_read_whatever_its_suffix(tmp_path: Path) -> None:
    path = tmp_path / "policy.txt"
    path.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: p, namespace: x}\nspec: {podSelector: {}}\n"
    )
    (tmp_path / "notes.txt").write_text("kind: NetworkPolicy\n")
    documents, errors = load_policy_documents([str(path)])
    assert [d.body["metadata"]["name"] for d in documents] == ["p"]
    documents, errors = load_policy_documents([str(tmp_path)])
    assert documents == [] and errors == [], "directories only contribute YAML and JSON files"


def test_scalars_and_documents_without_kind_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text("just a string\n---\n{values: {replicas: 3}}\n---\n---\n[1, 2]\n")
    stats = LoadStats()
    documents, errors = load_policy_documents([str(path)], stats=stats)
    assert documents == [] and errors == []
    assert stats.skipped == {"<not an object>": 2, "<no kind>": 1}


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        load_policy_documents([str(tmp_path / "missing")])
