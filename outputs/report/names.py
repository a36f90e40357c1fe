"""Names a reviewer uses: a workload is ``namespace/name``, an outside peer its DNS name or
its place (``internet``, ``private network``, ``nodes``, ``kube-apiserver``).

A workload's name is the policy's name where the proposal has a policy for it (so the report,
the graph and the files agree), else the owner's name the flows gave, else the value of its
identifying label (``app.kubernetes.io/name``, ``app``, ...). Label sets stay in the details.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable

from learner.model.edges import EdgeKey, EdgeStore
from learner.model.external import FOLDED_PRIVATE, FOLDED_PUBLIC
from learner.model.hidden import HIDDEN_NODE, HIDDEN_PRIVATE, HIDDEN_PUBLIC
from learner.model.identity import Identity
from learner.model.policy import Proposal

IDENTIFYING_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app",
    "k8s-app",
    "name",
    "component",
)


def iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds)) if seconds else ""


def plural(count: int, noun: str, many: str = "") -> str:
    """``1 edge``, ``2 edges`` (``many`` for irregular plurals)."""
    word = noun if count == 1 else (many or noun + "s")
    return f"{count:,} {word}"


def is_public(address: str) -> bool:
    """Whether an address is public; Calico's stand-in for a hidden private address is not."""
    if address in (HIDDEN_PRIVATE, HIDDEN_NODE, FOLDED_PRIVATE):
        return False
    if address in (HIDDEN_PUBLIC, FOLDED_PUBLIC):
        return True
    network = ipaddress.ip_network(address, strict=False)
    return not (network.is_private or network.is_loopback or network.is_link_local)


def place(identity: Identity, dns_names: Iterable[str] = ()) -> str:
    """A non-pod peer by DNS name, else as a kind of place."""
    names = sorted(set(dns_names))
    if identity.kind == "world":
        if names:
            return names[0] if len(names) == 1 else f"{names[0]} +{len(names) - 1}"
        if identity.address and not is_public(identity.address):
            return "private network"
        return "internet"
    if identity.kind in ("host", "remote-node"):
        return "nodes"
    return identity.kind


def label_name(labels: Iterable[tuple[str, str]]) -> str:
    values = dict(labels)
    for key in IDENTIFYING_LABELS:
        if values.get(key):
            return values[key]
    return ",".join(f"{k}={v}" for k, v in sorted(values.items())) or "all pods"


def parse_identity_key(key: str) -> Identity | None:
    """The pod identity an ``Identity.key`` string (``pod:ns/k=v,...``) stands for."""
    if not key.startswith("pod:") or "/" not in key:
        return None
    namespace, _, labels = key[len("pod:") :].partition("/")
    pairs = tuple((k, v) for k, _, v in (item.partition("=") for item in labels.split(",") if item))
    return Identity("pod", namespace, pairs)


class WorkloadNames:
    """``namespace/name`` for every pod identity of one run."""

    def __init__(self, proposal: Proposal | None, store: EdgeStore) -> None:
        self.store = store
        self.by_key: dict[str, str] = {}
        for policy in proposal.policies if proposal is not None else ():
            for key in policy.workload.split(";"):
                self.by_key[key] = policy.name

    def name(self, identity: Identity) -> str:
        """``name`` within the namespace."""
        if identity.key in self.by_key:
            return self.by_key[identity.key]
        info = self.store.workloads.get(identity)
        if info is not None and info.name:
            return info.name
        return label_name(identity.labels)

    def qualified(self, identity: Identity, dns_names: Iterable[str] = ()) -> str:
        if identity.is_pod:
            return f"{identity.namespace}/{self.name(identity)}"
        return place(identity, dns_names)

    def qualified_key(self, key: str) -> str:
        """Like :meth:`qualified` for an ``Identity.key`` string (as diffs carry them)."""
        identity = parse_identity_key(key)
        if identity is None:
            return key.split(":", 1)[0] if ":" in key else key
        return self.qualified(identity)

    def edge(self, edge: EdgeKey) -> str:
        """``shop/worker → shop-data/db 5432/TCP``."""
        stats = self.store.edges.get(edge)
        names = stats.dns_names if stats is not None else ()
        port = f" {edge.port}/{edge.protocol}" if edge.port else f" {edge.protocol}"
        return f"{self.qualified(edge.source)} → {self.qualified(edge.destination, names)}{port}"
