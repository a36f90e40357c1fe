"""Hand-built flows and stores for the learner's tests."""

from __future__ import annotations

from collections.abc import Iterable

from learner.model.edges import EdgeStore
from learner.model.flow import (
    Direction,
    Endpoint,
    EndpointKind,
    Flow,
    Origin,
    Protocol,
    Verdict,
    make_labels,
)

T0 = 1_700_000_000.0


def pod(namespace: str, name: str = "", ip: str = "", **labels: str) -> Endpoint:
    """A pod endpoint; label keys use ``__`` for ``/`` and ``_`` for ``-``... no: pass a dict."""
    return Endpoint(
        kind=EndpointKind.POD,
        namespace=namespace,
        labels=make_labels(labels),
        pod=f"{name}-7d4b9c8f6d-x2x9z" if name else "",
        workload_name=name,
        ip=ip,
    )


def pod_labels(namespace: str, name: str, labels: dict[str, str], ip: str = "") -> Endpoint:
    return Endpoint(
        kind=EndpointKind.POD,
        namespace=namespace,
        labels=make_labels(labels),
        pod=f"{name}-7d4b9c8f6d-x2x9z",
        workload_name=name,
        ip=ip,
    )


def external(ip: str, kind: EndpointKind = EndpointKind.WORLD) -> Endpoint:
    return Endpoint(kind=kind, ip=ip)


def flow(
    source: Endpoint,
    destination: Endpoint,
    port: int,
    protocol: str = "TCP",
    *,
    time: float = T0,
    count: int = 1,
    dns_names: tuple[str, ...] = (),
    dns_query: str = "",
) -> Flow:
    return Flow(
        time=time,
        source=source,
        destination=destination,
        protocol=Protocol(protocol),
        port=port,
        verdict=Verdict.FORWARDED,
        direction=Direction.EGRESS,
        is_reply=False,
        origin=Origin("test"),
        dns_names=dns_names,
        count=count,
        dns_query=dns_query,
    )


def store_of(flows: Iterable[Flow]) -> EdgeStore:
    store = EdgeStore()
    for item in flows:
        store.add(item)
    return store
