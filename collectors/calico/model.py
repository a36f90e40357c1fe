"""Calico's flow vocabulary mapped onto the flow model, shared by every Calico collector.

Calico Enterprise files, Elasticsearch documents, the Whisker backend and Goldmane all describe
an endpoint by type (``wep``/``hep``/``ns``/``net``), namespace, name, an *aggregated* name
(``nginx-86c57db685-*``: the pod's GenerateName plus ``*``) and ``k=v`` labels. This module turns
those into :class:`~learner.model.Endpoint` values, with caches because the same few endpoints
repeat in every flush interval.

Aggregated records without labels: the identity of a pod is its namespace plus labels, so pods
with no labels would all collapse into one identity per namespace. Such endpoints get the single
label ``calico.aggregated-name=<workload name>`` (:data:`AGGREGATED_NAME_LABEL`). It does not
exist on real pods: selectors built from it need the inventory (``--inventory``) to map the
workload name to real labels, and every endpoint that received it is counted as a warning.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from collectors.k8snames import check_endpoint
from learner.model.flow import Direction, Endpoint, EndpointKind, Labels, Protocol, Verdict
from learner.model.identity import workload_name_from_pod

AGGREGATED_NAME_LABEL = "calico.aggregated-name"
"""Stand-in label for a pod reported without labels: value = its workload name."""
CALICO_LABEL_PREFIX = "projectcalico.org/"
"""Keys Calico adds to the labels it reports (namespace, orchestrator, service account)."""
SERVICE_ACCOUNT_LABEL = "projectcalico.org/serviceaccount"
NOT_INCLUDED = "-"
"""Calico's "not applicable / not included / aggregated away" marker."""
UNKNOWN_NETWORKS = frozenset({"pub", "pvt"})
"""Aggregated names of addresses Calico knows nothing about (public / RFC 1918)."""

WARN_NAME_LABEL = (
    f"pods reported without labels were identified by their workload name "
    f"(label {AGGREGATED_NAME_LABEL}); selectors on it need --inventory to match real pods"
)


class EndpointType(StrEnum):
    """Calico endpoint types, as the file flow logs spell them."""

    WORKLOAD = "wep"
    HOST = "hep"
    NETWORK_SET = "ns"
    NETWORK = "net"


ENDPOINT_TYPES: dict[str, EndpointType] = {
    "wep": EndpointType.WORKLOAD,
    "hep": EndpointType.HOST,
    "ns": EndpointType.NETWORK_SET,
    "net": EndpointType.NETWORK,
    # Goldmane enum names (protojson) and numbers.
    "WorkloadEndpoint": EndpointType.WORKLOAD,
    "HostEndpoint": EndpointType.HOST,
    "NetworkSet": EndpointType.NETWORK_SET,
    "Network": EndpointType.NETWORK,
    "1": EndpointType.WORKLOAD,
    "2": EndpointType.HOST,
    "3": EndpointType.NETWORK_SET,
    "4": EndpointType.NETWORK,
}

PROTOCOLS: dict[str, Protocol] = {
    "tcp": Protocol.TCP,
    "6": Protocol.TCP,
    "udp": Protocol.UDP,
    "17": Protocol.UDP,
    "sctp": Protocol.SCTP,
    "132": Protocol.SCTP,
    "icmp": Protocol.ICMPV4,
    "icmpv4": Protocol.ICMPV4,
    "1": Protocol.ICMPV4,
    "icmp6": Protocol.ICMPV6,
    "icmpv6": Protocol.ICMPV6,
    "58": Protocol.ICMPV6,
}

VERDICTS: dict[str, Verdict] = {
    "allow": Verdict.FORWARDED,
    "deny": Verdict.DROPPED,
    "1": Verdict.FORWARDED,
    "2": Verdict.DROPPED,
}

