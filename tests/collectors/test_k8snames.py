from __future__ import annotations

from collections import Counter

import pytest

from collectors.hubble.labels import make_endpoint
from collectors.k8snames import (
    InvalidName,
    drain_label_warnings,
    label_key_problem,
    label_value_problem,
    namespace_problem,
    subdomain_problem,
)


@pytest.mark.parametrize("name", ["default", "kube-system", "a", "a1-b2", "x" * 63])
def test_valid_namespaces(name: str) -> None:
    assert namespace_problem(name) is None


@pytest.mark.parametrize(
    "name", ["..", "../../etc", "/var/lib/victim", "UPPER_ns", "a\nb: c", "x" * 64, "-a", "a.b"]
)
def test_invalid_namespaces(name: str) -> None:
    assert namespace_problem(name)


def test_subdomains() -> None:
    assert subdomain_problem("reviews-v1-545db77b95-s6jb8") is None
    assert subdomain_problem("a.b-c") is None
    assert subdomain_problem("a\n```") and subdomain_problem("x" * 254)


@pytest.mark.parametrize(
    "key", ["app", "app.kubernetes.io/name", "security.istio.io/tlsMode", "a_b", "A.b-C"]
)
def test_valid_label_keys(key: str) -> None:
    assert label_key_problem(key) is None


@pytest.mark.parametrize("key", ["", "/a", "a/", "a b", "x" * 64, "Bad_Prefix/a", "a\nb", "-a"])
def test_invalid_label_keys(key: str) -> None:
    assert label_key_problem(key)


def test_label_values() -> None:
    assert label_value_problem("") is None
    assert label_value_problem("v1.2_3-x") is None
    for bad in ("x" * 300, "a\nb: c", "long horn", "-a", "a-"):
        assert label_value_problem(bad)


def pod_labels(*labels: str) -> list[str]:
    return ["k8s:io.kubernetes.pod.namespace=shop", *labels]


def test_an_invalid_label_is_dropped_and_reported() -> None:
    endpoint = make_endpoint(
        identity=4242,
        labels=pod_labels("k8s:app=api", "k8s:evil=a\nb: c", f"k8s:long={'x' * 300}"),
        namespace="shop",
        pod_name="api-1",
        ip="10.0.0.1",
    )
    assert endpoint.labels == (("app", "api"),)
    warnings: Counter[str] = Counter()
    drain_label_warnings(warnings)
    assert len(warnings) == 2
    assert all("dropped" in message for message in warnings)


@pytest.mark.parametrize(
    ("field", "value"),
    [("namespace", "../../etc"), ("pod_name", "a\n```"), ("workload_name", "UPPER")],
)
def test_an_invalid_name_makes_the_endpoint_invalid(field: str, value: str) -> None:
    arguments = {"namespace": "shop", "pod_name": "api-1", "workload_name": "api"}
    arguments[field] = value
    labels = ["k8s:app=api"] if field == "namespace" else pod_labels("k8s:app=api")
    with pytest.raises(InvalidName):
        make_endpoint(identity=4242, labels=labels, ip="10.0.0.1", **arguments)
