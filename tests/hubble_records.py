"""Small Hubble records of each event shape, written from the flow.proto field documentation
(protojson rendering: proto field names, zero values omitted, enums by name).

Only what a record of that kind carries is set, so a test reads like the record it describes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

NODE = "node-a"
TIME = "2026-03-02T10:00:00.000000001Z"


def pod_endpoint(
    namespace: str, app: str, identity: int = 30000, pod: str = "", endpoint_id: int = 0
) -> dict[str, Any]:
    endpoint: dict[str, Any] = {
        "identity": identity,
        "namespace": namespace,
        "labels": [
            f"k8s:app={app}",
            f"k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name={namespace}",
            "k8s:io.cilium.k8s.policy.cluster=default",
            f"k8s:io.cilium.k8s.policy.serviceaccount={app}",
            f"k8s:io.kubernetes.pod.namespace={namespace}",
        ],
        "pod_name": pod or f"{app}-6d4b8c7f9-x2x7q",
    }
    if endpoint_id:
        endpoint["ID"] = endpoint_id
    return endpoint


def reserved_endpoint(name: str, identity: int) -> dict[str, Any]:
    return {"identity": identity, "labels": [f"reserved:{name}"]}


def record(
    source: dict[str, Any],
    destination: dict[str, Any],
    l4: dict[str, Any],
    *,
    source_ip: str = "10.0.1.10",
    destination_ip: str = "10.0.2.20",
    verdict: str = "FORWARDED",
    flow_type: str = "L3_L4",
    direction: str | None = "EGRESS",
    is_reply: bool | None = False,
    time: str = TIME,
    **extra: Any,
) -> dict[str, Any]:
    """A ``GetFlowsResponse`` line as ``hubble observe -o jsonpb`` writes it."""
    flow: dict[str, Any] = {
        "time": time,
        "verdict": verdict,
        "IP": {"source": source_ip, "destination": destination_ip, "ipVersion": "IPv4"},
        "l4": l4,
        "source": source,
        "destination": destination,
        "Type": flow_type,
        "node_name": NODE,
    }
    if direction:
        flow["traffic_direction"] = direction
    if is_reply is not None:
        flow["is_reply"] = is_reply
    flow.update(extra)
    return {"flow": flow, "node_name": NODE, "time": time}


def tcp(source_port: int, destination_port: int = 0, **flags: bool) -> dict[str, Any]:
    ports: dict[str, Any] = {"source_port": source_port}
    if destination_port:
        ports["destination_port"] = destination_port
    if flags:
        ports["flags"] = flags
    return {"TCP": ports}


def udp(source_port: int, destination_port: int = 0) -> dict[str, Any]:
    ports: dict[str, Any] = {"source_port": source_port}
    if destination_port:
        ports["destination_port"] = destination_port
    return {"UDP": ports}


def icmp(family: str, icmp_type: int, code: int = 0) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if icmp_type:
        fields["type"] = icmp_type
    if code:
        fields["code"] = code
    return {family: fields}


def sock_trace(
    source: dict[str, Any], destination: dict[str, Any], l4: dict[str, Any], point: str
) -> dict[str, Any]:
    """A socket-LB translation trace (``hubble observe -t trace-sock``): verdict TRACED, Type
    SOCK, no traffic direction, event type 7."""
    return record(
        source,
        destination,
        l4,
        verdict="TRACED",
        flow_type="SOCK",
        direction=None,
        is_reply=None,
        sock_xlate_point=point,
        socket_cookie="1234567",
        cgroup_id="8765",
        event_type={"type": 7},
    )


def write_lines(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path
