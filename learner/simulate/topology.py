"""Builds a :class:`~learner.simulate.cluster.Cluster`: label styles, pods over time, addresses.

Scenarios describe namespaces, workloads, rollouts and external services through
:class:`ClusterBuilder`; :meth:`ClusterBuilder.build` then materialises every pod that exists
during the simulated time range — initial replicas, the replacements of each rollout, one pod
per CronJob run — with the names, volatile labels and addresses Kubernetes would give them.
"""

from __future__ import annotations

import ipaddress
import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from learner.model.flow import Labels, make_labels
from learner.model.inventory import ContainerPort
from learner.model.policy import NAMESPACE_NAME_LABEL
from learner.simulate.cluster import (
    Cluster,
    External,
    Node,
    Pod,
    SimNamespace,
    Workload,
    WorkloadKind,
)
from learner.simulate.naming import (
    AddressPool,
    CronSchedule,
    job_name,
    pod_suffix,
    random_uuid,
    template_hash,
)

SECOND = 1_000_000_000
DAY = 86_400 * SECOND


class LabelStyle(StrEnum):
    """How a team labels its pods; real clusters mix all of these."""

    HELM = "helm"
    """``app.kubernetes.io/*`` plus ``helm.sh/chart`` and ``managed-by: Helm``."""
    RECOMMENDED = "recommended"
    """Only the ``app.kubernetes.io/*`` recommended labels (Kustomize, plain manifests)."""
    PLAIN = "plain"
    """``app``, ``tier``, ``version``."""
    K8S_APP = "k8s-app"
    """Only ``k8s-app`` (cluster add-ons such as CoreDNS)."""
    RUN = "run"
    """``run: <name>``, what ``kubectl run`` sets on a bare pod."""


@dataclass(frozen=True, slots=True)
class AppLabels:
    """The facts a label style draws from."""

    app: str
    instance: str = ""
    component: str = ""
    version: str = "1.0.0"
    chart: str = ""
    """Helm chart name and version, e.g. ``postgresql-15.5.20``."""
    tier: str = ""
    part_of: str = ""


VERSION_LABELS = ("app.kubernetes.io/version", "version", "helm.sh/chart")
"""Template labels a release changes (what ``helm upgrade`` of a new chart version does)."""
_SEMVER_TAIL = re.compile(r"(\d+)\.(\d+)(\.\d+)?$")


def upgraded_labels(labels: Labels, releases: int) -> dict[str, str]:
    """The version labels of ``labels`` ``releases`` minor releases later (none when 0)."""
    if not releases:
        return {}
    moved = {}
    for key, value in labels:
        found = _SEMVER_TAIL.search(value) if key in VERSION_LABELS else None
        if found:
            major, minor = found.group(1), int(found.group(2)) + releases
            patch = ".0" if found.group(3) else ""
            moved[key] = f"{value[: found.start()]}{major}.{minor}{patch}"
    return moved


def style_labels(style: LabelStyle, facts: AppLabels) -> tuple[Labels, Labels]:
    """Pod template labels and the controller selector for ``facts`` in ``style``."""
    labels: dict[str, str] = {}
    selector: dict[str, str] = {}
    if style in (LabelStyle.HELM, LabelStyle.RECOMMENDED):
        selector["app.kubernetes.io/name"] = facts.app
        selector["app.kubernetes.io/instance"] = facts.instance or facts.app
        if facts.component:
            selector["app.kubernetes.io/component"] = facts.component
        labels.update(selector)
        labels["app.kubernetes.io/version"] = facts.version
        if facts.part_of:
            labels["app.kubernetes.io/part-of"] = facts.part_of
        if style is LabelStyle.HELM:
            labels["app.kubernetes.io/managed-by"] = "Helm"
            labels["helm.sh/chart"] = facts.chart or f"{facts.app}-{facts.version}"
    elif style is LabelStyle.PLAIN:
        selector["app"] = facts.app
        labels.update(selector)
        if facts.tier:
            labels["tier"] = facts.tier
        labels["version"] = f"v{facts.version}"
    elif style is LabelStyle.K8S_APP:
        selector["k8s-app"] = facts.app
        labels.update(selector)
    else:
        selector["run"] = facts.app
        labels.update(selector)
    return make_labels(labels), make_labels(selector)


