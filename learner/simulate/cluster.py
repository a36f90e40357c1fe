"""The simulated cluster: nodes, namespaces, workloads, the pods they run, and outside peers.

Everything here is an immutable value produced once per simulation by
:mod:`learner.simulate.topology`. Writers (Hubble today, Calico later) read these types to render
endpoints; nothing in this module is specific to one CNI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from learner.model.flow import Labels
from learner.model.inventory import ContainerPort


class WorkloadKind(StrEnum):
    DEPLOYMENT = "Deployment"
    STATEFULSET = "StatefulSet"
    DAEMONSET = "DaemonSet"
    CRONJOB = "CronJob"
    POD = "Pod"
    """A bare pod (``kubectl run``), owned by no controller."""


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    ip: str
    pod_cidr: str
    """The node's pod range, e.g. ``10.244.3.0/24``."""
    host_ip: str
    """The node's address inside its pod range (``cilium_host``): the source of kubelet probes."""
    since_ns: int = 0
    """When the node joined (0: before the simulation); nodes the autoscaler adds later."""


@dataclass(frozen=True, slots=True)
class SimNamespace:
    name: str
    labels: Labels
    """All labels, including the immutable ``kubernetes.io/metadata.name``."""


@dataclass(frozen=True, slots=True)
class Workload:
    """A controller (or bare pod) as its manifest declares it."""

    namespace: str
    name: str
    kind: WorkloadKind
    labels: Labels
    """Pod template labels, exactly as in the manifest (no controller-added ones)."""
    selector: Labels
    """The controller's ``matchLabels``: a subset of ``labels``."""
    service_account: str
    image: str
    replicas: int = 1
    ports: tuple[ContainerPort, ...] = ()
    probe_ports: tuple[str, ...] = ()
    """Names of the container ports the kubelet probes."""
    service: str = ""
    """Name of the ClusterIP Service in front of the pods; empty when there is none."""
    schedule: str = ""
    """Cron schedule of a CronJob (``minute hour * * weekday``)."""
    job_seconds: int = 0
    """How long one Job pod of a CronJob runs."""
    pod_noise: bool = False
    """Pods get extra per-pod labels that no controller sets (operators, Argo Rollouts)."""

    @property
    def id(self) -> str:
        """``namespace/name``: how ground truth names this workload."""
        return f"{self.namespace}/{self.name}"

    def port(self, name: str) -> ContainerPort:
        for port in self.ports:
            if port.name == name:
                return port
        raise KeyError(f"{self.id} has no container port named {name!r}")


@dataclass(frozen=True, slots=True, eq=False)
class Pod:
    """One pod of a workload, alive over ``[start_ns, end_ns)`` of simulated time.

    Compared and hashed by identity: every pod object is unique, and events reference pods in
    hot loops where hashing every field would cost more than the work itself.
    """

    name: str
    workload: Workload
    node: Node
    ip: str
    labels: Labels
    """Every label on the pod: template labels, controller-added volatile ones, per-pod noise."""
    start_ns: int
    end_ns: int
    endpoint_id: int
    """Cilium endpoint ID on its node."""
    revision: str = ""
    """What changes on a rollout: the pod-template-hash, controller-revision-hash or Job name."""

    @property
    def namespace(self) -> str:
        return self.workload.namespace

    def alive(self, time_ns: int) -> bool:
        return self.start_ns <= time_ns < self.end_ns


@dataclass(frozen=True, slots=True)
class External:
    """A service outside the cluster, reached by DNS name over a set of addresses."""

    name: str
    dns_names: tuple[str, ...]
    ips: tuple[str, ...]
    cidrs: tuple[str, ...]
    """The ranges the addresses come from (what a CIDR rule would allow)."""
    rotated_ips: tuple[str, ...] = ()
    """Other addresses of the same pool, used instead of ``ips`` from ``rotates_at_ns`` on."""
    rotates_at_ns: int = 0
    name_pattern: str = ""
    """One DNS name per address (``api-{n}.payments.example.com``, n counting from 1) instead
    of ``dns_names`` for all of them."""

    def ips_at(self, time_ns: int) -> tuple[str, ...]:
        if self.rotated_ips and time_ns >= self.rotates_at_ns:
            return self.rotated_ips
        return self.ips

    def names_of(self, ip: str) -> tuple[str, ...]:
        if not self.name_pattern:
            return self.dns_names
        every = self.ips + self.rotated_ips
        return (self.name_pattern.format(n=every.index(ip) + 1),) if ip in every else ()

    @property
    def id(self) -> str:
        return f"external:{self.name}"


ENTITY_HOST = "entity:host"
"""The node a pod runs on (kubelet probes)."""
ENTITY_WORLD = "entity:world"
"""Anything outside the cluster that is not a named external (internet clients)."""
ENTITY_KUBE_APISERVER = "entity:kube-apiserver"
ENTITIES: tuple[str, ...] = (ENTITY_HOST, ENTITY_KUBE_APISERVER, ENTITY_WORLD)
ENTITY_NODES = "entity:nodes"
"""Every node of the cluster, at its own address (kubelet and node-exporter scrapes): whichever
node exists at the time, the pod's own (``host``) or another (``remote-node``)."""


@dataclass(frozen=True, slots=True)
class Cluster:
    name: str
    """Cilium cluster name (``io.cilium.k8s.policy.cluster``)."""
    nodes: tuple[Node, ...]
    namespaces: tuple[SimNamespace, ...]
    workloads: tuple[Workload, ...]
    pods: tuple[Pod, ...]
    externals: tuple[External, ...]
    apiserver_ip: str
    service_ips: tuple[tuple[str, str], ...] = field(default=())
    """``(namespace/service, ClusterIP)`` pairs."""
    added_nodes: tuple[Node, ...] = field(default=())
    """Nodes that join during the simulation (no pod is scheduled on them)."""

    def nodes_at(self, time_ns: int) -> tuple[Node, ...]:
        """The nodes that exist at ``time_ns``."""
        return self.nodes + tuple(n for n in self.added_nodes if n.since_ns <= time_ns)

    def workload(self, workload_id: str) -> Workload:
        for workload in self.workloads:
            if workload.id == workload_id:
                return workload
        raise KeyError(workload_id)

    def external(self, external_id: str) -> External:
        for external in self.externals:
            if external.id == external_id:
                return external
        raise KeyError(external_id)

    def namespace(self, name: str) -> SimNamespace:
        for namespace in self.namespaces:
            if namespace.name == name:
                return namespace
        raise KeyError(name)

    def pods_of(self, workload: Workload) -> tuple[Pod, ...]:
        return tuple(p for p in self.pods if p.workload is workload)
