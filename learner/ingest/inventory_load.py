"""Loading an :class:`~learner.inventory.Inventory` from manifests or from a live cluster.

Manifests: files and directories of YAML/JSON, ``kubectl get -o yaml`` List dumps included.
Namespaces, Pods, pod templates of Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and
CronJobs, and Services become inventory; policy documents of any supported kind go to
``Inventory.policies``. ReplicaSets and Jobs owned by a Deployment or CronJob are left out
(their template is the owner's), but their owner references are kept: a pod's ``owner`` is its
top controller (ReplicaSet -> Deployment, Job -> CronJob). Every namespace a workload names is in the inventory, with
``kubernetes.io/metadata.name`` at least.

``cluster``: the ``kubernetes`` client lists namespaces, pods and NetworkPolicies (required),
and Services, ReplicaSets, Jobs, CronJobs and Cilium policies when the API has them and RBAC allows. Lists are
read in pages (``limit`` + ``continue``) as raw JSON; failures become
:class:`~learner.errors.SourceUnavailableError`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

from learner.model.errors import PolicyError, SourceUnavailableError
from learner.model.flow import Labels, make_labels
from learner.model.inventory import (
    ContainerPort,
    Inventory,
    Namespace,
    Service,
    ServicePort,
    Workload,
    with_name_label,
)
from learner.semantics.dialects import PolicyDocument
from learner.semantics.loader import iter_objects, load_policy_documents
from learner.semantics.policyset import is_policy_kind

CLUSTER = "cluster"
"""The source word that means "ask the Kubernetes API"."""
PAGE_SIZE = 500
REQUEST_TIMEOUT = 30.0
"""Seconds per API request."""
DEFAULT_NAMESPACE = "default"

TEMPLATE_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})
_OWNED_BY = {"ReplicaSet": "Deployment", "Job": "CronJob"}


def load_inventory(
    source: str, *, kubeconfig: str | None = None, context: str | None = None
) -> Inventory:
    """The inventory from manifests at ``source`` (a file or directory) or from ``cluster``."""
    if source == CLUSTER:
        return _ClusterReader(kubeconfig, context).inventory()
    return inventory_from_paths([source])


def load_current_policies(
    source: str | Sequence[str], *, kubeconfig: str | None = None, context: str | None = None
) -> tuple[list[PolicyDocument], list[PolicyError]]:
    """The policies in force: from ``cluster``, or from files and directories."""
    paths = [source] if isinstance(source, str) else list(source)
    if paths == [CLUSTER]:
        return _ClusterReader(kubeconfig, context).policy_documents(), []
    return load_policy_documents(paths)


# --- manifests -------------------------------------------------------------------------------


def inventory_from_paths(paths: Sequence[str]) -> Inventory:
    """The inventory described by the manifests in ``paths``; the first unreadable document
    raises :class:`~learner.errors.PolicyError`."""
    errors: list[PolicyError] = []
    builder = _InventoryBuilder()
    for document in iter_objects(paths, errors):
        builder.add(document)
    if errors:
        raise errors[0]
    return builder.inventory()


class _InventoryBuilder:
    def __init__(self) -> None:
        self.namespaces: dict[str, Labels] = {}
        self.workloads: list[Workload] = []
        self.services: list[Service] = []
        self.policies: list[dict[str, object]] = []
        self.controllers: dict[tuple[str, str], str] = {}
        """``(namespace, Kind/name)`` of a ReplicaSet or Job -> its controller's ``Kind/name``."""

    def add(self, document: PolicyDocument) -> None:
        kind = document.kind
        if not kind:
            return
        if is_policy_kind(kind):
            self.policies.append(dict(document.body))
            return
        reader = _ObjectReader(document)
        if kind == "Namespace":
            name = reader.name()
            self.namespaces[name] = with_name_label(name, reader.labels("metadata.labels"))
        elif kind == "Pod":
            self.workloads.append(reader.pod())
        elif kind in TEMPLATE_KINDS or kind == "CronJob":
            controller = reader.controller()
            if controller:
                self.controllers[(reader.namespace(), f"{kind}/{reader.name()}")] = controller
            workload = reader.template_workload()
            if workload is not None:
                self.workloads.append(workload)
        elif kind == "Service":
            self.services.append(reader.service())

    def inventory(self) -> Inventory:
        namespaces = dict(self.namespaces)
        used = {w.namespace for w in self.workloads} | {s.namespace for s in self.services}
        for name in used:
            namespaces.setdefault(name, with_name_label(name, ()))
        workloads = [
            replace(w, owner=self.top_controller(w.namespace, w.owner)) if w.owner else w
            for w in self.workloads
        ]
        return Inventory(
            namespaces=tuple(Namespace(n, labels) for n, labels in sorted(namespaces.items())),
            workloads=tuple(sorted(set(workloads))),
            policies=tuple(self.policies),
            services=tuple(sorted(set(self.services))),
        )

    def top_controller(self, namespace: str, owner: str) -> str:
        """Follow ReplicaSet -> Deployment and Job -> CronJob; a ReplicaSet not listed is
        named ``<deployment>-<pod-template-hash>``, so its Deployment is still known."""
        for _ in range(4):
            above = self.controllers.get((namespace, owner))
            if above is None:
                break
            owner = above
        return owner


