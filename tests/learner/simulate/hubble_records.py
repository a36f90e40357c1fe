"""Reading simulated Hubble lines back, independently of the writer: each record's ends are
mapped to ground-truth ids through the cluster's own pods, addresses and externals."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from learner.simulate.cluster import (
    ENTITY_HOST,
    ENTITY_KUBE_APISERVER,
    ENTITY_WORLD,
    Cluster,
)


def read_lines(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, "rb") as handle:
        for line in handle:
            yield orjson.loads(line)


@dataclass(frozen=True, slots=True)
class Edge:
    client: str
    server: str
    protocol: str
    port: int


class PeerIds:
    """Ground-truth ids for Hubble endpoints of one simulated cluster."""

    def __init__(self, cluster: Cluster) -> None:
        self._workloads = {(p.namespace, p.name): p.workload.id for p in cluster.pods}
        self._externals = {ip: e.id for e in cluster.externals for ip in e.ips}

    def of(self, endpoint: dict[str, Any], ip: str) -> str:
        labels = endpoint.get("labels", [])
        if "reserved:host" in labels:
            return ENTITY_HOST
        if "reserved:kube-apiserver" in labels:
            return ENTITY_KUBE_APISERVER
        if "reserved:world" in labels:
            return self._externals.get(ip, ENTITY_WORLD)
        return self._workloads[(endpoint["namespace"], endpoint["pod_name"])]

    def edge(self, flow: dict[str, Any]) -> Edge:
        """The connection a non-reply record belongs to."""
        ((protocol, ports),) = flow["l4"].items()
        return Edge(
            client=self.of(flow["source"], flow["IP"]["source"]),
            server=self.of(flow["destination"], flow["IP"]["destination"]),
            protocol=protocol,
            port=ports["destination_port"],
        )


def is_request(flow: dict[str, Any]) -> bool:
    return flow.get("verdict") == "FORWARDED" and flow.get("is_reply") is False
