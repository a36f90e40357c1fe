"""Cluster infrastructure the learner treats specially: DNS, the API server, nodes, monitoring.

* **Cluster DNS** (CoreDNS / kube-dns ``k8s-app=kube-dns``, NodeLocal DNSCache
  ``k8s-app=node-local-dns`` and its link-local ``169.254.20.10``, OpenShift
  ``dns.operator.openshift.io/daemonset-dns=default``): every egress-isolated workload gets one
  shared DNS rule, and the DNS servers accept DNS from every pod.
* **kube-apiserver**: an entity whose addresses are every API server address seen anywhere,
  so a client seen talking to one replica of an HA control plane keeps reaching the others.
* **Nodes**: ingress from the pod's own node (``host``) is always allowed by NetworkPolicy, so
  it gets no rule; ``remote-node`` and egress to ``host`` become entities listing the node
  network (learner/infer/node_network.py), as nodes come and go.
* **Monitoring** scrapers (Prometheus, VictoriaMetrics agents, Grafana Agent/Alloy, OTel
  collectors): ingress rules whose peers are all scrapers are marked as monitoring.
* **Cluster-wide clients**, scrapers and ingress controllers: their egress to pods in many
  namespaces on the same ports reaches every namespace on them (the next namespace comes with
  its own ServiceMonitor or Ingress).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from learner.model.flow import Labels

DNS_PORT = 53
OPENSHIFT_DNS_PORT = 5353
NODELOCAL_DNS_ADDRESSES: frozenset[str] = frozenset({"169.254.20.10", "fd00::a"})
DNS_LABELS: frozenset[tuple[str, str]] = frozenset(
    {
        ("k8s-app", "kube-dns"),
        ("k8s-app", "coredns"),
        ("k8s-app", "node-local-dns"),
        ("app.kubernetes.io/name", "coredns"),
        ("app.kubernetes.io/name", "kube-dns"),
        ("app.kubernetes.io/name", "node-local-dns"),
        ("dns.operator.openshift.io/daemonset-dns", "default"),
    }
)
NODE_NETWORK_MARK = ": the node network"
"""How a rule's ``admits`` entry for node addresses beyond those seen reads after its CIDR."""
NODES_KEPT_WARNING = "rules to nodes list the nodes seen at"
"""How the warning about node addresses no node network could be guessed around begins."""
EVERY_NAMESPACE_ADMITS = "every pod in every namespace on these ports"
"""How a cluster-wide client's rule says it admits every namespace on its ports."""
OPENSHIFT_DNS_KEY = "dns.operator.openshift.io/daemonset-dns"
NODELOCAL_LABEL = ("k8s-app", "node-local-dns")
DNS_PORT_NAMES: frozenset[str] = frozenset({"dns", "dns-tcp", "dns-udp"})

MONITORING_NAMES: frozenset[str] = frozenset(
    {
        "prometheus",
        "vmagent",
        "victoria-metrics-agent",
        "grafana-agent",
        "alloy",
        "opentelemetry-collector",
        "otel-collector",
        "datadog-agent",
        "datadog",
        "kube-state-metrics-scraper",
    }
)
MONITORING_NAME_KEYS: tuple[str, ...] = ("app.kubernetes.io/name", "app", "k8s-app", "name")
PROMETHEUS_OPERATOR_KEY = "prometheus"
"""prometheus-operator labels every Prometheus pod ``prometheus=<name>``."""

INGRESS_CONTROLLER_NAMES: frozenset[str] = frozenset(
    {
        "ingress-nginx",
        "nginx-ingress",
        "nginx-ingress-controller",
        "rke2-ingress-nginx",
        "traefik",
        "contour",
        "haproxy-ingress",
        "kubernetes-ingress",
        "kong",
        "ingress-kong",
        "emissary-ingress",
        "ambassador",
        "istio-ingressgateway",
        "skipper-ingress",
        "envoy-gateway",
    }
)
"""``app.kubernetes.io/name`` (or ``app``) of common ingress controllers and gateways, which
forward to Services in any namespace an Ingress or route names."""

DNS_PURPOSE = "cluster DNS"
MONITORING_PURPOSE = "monitoring scrape"


def is_dns_server(labels: Labels) -> bool:
    return any(pair in DNS_LABELS for pair in labels)


def is_openshift_dns(labels: Labels) -> bool:
    return any(key == OPENSHIFT_DNS_KEY for key, _ in labels)


def is_nodelocal_dns(labels: Labels) -> bool:
    return NODELOCAL_LABEL in labels


def is_dns_address(address: str) -> bool:
    """A NodeLocal DNSCache listen address (link-local, the same on every node)."""
    return address in NODELOCAL_DNS_ADDRESSES


def is_dns_port(protocol: str, port: int) -> bool:
    return protocol in ("UDP", "TCP") and port in (DNS_PORT, OPENSHIFT_DNS_PORT)


def is_monitoring(labels: Labels) -> bool:
    values: Mapping[str, str] = dict(labels)
    if PROMETHEUS_OPERATOR_KEY in values and values.get("app.kubernetes.io/name") in (
        None,
        "prometheus",
    ):
        return True
    return any(values.get(key) in MONITORING_NAMES for key in MONITORING_NAME_KEYS)


def is_ingress_controller(labels: Labels) -> bool:
    values: Mapping[str, str] = dict(labels)
    return any(values.get(key) in INGRESS_CONTROLLER_NAMES for key in MONITORING_NAME_KEYS)


@dataclass(frozen=True, slots=True)
class DnsPorts:
    """The ports a cluster's DNS pods serve on (53, or 5353 behind OpenShift's service)."""

    ports: tuple[int, ...]

    @staticmethod
    def for_servers(server_labels: list[Labels]) -> DnsPorts:
        ports = {DNS_PORT}
        if any(is_openshift_dns(labels) for labels in server_labels):
            ports.add(OPENSHIFT_DNS_PORT)
        return DnsPorts(tuple(sorted(ports)))


def without_node_network(admits: tuple[str, ...]) -> tuple[str, ...]:
    """``admits`` for a rule that names nodes by entity (Cilium): no node network is admitted."""
    return tuple(a for a in admits if NODE_NETWORK_MARK not in a)