# fwd: seen at a node forwarding the connection (e.g. a NodePort hop), which is upstream of the
# destination. Counting it with the source side lets EdgeStats.count (max of both sides) count
# a connection reported at a forwarding node *and* at its destination once.
# out/in: the reporter spelling of the legacy space-delimited format.
DIRECTIONS: dict[str, Direction] = {
    "src": Direction.EGRESS,
    "out": Direction.EGRESS,
    "fwd": Direction.EGRESS,
    "dst": Direction.INGRESS,
    "in": Direction.INGRESS,
    "1": Direction.EGRESS,
    "2": Direction.INGRESS,
}


def protocol_of(value: object) -> Protocol | None:
    """``tcp``/``6``/``TCP`` → TCP; None for protocols a policy port cannot name (ipip, esp...)."""
    return PROTOCOLS.get(str(value).lower())


def verdict_of(action: object) -> Verdict:
    found = VERDICTS.get(action) if isinstance(action, str) else None
    return found or VERDICTS.get(str(action).lower(), Verdict.UNKNOWN)


def direction_of(reporter: object) -> Direction:
    """``src``/``dst``/``fwd`` and combinations such as ``"dst, fwd"`` (the endpoint end wins)."""
    found = DIRECTIONS.get(reporter) if isinstance(reporter, str) else None
    if found is not None:
        return found
    text = str(reporter).lower()
    found = DIRECTIONS.get(text)
    if found is not None:
        return found
    parts = {p.strip() for p in text.split(",")}
    if "dst" in parts:
        return Direction.INGRESS
    if "src" in parts:
        return Direction.EGRESS
    if "fwd" in parts:
        return Direction.EGRESS
    return Direction.UNKNOWN


# Kubernetes' pod-template-hash is a uint32 in decimal, each digit encoded with
# rand.SafeEncodeString: only these ten characters occur.
_TEMPLATE_HASH = re.compile(r"-[4-9bcdf]{6,10}$")
_CRONJOB_RUN = re.compile(r"-\d{8,}$")


def workload_name(aggregated_name: str, template_hash: str = "") -> str:
    """The controller's name behind a Calico aggregated name.

    ``nginx-86c57db685-*`` (ReplicaSet GenerateName) → ``nginx``; ``backup-28012345-*`` (a
    CronJob's Job) → ``backup``; ``fluentd-*`` (DaemonSet) → ``fluentd``; a name without ``*``
    is a pod's own name (no GenerateName, e.g. a StatefulSet's ``web-0``) → ``web``.
    """
    if not aggregated_name.endswith("*"):
        return workload_name_from_pod(aggregated_name)
    base = aggregated_name[:-1].rstrip("-")
    if template_hash and base.endswith("-" + template_hash):
        return base[: -len(template_hash) - 1]
    match = _TEMPLATE_HASH.search(base) or _CRONJOB_RUN.search(base)
    if match and match.start() > 0:
        return base[: match.start()]
    return base


@dataclass(frozen=True, slots=True)
class CalicoLabels:
    """Reported labels split into pod labels and what Calico added."""

    pod_labels: Labels
    service_account: str = ""


def split_labels(pairs: Iterable[str]) -> CalicoLabels:
    """``["app=web", "projectcalico.org/namespace=shop"]`` → pod labels without Calico's keys."""
    labels: dict[str, str] = {}
    service_account = ""
    for pair in pairs:
        if not isinstance(pair, str):
            raise ValueError(f"label {pair!r} is not a 'key=value' string")
        key, _, value = pair.strip().partition("=")
        if not key:
            continue
        if key.startswith(CALICO_LABEL_PREFIX):
            if key == SERVICE_ACCOUNT_LABEL:
                service_account = value
            continue
        labels[key] = value
    return CalicoLabels(tuple(sorted(labels.items())), service_account)


@dataclass(frozen=True, slots=True)
class RawEndpoint:
    """One end of a Calico record, as reported (``-`` already turned into ``""``)."""

    endpoint_type: EndpointType | None
    namespace: str = ""
    name: str = ""
    """Pod (or host) name; empty when aggregated away."""
    aggregated_name: str = ""
    labels: tuple[str, ...] | None = None
    """``k=v`` strings; None when the record does not include labels."""
    ip: str = ""


