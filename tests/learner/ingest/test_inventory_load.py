"""Inventory from manifests, and from a cluster through the real ``kubernetes`` client talking
to a local HTTP server that serves recorded-shape API list responses (with paging)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from learner.ingest.inventory_load import load_current_policies, load_inventory
from learner.model.errors import PolicyError, SourceUnavailableError
from learner.model.inventory import ContainerPort, Service, ServicePort
from learner.semantics import Traffic, TrafficPeer, compile_policies

FIXTURES = Path(__file__).parents[2] / "fixtures"
API = FIXTURES / "kubernetes"


# --- manifests -------------------------------------------------------------------------------


def test_inventory_from_manifests() -> None:
    inventory = load_inventory(str(FIXTURES / "inventory"))
    assert not inventory.inferred
    assert [(n.name, dict(n.labels)) for n in inventory.namespaces] == [
        ("kube-system", {"kubernetes.io/metadata.name": "kube-system"}),
        ("shop", {"kubernetes.io/metadata.name": "shop", "team": "payments"}),
    ]
    workloads = {(w.kind, w.name): w for w in inventory.workloads}
    assert sorted(workloads) == [
        ("CronJob", "report"),
        ("DaemonSet", "node-exporter"),
        ("Deployment", "web"),
        ("Job", "migrate"),
        ("Pod", "web-5d8f9c7b6d-x2x9p"),
        ("StatefulSet", "db"),
    ], "the ReplicaSet and Job owned by a Deployment/CronJob are left out"
    web = workloads[("Deployment", "web")]
    assert dict(web.labels) == {"app": "web", "tier": "frontend"}
    assert web.ports == (
        ContainerPort(8080, "TCP", "http"),
        ContainerPort(9090, "TCP", "metrics"),
        ContainerPort(15000, "TCP", "admin"),
    )
    assert dict(workloads[("CronJob", "report")].labels) == {"app": "report"}
    assert workloads[("DaemonSet", "node-exporter")].host_network
    pod = workloads[("Pod", "web-5d8f9c7b6d-x2x9p")]
    assert pod.ips == ("10.244.1.17", "fd00:10:244:1::11")
    assert inventory.services == (
        Service(
            "shop",
            "web",
            (("app", "web"),),
            ("10.96.12.34",),
            (ServicePort(80, "TCP", "http", "http"),),
        ),
    )
    assert [p["metadata"]["name"] for p in inventory.policies] == ["default-deny"]  # type: ignore[index]


def test_single_manifest_file_and_implicit_namespaces(tmp_path: Path) -> None:
    path = tmp_path / "pod.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: solo, labels: {app: solo}}\n"
        "spec: {containers: [{name: c, image: i}]}\n"
    )
    inventory = load_inventory(str(path))
    [workload] = inventory.workloads
    assert (workload.namespace, workload.name) == ("default", "solo")
    assert [(n.name, n.labels) for n in inventory.namespaces] == [
        ("default", (("kubernetes.io/metadata.name", "default"),))
    ]


def test_malformed_manifest_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: [app]}\n"
    )
    with pytest.raises(PolicyError) as raised:
        load_inventory(str(path))
    assert (raised.value.document, raised.value.field) == (1, "metadata.labels")


# --- the cluster -----------------------------------------------------------------------------


class FakeAPIServer(ThreadingHTTPServer):
    """Serves list responses from files; records every request (path + query)."""

    daemon_threads = True

    def __init__(self, routes: dict[str, object]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes = routes
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.authorizations: list[str | None] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeAPIServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        self.server.requests.append((parts.path, query))
        self.server.authorizations.append(self.headers.get("Authorization"))
        route = self.server.routes.get(parts.path)
        if callable(route):
            route = route(query)
        status, body = route if isinstance(route, tuple) else (404, _status(404, "not found"))
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _status(code: int, message: str) -> dict[str, object]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "code": code,
    }


def _file(name: str) -> tuple[int, bytes]:
    return 200, (API / name).read_bytes()


def _pods(query: dict[str, list[str]]) -> tuple[int, bytes]:
    if query.get("continue") == ["eyJwYWdlIjoyfQ"]:
        return _file("pods-page-2.json")
    return _file("pods-page-1.json")


def default_routes() -> dict[str, object]:
    return {
        "/api/v1/namespaces": _file("namespaces.json"),
        "/api/v1/pods": _pods,
        "/apis/networking.k8s.io/v1/networkpolicies": _file("networkpolicies.json"),
    }


@pytest.fixture
def api_server() -> Iterator[FakeAPIServer]:
    server = FakeAPIServer(default_routes())
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def write_kubeconfig(path: Path, server: str, *, context: str = "test") -> str:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "local", "cluster": {"server": server}}],
                "users": [{"name": "tester", "user": {"token": "s3cr3t-token"}}],
                "contexts": [
                    {"name": context, "context": {"cluster": "local", "user": "tester"}},
                    {"name": "elsewhere", "context": {"cluster": "local", "user": "tester"}},
                ],
                "current-context": "elsewhere",
            }
        )
    )
    return str(path)


def test_cluster_inventory_merges_pages(api_server: FakeAPIServer, tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "config", api_server.url)
    inventory = load_inventory("cluster", kubeconfig=kubeconfig, context="test")
    pod_requests = [q for path, q in api_server.requests if path == "/api/v1/pods"]
    assert len(pod_requests) == 2
    assert pod_requests[0]["limit"] == ["500"] and "continue" not in pod_requests[0]
    assert pod_requests[1]["continue"] == ["eyJwYWdlIjoyfQ"], "the second page was requested"
    assert set(api_server.authorizations) == {"Bearer s3cr3t-token"}
    pods = {w.name: w for w in inventory.workloads}
    assert sorted(pods) == ["kube-proxy-7hx2k", "web-5d8f9c7b6d-x2x9p"], "both pages merged"
    web = pods["web-5d8f9c7b6d-x2x9p"]
    assert (web.namespace, web.ips, web.ports) == (
        "shop",
        ("10.244.1.17",),
        (ContainerPort(8080, "TCP", "http"),),
    )
    assert pods["kube-proxy-7hx2k"].host_network
    assert dict(inventory.namespaces[1].labels)["team"] == "payments"
    [policy] = inventory.policies
    assert policy["kind"] == "NetworkPolicy" and policy["apiVersion"] == "networking.k8s.io/v1"
    # Optional resources the server does not have (404) are skipped, not fatal.
    asked = {path for path, _ in api_server.requests}
    assert "/api/v1/services" in asked and "/apis/cilium.io/v2/ciliumnetworkpolicies" in asked


def test_current_policies_from_cluster_compile(api_server: FakeAPIServer, tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "config", api_server.url)
    documents, errors = load_current_policies("cluster", kubeconfig=kubeconfig, context="test")
    assert errors == []
    [document] = documents
    assert document.path == "cluster:NetworkPolicy/shop/web-from-frontend"
    policies = compile_policies(documents)
    web = TrafficPeer(kind="pod", namespace="shop", labels=(("app", "web"),))
    frontend = TrafficPeer(kind="pod", namespace="shop", labels=(("role", "frontend"),))
    assert policies.evaluate(Traffic(frontend, web, "TCP", 8080)).allowed
    assert not policies.evaluate(Traffic(frontend, web, "TCP", 22)).allowed


def test_current_policies_from_paths() -> None:
    documents, errors = load_current_policies([str(FIXTURES / "policies" / "valid")])
    assert errors == [] and len(documents) == 4


def test_forbidden_required_list_is_source_unavailable(
    api_server: FakeAPIServer, tmp_path: Path
) -> None:
    api_server.routes["/api/v1/pods"] = (
        403,
        _status(403, 'pods is forbidden: User "tester" cannot list resource "pods"'),
    )
    kubeconfig = write_kubeconfig(tmp_path / "config", api_server.url)
    with pytest.raises(SourceUnavailableError) as raised:
        load_inventory("cluster", kubeconfig=kubeconfig, context="test")
    assert raised.value.code == "HTTP 403"
    assert raised.value.server == api_server.url
    assert "cannot list resource" in raised.value.detail
    assert raised.value.exit_status == 3


def test_forbidden_optional_list_is_skipped(api_server: FakeAPIServer, tmp_path: Path) -> None:
    api_server.routes["/api/v1/services"] = (403, _status(403, "services is forbidden"))
    kubeconfig = write_kubeconfig(tmp_path / "config", api_server.url)
    inventory = load_inventory("cluster", kubeconfig=kubeconfig, context="test")
    assert inventory.services == () and len(inventory.workloads) == 2


def test_garbage_response_is_source_unavailable(api_server: FakeAPIServer, tmp_path: Path) -> None:
    api_server.routes["/api/v1/namespaces"] = (200, b"<html>proxy login</html>")
    kubeconfig = write_kubeconfig(tmp_path / "config", api_server.url)
    with pytest.raises(SourceUnavailableError, match="BAD_RESPONSE"):
        load_inventory("cluster", kubeconfig=kubeconfig, context="test")


def test_unreachable_server_is_source_unavailable(tmp_path: Path) -> None:
    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{closed.server_address[1]}"
    closed.server_close()  # nothing listens on that port any more
    kubeconfig = write_kubeconfig(tmp_path / "config", url)
    with pytest.raises(SourceUnavailableError) as raised:
        load_inventory("cluster", kubeconfig=kubeconfig, context="test")
    assert raised.value.code == "UNAVAILABLE"


def test_missing_kubeconfig_is_source_unavailable(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailableError) as raised:
        load_inventory("cluster", kubeconfig=str(tmp_path / "absent"))
    assert raised.value.code == "CONFIG"


def test_unknown_context_is_source_unavailable(api_server: FakeAPIServer, tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "config", api_server.url)
    with pytest.raises(SourceUnavailableError, match="nowhere"):
        load_inventory("cluster", kubeconfig=kubeconfig, context="nowhere")
