"""The CNI-neutral flow model every collector produces and every later stage reads.

This module imports nothing from the project. All types are immutable values; labels are
sorted tuples of ``(key, value)`` pairs so that equal endpoints hash and compare equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

Labels = tuple[tuple[str, str], ...]
"""Sorted, duplicate-free ``(key, value)`` pairs."""


def make_labels(pairs: Mapping[str, str] | Iterable[tuple[str, str]]) -> Labels:
    """Return the canonical (sorted, last value wins) label tuple for ``pairs``."""
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    return tuple(sorted(dict(items).items()))


def labels_dict(labels: Labels) -> dict[str, str]:
    return dict(labels)


class EndpointKind(StrEnum):
    """What an endpoint is, as far as policy is concerned."""

    POD = "pod"
    WORLD = "world"
    """Outside the cluster: an IP address, maybe with DNS names."""
    HOST = "host"
    """The node the flow was observed on (or a hostNetwork pod on it)."""
    REMOTE_NODE = "remote-node"
    KUBE_APISERVER = "kube-apiserver"
    HEALTH = "health"
    """Cilium's own health-check endpoints: never policy subjects."""
    UNMANAGED = "unmanaged"
    """A pod Cilium does not manage (``reserved:unmanaged``): no endpoint selector matches it."""
    INGRESS = "ingress"
    """Cilium's ingress/Gateway proxy (``reserved:ingress``), the source of proxied requests."""
    UNKNOWN = "unknown"


class Protocol(StrEnum):
    TCP = "TCP"
    UDP = "UDP"
    SCTP = "SCTP"
    ICMPV4 = "ICMPv4"
    ICMPV6 = "ICMPv6"

    @property
    def has_ports(self) -> bool:
        return self in (Protocol.TCP, Protocol.UDP, Protocol.SCTP)


class Verdict(StrEnum):
    FORWARDED = "FORWARDED"
    DROPPED = "DROPPED"
    ERROR = "ERROR"
    AUDIT = "AUDIT"
    """Policy audit mode: would have been dropped, was let through."""
    REDIRECTED = "REDIRECTED"
    """Sent to an L7 proxy; allowed at L3/L4."""
    TRACED = "TRACED"
    TRANSLATED = "TRANSLATED"
    UNKNOWN = "VERDICT_UNKNOWN"


class Direction(StrEnum):
    """Where a flow was observed, relative to the connection.

    ``EGRESS``: observed leaving the connection's initiator (the source).
    ``INGRESS``: observed arriving at the connection's server (the destination).
    """

    INGRESS = "INGRESS"
    EGRESS = "EGRESS"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One end of a flow."""

    kind: EndpointKind
    namespace: str = ""
    """Kubernetes namespace; empty for non-pod endpoints."""
    labels: Labels = ()
    """Pod labels (source prefixes such as ``k8s:`` stripped; namespace labels not included)."""
    namespace_labels: Labels = ()
    """Labels of the endpoint's namespace, when the source reports them."""
    workload_kind: str = ""
    """Owning controller kind (``Deployment``, ``StatefulSet``, ``CronJob`` ...), if known."""
    workload_name: str = ""
    pod: str = ""
    ip: str = ""
    service_account: str = ""
    cluster: str = ""


UNKNOWN_ENDPOINT = Endpoint(kind=EndpointKind.UNKNOWN)


class Origin(NamedTuple):
    """Where a flow came from, for messages: a file and 1-based line, or a stream position.

    A NamedTuple for the same reason as :class:`Flow`: one is built per input line.
    """

    source: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.source}:{self.line}" if self.line else self.source


@dataclass(frozen=True, slots=True)
class HTTPRequest:
    method: str
    path: str


class Flow(NamedTuple):
    """One observed connection attempt (or a record standing for ``count`` of them).

    A NamedTuple rather than a frozen dataclass: collectors build one per input line, millions
    of times, and a frozen dataclass's field-by-field ``__init__`` costs twice as much.
    """

    time: float
    """Seconds since the Unix epoch (UTC)."""
    source: Endpoint
    destination: Endpoint
    protocol: Protocol
    port: int
    """Destination port; 0 when the protocol has none (ICMP) or it was aggregated away."""
    verdict: Verdict
    direction: Direction
    is_reply: bool | None
    """True for reply traffic, False for the initiating side, None when the source cannot tell."""
    origin: Origin
    source_port: int = 0
    """Source port, when known; used only to recognise unflagged replies."""
    dns_names: tuple[str, ...] = ()
    """DNS names known for the destination address (FQDN cache, DNS answers, dest_domains)."""
    count: int = 1  # type: ignore[assignment]  # shadows tuple.count, on purpose
    """How many connections this record stands for (aggregated sources say more than 1)."""
    http: HTTPRequest | None = None
    """The request of an L7 HTTP flow."""
    dns_query: str = ""
    """The name looked up, for an L7 DNS request flow (no trailing dot)."""
    node: str = ""
    policies: tuple[str, ...] = ()
    """Names of the policies the CNI reported as deciding this flow, when it says."""
    dns_answers: tuple[str, ...] = ()
    """For an L7 DNS response: the addresses ``dns_query`` resolved to."""
