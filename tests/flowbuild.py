"""Small builders for flows in tests (real model types, no mocks)."""

from __future__ import annotations

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


def pod(
    namespace: str, name: str, ip: str = "", extra: dict[str, str] | None = None, **labels: str
) -> Endpoint:
    """A pod endpoint; ``extra`` holds label keys that are not Python identifiers."""
    return Endpoint(
        kind=EndpointKind.POD,
        namespace=namespace,
        labels=make_labels({**labels, **(extra or {})}),
        pod=name,
        ip=ip,
    )


def world(ip: str) -> Endpoint:
    return Endpoint(kind=EndpointKind.WORLD, ip=ip)


def flow(
    src: Endpoint,
    dst: Endpoint,
    port: int,
    *,
    protocol: Protocol = Protocol.TCP,
    time: float = 1_700_000_000.0,
    verdict: Verdict = Verdict.FORWARDED,
    direction: Direction = Direction.EGRESS,
    is_reply: bool | None = False,
    source_port: int = 40000,
    dns_names: tuple[str, ...] = (),
) -> Flow:
    return Flow(
        time=time,
        source=src,
        destination=dst,
        protocol=protocol,
        port=port,
        verdict=verdict,
        direction=direction,
        is_reply=is_reply,
        origin=Origin("test", 1),
        source_port=source_port,
        dns_names=dns_names,
    )