class _ObjectReader:
    """Typed access to one Kubernetes object; malformed fields raise PolicyError."""

    def __init__(self, document: PolicyDocument) -> None:
        self.document = document
        self.body = document.body

    def fail(self, field: str, reason: str) -> PolicyError:
        return self.document.error(field, reason)

    def mapping(self, parent: Mapping[str, Any], key: str, field: str) -> Mapping[str, Any]:
        value = parent.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(field, "must be a mapping")
        return value

    def items(self, parent: Mapping[str, Any], key: str, field: str) -> list[Mapping[str, Any]]:
        value = parent.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise self.fail(field, "must be a list of mappings")
        return value

    def metadata(self) -> Mapping[str, Any]:
        return self.mapping(self.body, "metadata", "metadata")

    def name(self) -> str:
        name = self.metadata().get("name")
        if not isinstance(name, str) or not name:
            raise self.fail("metadata.name", "missing name")
        return name

    def namespace(self) -> str:
        namespace = self.metadata().get("namespace") or DEFAULT_NAMESPACE
        if not isinstance(namespace, str):
            raise self.fail("metadata.namespace", "must be a string")
        return namespace

    def labels(self, field: str, metadata: Mapping[str, Any] | None = None) -> Labels:
        source = self.metadata() if metadata is None else metadata
        labels = self.mapping(source, "labels", field)
        pairs = []
        for key, value in labels.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise self.fail(f"{field}.{key}", "labels must be strings")
            pairs.append((key, value))
        return make_labels(pairs)

    def owned_by_controller(self) -> bool:
        owner_kind = _OWNED_BY.get(self.document.kind)
        references = self.items(self.metadata(), "ownerReferences", "metadata.ownerReferences")
        return any(r.get("controller") and r.get("kind") == owner_kind for r in references)

    def controller(self) -> str:
        """The controlling owner reference as ``Kind/name``, empty when there is none."""
        references = self.items(self.metadata(), "ownerReferences", "metadata.ownerReferences")
        for reference in references:
            kind, name = reference.get("kind"), reference.get("name")
            if reference.get("controller") and isinstance(kind, str) and isinstance(name, str):
                return f"{kind}/{name}"
        return ""

    def pod_owner(self, labels: Labels) -> str:
        owner = self.controller()
        template_hash = dict(labels).get("pod-template-hash", "")
        if (
            owner.startswith("ReplicaSet/")
            and template_hash
            and owner.endswith(f"-{template_hash}")
        ):
            # The ReplicaSet may not be listed: its name is the Deployment's plus the hash.
            return "Deployment/" + owner.removeprefix("ReplicaSet/")[: -len(template_hash) - 1]
        return owner

    def pod(self) -> Workload:
        spec = self.mapping(self.body, "spec", "spec")
        status = self.mapping(self.body, "status", "status")
        ips = [
            str(ip["ip"])
            for ip in self.items(status, "podIPs", "status.podIPs")
            if isinstance(ip.get("ip"), str)
        ]
        if not ips and isinstance(status.get("podIP"), str):
            ips = [status["podIP"]]
        labels = self.labels("metadata.labels")
        return Workload(
            namespace=self.namespace(),
            name=self.name(),
            labels=labels,
            kind="Pod",
            ips=tuple(ips),
            ports=self.container_ports(spec, "spec"),
            host_network=bool(spec.get("hostNetwork")),
            owner=self.pod_owner(labels),
        )

    def template_workload(self) -> Workload | None:
        if self.owned_by_controller():
            return None
        spec = self.mapping(self.body, "spec", "spec")
        field = "spec.template"
        if self.document.kind == "CronJob":
            job = self.mapping(spec, "jobTemplate", "spec.jobTemplate")
            spec = self.mapping(job, "spec", "spec.jobTemplate.spec")
            field = "spec.jobTemplate.spec.template"
        template = self.mapping(spec, "template", field)
        template_metadata = self.mapping(template, "metadata", f"{field}.metadata")
        pod_spec = self.mapping(template, "spec", f"{field}.spec")
        return Workload(
            namespace=self.namespace(),
            name=self.name(),
            labels=self.labels(f"{field}.metadata.labels", template_metadata),
            kind=self.document.kind,
            ports=self.container_ports(pod_spec, f"{field}.spec"),
            host_network=bool(pod_spec.get("hostNetwork")),
        )

    def container_ports(self, pod_spec: Mapping[str, Any], field: str) -> tuple[ContainerPort, ...]:
        ports = set()
        # Init containers with ports are sidecars (restartPolicy: Always) serving traffic too.
        for section in ("containers", "initContainers"):
            for i, container in enumerate(self.items(pod_spec, section, f"{field}.{section}")):
                where = f"{field}.{section}[{i}].ports"
                for j, port in enumerate(self.items(container, "ports", where)):
                    number = port.get("containerPort")
                    if isinstance(number, bool) or not isinstance(number, int):
                        raise self.fail(f"{where}[{j}].containerPort", "must be a number")
                    name = port.get("name") or ""
                    protocol = port.get("protocol") or "TCP"
                    ports.add(ContainerPort(number, str(protocol), str(name)))
        return tuple(sorted(ports))

    def service(self) -> Service:
        spec = self.mapping(self.body, "spec", "spec")
        selector = self.mapping(spec, "selector", "spec.selector")
        ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
        ports = []
        for i, port in enumerate(self.items(spec, "ports", "spec.ports")):
            number = port.get("port")
            if isinstance(number, bool) or not isinstance(number, int):
                raise self.fail(f"spec.ports[{i}].port", "must be a number")
            target = port.get("targetPort")
            ports.append(
                ServicePort(
                    number,
                    str(port.get("protocol") or "TCP"),
                    str(port.get("name") or ""),
                    "" if target is None else str(target),
                )
            )
        return Service(
            namespace=self.namespace(),
            name=self.name(),
            selector=make_labels((str(k), str(v)) for k, v in selector.items()),
            cluster_ips=tuple(str(ip) for ip in ips if ip and ip != "None"),
            ports=tuple(ports),
        )


