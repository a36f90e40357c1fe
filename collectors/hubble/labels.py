"""Hubble/Cilium label strings (``source:key=value``) and identities, shared by the file and
gRPC collectors.

``k8s:app=x`` is a pod label; ``k8s:io.cilium.k8s.namespace.labels.<k>=<v>`` is a label of the
pod's namespace; ``io.kubernetes.pod.namespace``, ``io.cilium.k8s.policy.serviceaccount`` and
``io.cilium.k8s.policy.cluster`` carry namespace, service account and cluster; ``reserved:*``
names an entity (world, host, ...); ``cidr:``/``fqdn:`` labels belong to CIDR/FQDN identities.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from collectors.k8snames import check_endpoint
from learner.model.flow import Endpoint, EndpointKind, Labels

NAMESPACE_KEY = "io.kubernetes.pod.namespace"
NAMESPACE_LABEL_PREFIX = "io.cilium.k8s.namespace.labels."
SERVICE_ACCOUNT_KEY = "io.cilium.k8s.policy.serviceaccount"
CLUSTER_KEY = "io.cilium.k8s.policy.cluster"
CILIUM_INTERNAL_PREFIXES = ("io.cilium.k8s.", "io.cilium.")

RESERVED_IDENTITIES: dict[int, EndpointKind] = {
    1: EndpointKind.HOST,
    2: EndpointKind.WORLD,
    3: EndpointKind.UNMANAGED,
    4: EndpointKind.HEALTH,
    5: EndpointKind.UNKNOWN,  # init
    6: EndpointKind.REMOTE_NODE,
    7: EndpointKind.KUBE_APISERVER,
    8: EndpointKind.INGRESS,
    9: EndpointKind.WORLD,
    10: EndpointKind.WORLD,
}
RESERVED_NAMES: dict[str, EndpointKind] = {
    "host": EndpointKind.HOST,
    "remote-node": EndpointKind.REMOTE_NODE,
    "world": EndpointKind.WORLD,
    "world-ipv4": EndpointKind.WORLD,
    "world-ipv6": EndpointKind.WORLD,
    "unmanaged": EndpointKind.UNMANAGED,
    "health": EndpointKind.HEALTH,
    "kube-apiserver": EndpointKind.KUBE_APISERVER,
    "init": EndpointKind.UNKNOWN,
    "ingress": EndpointKind.INGRESS,
}
# When a local CIDR identity carries several reserved labels (e.g. kube-apiserver + world),
# the most specific one wins.
_RESERVED_PRECEDENCE = (
    EndpointKind.HEALTH,
    EndpointKind.INGRESS,
    EndpointKind.UNMANAGED,
    EndpointKind.KUBE_APISERVER,
    EndpointKind.HOST,
    EndpointKind.REMOTE_NODE,
    EndpointKind.WORLD,
    EndpointKind.UNKNOWN,
)


@dataclass(frozen=True, slots=True)
class ParsedLabels:
    pod_labels: Labels
    namespace_labels: Labels
    namespace: str
    service_account: str
    cluster: str
    reserved: EndpointKind | None
    """The entity named by ``reserved:`` labels, if any."""


def split_label(text: str) -> tuple[str, str, str]:
    """``k8s:app=web`` → (``k8s``, ``app``, ``web``). A missing source is ``""``; a missing
    value is ``""``. Keys may contain ``:`` (e.g. ``k8s:foo:bar=x``): only the first is the source."""
    source = ""
    key_value = text
    colon = text.find(":")
    equals = text.find("=")
    if colon != -1 and (equals == -1 or colon < equals):
        source, key_value = text[:colon], text[colon + 1 :]
    key, _, value = key_value.partition("=")
    return source, key, value


def parse_labels(labels: Iterable[str]) -> ParsedLabels:
    pod: dict[str, str] = {}
    namespace_labels: dict[str, str] = {}
    namespace = service_account = cluster = ""
    reserved: set[EndpointKind] = set()
    for text in labels:
        source, key, value = split_label(text)
        if source == "reserved":
            reserved.add(RESERVED_NAMES.get(key, EndpointKind.UNKNOWN))
            continue
        if source in ("cidr", "fqdn", "cidrgroup", "node"):
            continue
        if key == NAMESPACE_KEY:
            namespace = value
        elif key.startswith(NAMESPACE_LABEL_PREFIX):
            namespace_labels[key[len(NAMESPACE_LABEL_PREFIX) :]] = value
        elif key == SERVICE_ACCOUNT_KEY:
            service_account = value
        elif key == CLUSTER_KEY:
            cluster = value
        elif key.startswith(CILIUM_INTERNAL_PREFIXES):
            continue
        else:
            pod[key] = value
    entity = next((k for k in _RESERVED_PRECEDENCE if k in reserved), None)
    return ParsedLabels(
        pod_labels=tuple(sorted(pod.items())),
        namespace_labels=tuple(sorted(namespace_labels.items())),
        namespace=namespace,
        service_account=service_account,
        cluster=cluster,
        reserved=entity,
    )


def endpoint_kind(
    identity: int, parsed: ParsedLabels, namespace: str, pod_name: str
) -> EndpointKind:
    """Decide what an endpoint is from its numeric identity, reserved labels and pod fields.

    Reserved labels win, except that real captures sometimes tag a pod seen through the L7
    proxy as ``reserved:world`` while still naming its namespace and pod: that is a pod.
    """
    kind = parsed.reserved
    if kind is None and 0 < identity < 256:
        kind = RESERVED_IDENTITIES.get(identity, EndpointKind.UNKNOWN)
    if kind == EndpointKind.WORLD and namespace and pod_name:
        return EndpointKind.POD
    if kind is not None:
        return kind
    if parsed.namespace or namespace or parsed.pod_labels:
        return EndpointKind.POD
    return EndpointKind.UNKNOWN


def make_endpoint(
    *,
    identity: int,
    labels: Iterable[str],
    namespace: str,
    pod_name: str,
    ip: str,
    workload_kind: str = "",
    workload_name: str = "",
    cluster_name: str = "",
) -> Endpoint:
    parsed = parse_labels(labels)
    kind = endpoint_kind(identity, parsed, namespace, pod_name)
    if kind == EndpointKind.UNMANAGED:
        # Still a pod, whose name and namespace help the report, but not one Cilium matches
        # by labels.
        namespace = parsed.namespace or namespace
        return Endpoint(kind=kind, namespace=namespace, pod=pod_name, ip=ip, cluster=cluster_name)
    if kind != EndpointKind.POD:
        return Endpoint(kind=kind, ip=ip, cluster=cluster_name or parsed.cluster)
    endpoint = Endpoint(
        kind=kind,
        namespace=parsed.namespace or namespace,
        labels=parsed.pod_labels,
        namespace_labels=parsed.namespace_labels,
        workload_kind=workload_kind,
        workload_name=workload_name,
        pod=pod_name,
        ip=ip,
        service_account=parsed.service_account,
        cluster=cluster_name or parsed.cluster,
    )
    return check_endpoint(endpoint)
