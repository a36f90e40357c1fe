"""The upstream e2e truth-table layout as real traffic values: pods a, b, c in namespaces x, y,
z (labels ``pod=<name>``, namespace label ``ns=<name>``), each serving ports 80 and 81 over TCP,
UDP and SCTP under the names ``serve-<port>-<protocol>`` (as in kubernetes/kubernetes
test/e2e/network/netpol), plus an external address and the node."""

from __future__ import annotations

from typing import Any

import yaml

from learner.semantics import PolicyDocument, PolicySet, Traffic, TrafficPeer, compile_policies

NAMESPACES = ("x", "y", "z")
PODS = ("a", "b", "c")
WORLD = TrafficPeer(kind="world", ip="192.0.2.10")
WORLD_EXCEPTED = TrafficPeer(kind="world", ip="192.0.2.200")
OTHER_WORLD = TrafficPeer(kind="world", ip="198.51.100.7")
HOST = TrafficPeer(kind="host", ip="10.1.0.1")
REMOTE_NODE = TrafficPeer(kind="remote-node", ip="10.1.0.2")


def pod(name: str) -> TrafficPeer:
    """``x/a`` → pod a in namespace x (address 10.0.<ns>.<pod>)."""
    namespace, pod_name = name.split("/")
    return TrafficPeer(
        kind="pod",
        namespace=namespace,
        labels=(("pod", pod_name),),
        namespace_labels=(("ns", namespace),),
        ip=f"10.0.{NAMESPACES.index(namespace) + 1}.{PODS.index(pod_name) + 1}",
    )


def peer(name: str) -> TrafficPeer:
    special = {
        "world": WORLD,
        "world-excepted": WORLD_EXCEPTED,
        "other-world": OTHER_WORLD,
        "host": HOST,
        "remote-node": REMOTE_NODE,
    }
    return special[name] if name in special else pod(name)


def traffic(source: str, destination: str, port: str = "80/TCP") -> Traffic:
    """Traffic from ``source`` to ``destination`` on ``port`` (``80/TCP``); the port name is
    the destination pod's container port name when it serves that port."""
    number, protocol = port.split("/")
    dst = peer(destination)
    port_name = f"serve-{number}-{protocol.lower()}" if dst.is_pod else ""
    return Traffic(peer(source), dst, protocol, int(number), port_name)


def documents(text: str, path: str = "policies.yaml") -> list[PolicyDocument]:
    return [
        PolicyDocument(path, index, body)
        for index, body in enumerate(yaml.safe_load_all(text))
        if body is not None
    ]


def compile_text(text: str) -> PolicySet:
    return compile_policies(documents(text))


def netpol(namespace: str, name: str, spec: dict[str, Any]) -> str:
    """One NetworkPolicy document as YAML text."""
    body = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    return yaml.safe_dump(body, sort_keys=False)


def join(*texts: str) -> str:
    return "---\n".join(texts)