# --- the cluster -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Resource:
    """One listable API resource and the client method that lists it cluster-wide."""

    api_version: str
    kind: str
    api: str
    """The ``kubernetes.client`` API class, e.g. ``CoreV1Api``."""
    method: str
    args: tuple[str, ...] = ()
    required: bool = True
    """Optional resources are skipped when the API lacks them or RBAC forbids them."""


NAMESPACES = _Resource("v1", "Namespace", "CoreV1Api", "list_namespace")
PODS = _Resource("v1", "Pod", "CoreV1Api", "list_pod_for_all_namespaces")
SERVICES = _Resource(
    "v1", "Service", "CoreV1Api", "list_service_for_all_namespaces", required=False
)
REPLICASETS = _Resource(
    "apps/v1", "ReplicaSet", "AppsV1Api", "list_replica_set_for_all_namespaces", required=False
)
JOBS = _Resource("batch/v1", "Job", "BatchV1Api", "list_job_for_all_namespaces", required=False)
CRONJOBS = _Resource(
    "batch/v1", "CronJob", "BatchV1Api", "list_cron_job_for_all_namespaces", required=False
)
NETWORK_POLICIES = _Resource(
    "networking.k8s.io/v1",
    "NetworkPolicy",
    "NetworkingV1Api",
    "list_network_policy_for_all_namespaces",
)
CILIUM_POLICIES = _Resource(
    "cilium.io/v2",
    "CiliumNetworkPolicy",
    "CustomObjectsApi",
    "list_cluster_custom_object",
    ("cilium.io", "v2", "ciliumnetworkpolicies"),
    required=False,
)
CILIUM_CLUSTERWIDE_POLICIES = _Resource(
    "cilium.io/v2",
    "CiliumClusterwideNetworkPolicy",
    "CustomObjectsApi",
    "list_cluster_custom_object",
    ("cilium.io", "v2", "ciliumclusterwidenetworkpolicies"),
    required=False,
)
POLICY_RESOURCES = (NETWORK_POLICIES, CILIUM_POLICIES, CILIUM_CLUSTERWIDE_POLICIES)
INVENTORY_RESOURCES = (NAMESPACES, PODS, SERVICES, REPLICASETS, JOBS, CRONJOBS, *POLICY_RESOURCES)
_OPTIONAL_STATUSES = frozenset({403, 404})


