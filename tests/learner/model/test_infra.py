"""Recognising cluster DNS and monitoring workloads."""

from __future__ import annotations

import pytest

from learner.model.flow import make_labels
from learner.model.infra import (
    DnsPorts,
    is_dns_address,
    is_dns_port,
    is_dns_server,
    is_monitoring,
    is_nodelocal_dns,
)


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"k8s-app": "kube-dns"}, True),
        ({"k8s-app": "node-local-dns"}, True),
        ({"app.kubernetes.io/name": "coredns", "app.kubernetes.io/instance": "coredns"}, True),
        ({"dns.operator.openshift.io/daemonset-dns": "default"}, True),
        ({"app": "dns-proxy"}, False),
        ({"k8s-app": "kube-proxy"}, False),
    ],
)
def test_dns_servers(labels: dict[str, str], expected: bool) -> None:
    assert is_dns_server(make_labels(labels)) is expected


def test_nodelocal_and_ports() -> None:
    assert is_nodelocal_dns(make_labels({"k8s-app": "node-local-dns"}))
    assert is_dns_address("169.254.20.10") and not is_dns_address("169.254.169.254")
    assert is_dns_port("UDP", 53) and is_dns_port("TCP", 5353) and not is_dns_port("SCTP", 53)
    assert DnsPorts.for_servers([make_labels({"k8s-app": "kube-dns"})]).ports == (53,)
    openshift = make_labels({"dns.operator.openshift.io/daemonset-dns": "default"})
    assert DnsPorts.for_servers([openshift]).ports == (53, 5353)


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"app.kubernetes.io/name": "prometheus", "prometheus": "k8s"}, True),
        ({"prometheus": "main"}, True),
        ({"app": "vmagent"}, True),
        ({"app.kubernetes.io/name": "alloy"}, True),
        ({"app": "prometheus-exporter"}, False),
        ({"prometheus": "k8s", "app.kubernetes.io/name": "thanos-sidecar"}, False),
    ],
)
def test_monitoring(labels: dict[str, str], expected: bool) -> None:
    assert is_monitoring(make_labels(labels)) is expected
