"""What exists in the cluster: namespaces, workloads (pods or pod templates), current policies.

The learner uses it for negatives (what a selector must not admit) and port names; the
semantics engine expands selectors over it. It comes from the cluster, from manifests
(:mod:`learner.inventory_load`), or is inferred from the flows themselves (:func:`from_store`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from learner.model.edges import EdgeStore
from learner.model.flow import Labels, make_labels
from learner.model.identity import Identity
from learner.model.policy import NAMESPACE_NAME_LABEL


@dataclass(frozen=True, slots=True, order=True)
class ContainerPort:
    port: int
    protocol: str = "TCP"
    name: str = ""


@dataclass(frozen=True, slots=True, order=True)
class Workload:
    """A pod, or a controller's pod template standing for all its pods."""

    namespace: str
    name: str
    labels: Labels
    kind: str = "Pod"
    ips: tuple[str, ...] = ()
    ports: tuple[ContainerPort, ...] = ()
    host_network: bool = False
    owner: str = ""
    """For a pod: its top controller as ``Kind/name`` (``Deployment/web``), empty when unknown."""


@dataclass(frozen=True, slots=True, order=True)
class ServicePort:
    port: int
    protocol: str = "TCP"
    name: str = ""
    target_port: str = ""
    """The pod port it forwards to: a number or a container port name (empty = ``port``)."""


@dataclass(frozen=True, slots=True, order=True)
class Service:
    namespace: str
    name: str
    selector: Labels = ()
    """Pods it forwards to (empty: none chosen by selector, e.g. ExternalName)."""
    cluster_ips: tuple[str, ...] = ()
    ports: tuple[ServicePort, ...] = ()


@dataclass(frozen=True, slots=True, order=True)
class Namespace:
    name: str
    labels: Labels = ()


@dataclass(frozen=True, slots=True)
class Inventory:
    namespaces: tuple[Namespace, ...] = ()
    workloads: tuple[Workload, ...] = ()
    policies: tuple[dict[str, object], ...] = field(default=())
    """Current policy documents as loaded (any supported kind), in load order."""
    inferred: bool = False
    """True when built from flows only: negatives are then only what the flows showed."""
    services: tuple[Service, ...] = ()

    def namespace_labels(self, name: str) -> Labels:
        for ns in self.namespaces:
            if ns.name == name:
                return ns.labels
        return ((NAMESPACE_NAME_LABEL, name),)

    def merged(self, other: Inventory) -> Inventory:
        names = {n.name: n for n in other.namespaces}
        names.update({n.name: n for n in self.namespaces})
        seen = {(w.namespace, w.name, w.labels) for w in self.workloads}
        workloads = list(self.workloads) + [
            w for w in other.workloads if (w.namespace, w.name, w.labels) not in seen
        ]
        return Inventory(
            namespaces=tuple(sorted(names.values())),
            workloads=tuple(sorted(workloads)),
            policies=self.policies + other.policies,
            inferred=self.inferred and other.inferred,
            services=tuple(sorted(set(self.services) | set(other.services))),
        )


def with_name_label(name: str, labels: Iterable[tuple[str, str]]) -> Labels:
    """Namespace labels including the immutable ``kubernetes.io/metadata.name``."""
    return make_labels([*labels, (NAMESPACE_NAME_LABEL, name)])


def from_store(store: EdgeStore) -> Inventory:
    """The inventory the flows imply: every observed workload and namespace, nothing else."""
    namespaces = {ns: with_name_label(ns, ()) for ns in store.namespaces()}
    for ns, labels in store.namespace_labels.items():
        namespaces[ns] = with_name_label(ns, labels)
    workloads = [
        Workload(
            namespace=identity.namespace,
            name=info.name or identity.key,
            labels=identity.labels,
            kind=info.kind or "Pod",
            ips=tuple(sorted(info.ips)),
        )
        for identity, info in store.workloads.items()
    ]
    return Inventory(
        namespaces=tuple(Namespace(n, labels) for n, labels in sorted(namespaces.items())),
        workloads=tuple(sorted(workloads)),
        inferred=True,
    )


def identity_of(workload: Workload) -> Identity:
    return Identity("pod", workload.namespace, workload.labels)