class _ClusterReader:
    """Lists resources through the real ``kubernetes`` client, as raw JSON pages."""

    def __init__(self, kubeconfig: str | None, context: str | None) -> None:
        self.kubeconfig = kubeconfig
        self.context = context
        self._client: Any = None
        self.server = "kubernetes"

    def inventory(self) -> Inventory:
        builder = _InventoryBuilder()
        for resource in INVENTORY_RESOURCES:
            for document in self.documents(resource):
                builder.add(document)
        return builder.inventory()

    def policy_documents(self) -> list[PolicyDocument]:
        return [d for resource in POLICY_RESOURCES for d in self.documents(resource)]

    def documents(self, resource: _Resource) -> list[PolicyDocument]:
        documents = []
        for item in self.list(resource):
            metadata = item.get("metadata") or {}
            name = "/".join(str(metadata[k]) for k in ("namespace", "name") if metadata.get(k))
            # List responses leave apiVersion and kind out of core items.
            body = {"apiVersion": resource.api_version, "kind": resource.kind, **item}
            documents.append(PolicyDocument(f"{CLUSTER}:{resource.kind}/{name}", -1, body))
        return documents

    def list(self, resource: _Resource) -> list[Mapping[str, Any]]:
        """Every item of ``resource``, page by page."""
        items: list[Mapping[str, Any]] = []
        token = ""
        while True:
            page = self._page(resource, token)
            if page is None:
                return []
            found = page.get("items") or []
            if not isinstance(found, list):
                raise self._bad_response(resource, "items is not a list")
            items.extend(item for item in found if isinstance(item, Mapping))
            metadata = page.get("metadata")
            token = metadata.get("continue") or "" if isinstance(metadata, Mapping) else ""
            if not token:
                return items

    def _page(self, resource: _Resource, token: str) -> Mapping[str, Any] | None:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        api = getattr(client, resource.api)(self._api_client())
        try:
            response = getattr(api, resource.method)(
                *resource.args,
                limit=PAGE_SIZE,
                _continue=token or None,
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
            data = response.data
        except ApiException as exc:
            status = exc.status or 0
            if not resource.required and status in _OPTIONAL_STATUSES:
                return None
            detail = _status_message(exc.body) if exc.body else str(exc.reason)
            raise SourceUnavailableError(
                self.server, f"HTTP {status}", f"listing {resource.kind}: {detail}"
            ) from exc
        except HTTPError as exc:
            raise SourceUnavailableError(self.server, "UNAVAILABLE", _cause(exc)) from exc
        try:
            page = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise self._bad_response(resource, "not JSON") from exc
        if not isinstance(page, Mapping):
            raise self._bad_response(resource, "not a list")
        return page

    def _bad_response(self, resource: _Resource, what: str) -> SourceUnavailableError:
        return SourceUnavailableError(
            self.server, "BAD_RESPONSE", f"listing {resource.kind}: {what}"
        )

    def _api_client(self) -> Any:
        if self._client is None:
            from kubernetes import client

            configuration = _configuration(self.kubeconfig, self.context)
            self.server = configuration.host or self.server
            self._client = client.ApiClient(configuration)
        return self._client


def _configuration(kubeconfig: str | None, context: str | None) -> Any:
    """Client settings: ``kubeconfig``/``context`` when given; otherwise the default kubeconfig
    ($KUBECONFIG, ~/.kube/config), or the in-cluster service account when running in a pod."""
    from kubernetes import client
    from kubernetes import config as untyped_config

    config: Any = untyped_config
    configuration = client.Configuration()
    try:
        config.load_kube_config(
            config_file=kubeconfig,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
        return configuration
    except (config.ConfigException, OSError) as exc:
        in_pod = "KUBERNETES_SERVICE_HOST" in os.environ
        if kubeconfig or context or not in_pod:
            raise SourceUnavailableError("kubernetes", "CONFIG", _cause(exc)) from exc
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException as exc:
        raise SourceUnavailableError("kubernetes", "CONFIG", _cause(exc)) from exc
    return configuration


def _cause(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc)


def _status_message(data: str | bytes) -> str:
    """The ``message`` of a Kubernetes Status body, or the body itself, shortened."""
    try:
        status = orjson.loads(data)
    except orjson.JSONDecodeError:
        status = None
    if isinstance(status, Mapping) and isinstance(status.get("message"), str):
        return str(status["message"])
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = text.strip()
    return text[:200] or "no details"