@dataclass(frozen=True, slots=True)
class _PodPlan:
    """A pod before it has an address: pods get addresses in the order they start."""

    start_ns: int
    end_ns: int
    node: Node
    make: Callable[[str, int], Pod]
    """Called with the pod's IP and endpoint ID."""


class ClusterBuilder:
    """Collects a scenario's topology, then :meth:`build` makes the pods."""

    def __init__(
        self,
        name: str,
        rng: random.Random,
        *,
        nodes: int,
        start_ns: int,
        end_ns: int,
        cluster_name: str = "default",
    ) -> None:
        self.name = name
        self.rng = rng
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.cluster_name = cluster_name
        self.nodes = tuple(self._make_node(i) for i in range(nodes))
        self._added_nodes: list[Node] = []
        self._created: dict[str, int] = {}
        self._namespaces: dict[str, SimNamespace] = {}
        self._workloads: dict[str, Workload] = {}
        self._rollouts: dict[str, list[tuple[int, int]]] = {}
        self._upgrades: dict[str, set[int]] = {}
        self._failovers: dict[str, list[int]] = {}
        self._externals: dict[str, External] = {}
        self._service_ips: dict[str, str] = {}
        self._used_service_ips = {"10.96.0.1", "10.96.0.10"}

    def _make_node(self, index: int) -> Node:
        group = f"{self.rng.getrandbits(32):08x}"
        name = f"gke-{self.name}-default-pool-{group}-{''.join(self.rng.choices('abcdefghijklmnopqrstuvwxyz0123456789', k=4))}"
        return Node(
            name=name,
            ip=f"10.128.0.{10 + index}",
            pod_cidr=f"10.244.{index}.0/24",
            host_ip=f"10.244.{index}.1",
        )

    def add_nodes(self, count: int, at_ns: int) -> tuple[Node, ...]:
        """``count`` nodes the autoscaler adds at ``at_ns``. Like a cloud subnet hands out
        addresses, theirs fall anywhere in the node subnet (10.128.0.0/20), not next to the
        first nodes'. Their own random stream: scenarios without them are unchanged."""
        rng = random.Random(f"{self.name}|added-nodes|{len(self._added_nodes)}")
        taken = {n.ip for n in (*self.nodes, *self._added_nodes)}
        added = []
        for _ in range(count):
            index = len(self.nodes) + len(self._added_nodes)
            ip = f"10.128.{rng.randrange(1, 16)}.{rng.randrange(2, 255)}"
            while ip in taken:
                ip = f"10.128.{rng.randrange(1, 16)}.{rng.randrange(2, 255)}"
            taken.add(ip)
            suffix = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=4))
            node = Node(
                name=f"gke-{self.name}-autoscaled-pool-{rng.getrandbits(32):08x}-{suffix}",
                ip=ip,
                pod_cidr=f"10.244.{index}.0/24",
                host_ip=f"10.244.{index}.1",
                since_ns=at_ns,
            )
            self._added_nodes.append(node)
            added.append(node)
        return tuple(added)

    # --- declarations -------------------------------------------------------------------

    def namespace(self, name: str, labels: Mapping[str, str] | None = None) -> str:
        pairs = [*(labels or {}).items(), (NAMESPACE_NAME_LABEL, name)]
        self._namespaces[name] = SimNamespace(name, make_labels(pairs))
        return name

    def workload(
        self,
        namespace: str,
        name: str,
        kind: WorkloadKind,
        style: LabelStyle,
        facts: AppLabels,
        *,
        image: str,
        replicas: int = 1,
        ports: Iterable[ContainerPort] = (),
        probes: Iterable[str] = (),
        service: str = "",
        service_account: str = "",
        schedule: str = "",
        job_seconds: int = 0,
        pod_noise: bool = False,
        extra_labels: Iterable[tuple[str, str]] = (),
        created_ns: int | None = None,
    ) -> Workload:
        """Declare a workload; ``created_ns``: installed then (a new release), not before the
        simulation."""
        if namespace not in self._namespaces:
            raise KeyError(f"declare namespace {namespace!r} first")
        labels, selector = style_labels(style, facts)
        workload = Workload(
            namespace=namespace,
            name=name,
            kind=kind,
            labels=make_labels([*labels, *extra_labels]),
            selector=selector,
            service_account=service_account or ("default" if kind is WorkloadKind.POD else name),
            image=image,
            replicas=replicas,
            ports=tuple(ports),
            probe_ports=tuple(probes),
            service=service,
            schedule=schedule,
            job_seconds=job_seconds,
            pod_noise=pod_noise,
        )
        self._workloads[workload.id] = workload
        if created_ns is not None:
            self._created[workload.id] = created_ns
        if service:
            self._service_ips[f"{namespace}/{service}"] = self._service_ip(namespace, service)
        return workload

    def _service_ip(self, namespace: str, service: str) -> str:
        if (namespace, service) == ("kube-system", "kube-dns"):
            return "10.96.0.10"
        while True:
            ip = f"10.96.{self.rng.randrange(1, 255)}.{self.rng.randrange(2, 255)}"
            if ip not in self._used_service_ips:
                self._used_service_ips.add(ip)
                return ip

    def workloads(self) -> tuple[Workload, ...]:
        return tuple(self._workloads.values())

    def rollout(
        self, workload: Workload, at_ns: int, step_ns: int = 20 * SECOND, upgrade: bool = False
    ) -> None:
        """A rolling restart starting at ``at_ns``, replacing one pod every ``step_ns``; with
        ``upgrade`` the new pods carry the next release's version labels (a ``helm upgrade``:
        ``app.kubernetes.io/version``, ``version`` and ``helm.sh/chart`` move on)."""
        self._rollouts.setdefault(workload.id, []).append((at_ns, step_ns))
        if upgrade:
            self._upgrades.setdefault(workload.id, set()).add(at_ns)

    def upgrade_rollouts_between(self, workload: Workload, start_ns: int, end_ns: int) -> None:
        """Make the rollouts of ``workload`` in [start, end) releases (see :meth:`rollout`)."""
        for at, _ in self._rollouts.get(workload.id, []):
            if start_ns <= at < end_ns:
                self._upgrades.setdefault(workload.id, set()).add(at)

    def rolls_out_between(self, workload: Workload, start_ns: int, end_ns: int) -> bool:
        return any(start_ns <= at < end_ns for at, _ in self._rollouts.get(workload.id, []))

    def fails_over_between(self, workload: Workload, start_ns: int, end_ns: int) -> bool:
        return any(start_ns <= at < end_ns for at in self._failovers.get(workload.id, []))

    def failover(self, workload: Workload, at_ns: int) -> None:
        """The operator moves ``role=primary`` to the next instance at ``at_ns`` (a StatefulSet
        with per-pod role labels): the pods stay, their role labels flip."""
        self._failovers.setdefault(workload.id, []).append(at_ns)

    def external(
        self,
        name: str,
        dns_names: Iterable[str],
        cidrs: Iterable[str],
        addresses: int,
        *,
        rotate_at_ns: int = 0,
        name_pattern: str = "",
    ) -> External:
        """An outside service answering on ``addresses`` IPs drawn from ``cidrs``; with
        ``rotate_at_ns`` it answers on as many other addresses of the same ranges from then on
        (a provider's pool rotating)."""
        ranges = tuple(cidrs)
        ips: set[str] = set()
        rotated: set[str] = set()
        for chosen, taken in ((ips, set[str]()), (rotated, ips)):
            if chosen is rotated and not rotate_at_ns:
                break
            while len(chosen) < addresses:
                network = ipaddress.ip_network(self.rng.choice(ranges))
                offset = self.rng.randrange(1, max(network.num_addresses - 1, 2))
                ip = str(network.network_address + min(offset, network.num_addresses - 1))
                if ip not in taken:
                    chosen.add(ip)
        external = External(
            name=name,
            dns_names=tuple(dns_names),
            ips=tuple(sorted(ips, key=ipaddress.ip_address)),
            cidrs=ranges,
            rotated_ips=tuple(sorted(rotated, key=ipaddress.ip_address)),
            rotates_at_ns=rotate_at_ns,
            name_pattern=name_pattern,
        )
        self._externals[external.id] = external
        return external

    # --- materialisation -----------------------------------------------------------------

    def build(self) -> Cluster:
        plans: list[_PodPlan] = []
        for workload in self._workloads.values():
            plans.extend(self._plan_pods(workload))
        plans.sort(key=lambda plan: (plan.start_ns, plan.node.name))
        pools = {node.name: AddressPool(node.pod_cidr, self.rng) for node in self.nodes}
        endpoint_ids: dict[str, set[int]] = {node.name: set() for node in self.nodes}
        pods = []
        for plan in plans:
            ip = pools[plan.node.name].take(plan.start_ns, plan.end_ns)
            used = endpoint_ids[plan.node.name]
            endpoint_id = self.rng.randrange(100, 4096)
            while endpoint_id in used:
                endpoint_id = self.rng.randrange(100, 4096)
            used.add(endpoint_id)
            pods.append(plan.make(ip, endpoint_id))
        return Cluster(
            name=self.cluster_name,
            nodes=self.nodes,
            added_nodes=tuple(self._added_nodes),
            namespaces=tuple(sorted(self._namespaces.values(), key=lambda n: n.name)),
            workloads=tuple(sorted(self._workloads.values(), key=lambda w: w.id)),
            pods=tuple(pods),
            externals=tuple(sorted(self._externals.values(), key=lambda e: e.name)),
            apiserver_ip="172.16.0.2",
            service_ips=tuple(sorted(self._service_ips.items())),
        )

    def _revisions(self, workload: Workload) -> list[tuple[int, int]]:
        """``(start, step)`` of each pod template revision; the first predates the simulation
        unless the workload was installed during it."""
        created = self.start_ns - self.rng.randrange(1, 30) * DAY - self.rng.randrange(DAY)
        created = self._created.get(workload.id, created)
        return [(created, 0), *sorted(self._rollouts.get(workload.id, []))]

    def created_after(self, workload: Workload, time_ns: int) -> bool:
        """Whether ``workload`` is installed only after ``time_ns``."""
        return self._created.get(workload.id, time_ns) > time_ns

    def _plan_pods(self, workload: Workload) -> list[_PodPlan]:
        if workload.kind is WorkloadKind.CRONJOB:
            return self._plan_jobs(workload)
        if workload.kind is WorkloadKind.POD:
            node = self.rng.choice(self.nodes)
            start = self.start_ns - self.rng.randrange(1, 6) * 3600 * SECOND
            return [self._plan(workload, workload.name, node, start, self.end_ns + DAY, {}, "")]
        revisions = self._revisions(workload)
        hashes = [template_hash(self.rng) for _ in revisions]
        nodes = (
            list(self.nodes)
            if workload.kind is WorkloadKind.DAEMONSET
            else [self.rng.choice(self.nodes) for _ in range(workload.replicas)]
        )
        plans = []
        upgrades = self._upgrades.get(workload.id, set())
        for r, (rev_start, step) in enumerate(revisions):
            next_rev = revisions[r + 1] if r + 1 < len(revisions) else None
            releases = sum(1 for at, _ in revisions[1 : r + 1] if at in upgrades)
            for slot, node in enumerate(nodes):
                # StatefulSets replace the highest ordinal first, the others in any order.
                order = len(nodes) - 1 - slot if workload.kind is WorkloadKind.STATEFULSET else slot
                start = rev_start + order * step
                if next_rev is None:
                    end = self.end_ns + DAY
                elif workload.kind is WorkloadKind.STATEFULSET:
                    end = next_rev[0] + order * next_rev[1]
                else:
                    end = next_rev[0] + order * next_rev[1] + 10 * SECOND
                if workload.kind is WorkloadKind.STATEFULSET and r > 0:
                    start += 5 * SECOND  # the old pod must be gone before its name is reused
                for primary, (seg_start, seg_end) in self._role_segments(workload, start, end):
                    name, labels, revision = self._controller_pod(
                        workload, slot, hashes[r], r, primary
                    )
                    labels = {**upgraded_labels(workload.labels, releases), **labels}
                    plans.append(
                        self._plan(workload, name, node, seg_start, seg_end, labels, revision)
                    )
        return plans

    def _role_segments(
        self, workload: Workload, start: int, end: int
    ) -> list[tuple[int, tuple[int, int]]]:
        """``(primary slot, (start, end))`` pieces of one pod's life, split at each failover.

        A label change is simulated as the pod ending and coming back under its name with the
        new labels (5 s later, as a flow-log reader would see a changed identity)."""
        times = sorted(self._failovers.get(workload.id, []))
        primary = sum(1 for t in times if t <= start) % max(workload.replicas, 1)
        segments = []
        for t in times:
            if start < t < end:
                segments.append((primary, (start, t)))
                start = t + 5 * SECOND
                primary = (primary + 1) % max(workload.replicas, 1)
        segments.append((primary, (start, end)))
        return segments

    def _controller_pod(
        self, workload: Workload, slot: int, hash_: str, revision: int, primary: int = 0
    ) -> tuple[str, dict[str, str], str]:
        """Pod name, controller-added labels and revision marker for one replica."""
        if workload.kind is WorkloadKind.DEPLOYMENT:
            name = f"{workload.name}-{hash_}-{pod_suffix(self.rng)}"
            labels = {"pod-template-hash": hash_}
            if workload.pod_noise:
                labels["rollouts-pod-template-hash"] = hash_
            return name, labels, hash_
        if workload.kind is WorkloadKind.STATEFULSET:
            name = f"{workload.name}-{slot}"
            revision_hash = f"{workload.name}-{hash_}"
            labels = {
                "controller-revision-hash": revision_hash,
                "statefulset.kubernetes.io/pod-name": name,
                "apps.kubernetes.io/pod-index": str(slot),
            }
            if workload.pod_noise:
                labels["role"] = "primary" if slot == primary else "replica"
                labels["cnpg.io/instanceName"] = name
            return name, labels, revision_hash
        name = f"{workload.name}-{pod_suffix(self.rng)}"
        labels = {"controller-revision-hash": hash_, "pod-template-generation": str(revision + 1)}
        return name, labels, hash_

    def _plan_jobs(self, workload: Workload) -> list[_PodPlan]:
        schedule = CronSchedule(workload.schedule)
        duration = max(workload.job_seconds, 5) * SECOND
        plans = []
        for at in schedule.times(self.start_ns - duration, self.end_ns):
            job = job_name(workload.name, at)
            uid = random_uuid(self.rng)
            labels = {
                "batch.kubernetes.io/controller-uid": uid,
                "batch.kubernetes.io/job-name": job,
                "controller-uid": uid,
                "job-name": job,
            }
            name = f"{job}-{pod_suffix(self.rng)}"
            start = at + self.rng.randrange(1, 4) * SECOND
            node = self.rng.choice(self.nodes)
            plans.append(self._plan(workload, name, node, start, start + duration, labels, job))
        return plans

    def _plan(
        self,
        workload: Workload,
        name: str,
        node: Node,
        start: int,
        end: int,
        extra: dict[str, str],
        revision: str,
    ) -> _PodPlan:
        labels = make_labels([*workload.labels, *extra.items()])

        def make(ip: str, endpoint_id: int) -> Pod:
            return Pod(name, workload, node, ip, labels, start, end, endpoint_id, revision)

        return _PodPlan(start, end, node, make)