class EndpointMapper:
    """Builds endpoints, caches them by the caller's raw key, and counts the name-only ones.

    The key is whatever the caller reads from a record (uncleaned values), so that a repeated
    endpoint costs one dictionary lookup.
    """

    def __init__(self, cache_limit: int = 100_000) -> None:
        self._cache: dict[Hashable, tuple[Endpoint, bool]] = {}
        self._cache_limit = cache_limit
        self.named_only = 0
        """Endpoints given :data:`AGGREGATED_NAME_LABEL` because no labels were reported."""

    def cached(self, key: Hashable) -> Endpoint | None:
        found = self._cache.get(key)
        if found is None:
            return None
        if found[1]:
            self.named_only += 1
        return found[0]

    def add(self, key: Hashable, raw: RawEndpoint) -> Endpoint:
        endpoint = build_endpoint(raw)
        named = bool(endpoint.labels) and endpoint.labels[0][0] == AGGREGATED_NAME_LABEL
        if len(self._cache) >= self._cache_limit:
            self._cache.clear()
        self._cache[key] = (endpoint, named)
        if named:
            self.named_only += 1
        return endpoint

    def endpoint(self, raw: RawEndpoint) -> Endpoint:
        """The endpoint for an already cleaned :class:`RawEndpoint`."""
        return self.cached(raw) or self.add(raw, raw)


def build_endpoint(raw: RawEndpoint) -> Endpoint:
    kind = endpoint_kind(raw)
    if kind is EndpointKind.HOST:
        return Endpoint(
            kind=kind,
            ip=raw.ip,
            workload_kind="HostEndpoint",
            workload_name=raw.aggregated_name or raw.name,
        )
    if kind is EndpointKind.WORLD:
        if raw.endpoint_type is EndpointType.NETWORK_SET:
            set_kind = "NetworkSet" if raw.namespace else "GlobalNetworkSet"
        else:
            set_kind = "Network"
        return Endpoint(
            kind=kind,
            ip=raw.ip,
            workload_kind=set_kind,
            workload_name=raw.aggregated_name or raw.name,
        )
    reported = split_labels(raw.labels or ())
    template_hash = dict(reported.pod_labels).get("pod-template-hash", "")
    name = workload_name(raw.aggregated_name or raw.name, template_hash)
    pod = raw.name
    if not pod and raw.aggregated_name and not raw.aggregated_name.endswith("*"):
        pod = raw.aggregated_name  # no GenerateName: the aggregated name is the pod's own
    pod_labels = reported.pod_labels
    if not pod_labels and name:
        pod_labels = ((AGGREGATED_NAME_LABEL, name),)
    endpoint = Endpoint(
        kind=kind,
        namespace=raw.namespace,
        labels=pod_labels,
        workload_name=name,
        pod=pod,
        ip=raw.ip,
        service_account=reported.service_account,
    )
    return check_endpoint(endpoint)


def endpoint_kind(raw: RawEndpoint) -> EndpointKind:
    """wep → pod, hep → host, ns/net → world; sources without a type are judged by the name."""
    kind = raw.endpoint_type
    if kind is None:
        if raw.aggregated_name in UNKNOWN_NETWORKS or raw.name in UNKNOWN_NETWORKS:
            kind = EndpointType.NETWORK
        elif raw.namespace:
            kind = EndpointType.WORKLOAD
        else:
            # No namespace and not pub/pvt: a host endpoint or a global network set; Whisker
            # does not say which. Neither is a pod, and an address-less world is the safer peer.
            kind = EndpointType.NETWORK_SET
    if kind is EndpointType.WORKLOAD:
        return EndpointKind.POD
    if kind is EndpointType.HOST:
        return EndpointKind.HOST
    return EndpointKind.WORLD


def clean(value: object) -> str:
    """A reported string with Calico's ``-`` (and null) turned into ``""``."""
    if value is None:
        return ""
    text = str(value)
    return "" if text == NOT_INCLUDED else text
