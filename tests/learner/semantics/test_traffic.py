"""Edges become traffic enriched from the inventory: namespace labels, port names, DNS names,
labels of pods known only by address."""

from __future__ import annotations

from learner.model.edges import EdgeStore
from learner.model.flow import Endpoint, EndpointKind, Protocol, make_labels
from learner.model.inventory import ContainerPort, Inventory, Namespace, Workload, from_store
from learner.semantics import TrafficBuilder, traffic_for_edge
from tests.flowbuild import flow, pod, world

INVENTORY = Inventory(
    namespaces=(
        Namespace("shop", (("kubernetes.io/metadata.name", "shop"), ("team", "payments"))),
    ),
    workloads=(
        Workload(
            namespace="shop",
            name="web",
            labels=make_labels({"app": "web", "pod-template-hash": "5d8f9c7b6d"}),
            kind="Pod",
            ips=("10.0.0.5",),
            ports=(ContainerPort(8080, "TCP", "http"), ContainerPort(9090, "TCP", "metrics")),
        ),
        Workload(
            namespace="shop",
            name="db",
            labels=make_labels({"app": "db"}),
            kind="StatefulSet",
            ports=(ContainerPort(5432, "TCP", "postgres"),),
        ),
    ),
)


def test_pod_edge_gets_namespace_labels_and_port_name() -> None:
    store = EdgeStore()
    edge = store.add(
        flow(pod("shop", "client-1", app="client"), pod("shop", "web-1", app="web"), 8080)
    )
    traffic = traffic_for_edge(edge, INVENTORY, store.edges[edge])
    assert traffic.destination.namespace_labels == (
        ("kubernetes.io/metadata.name", "shop"),
        ("team", "payments"),
    )
    assert traffic.port_name == "http", "web's container port 8080 is named http"
    assert traffic.source.labels == (("app", "client"),)
    other_port = store.add(
        flow(pod("shop", "client-1", app="client"), pod("shop", "web-1", app="web"), 8081)
    )
    assert traffic_for_edge(other_port, INVENTORY, None).port_name == ""


def test_port_name_needs_matching_protocol() -> None:
    store = EdgeStore()
    edge = store.add(
        flow(
            pod("shop", "c", app="client"),
            pod("shop", "db-0", app="db"),
            5432,
            protocol=Protocol.UDP,
        )
    )
    assert traffic_for_edge(edge, INVENTORY, None).port_name == ""


def test_world_destination_carries_ip_and_observed_names() -> None:
    store = EdgeStore()
    edge = store.add(
        flow(
            pod("shop", "web-1", app="web"),
            world("203.0.113.9"),
            443,
            dns_names=("api.stripe.com",),
        )
    )
    traffic = traffic_for_edge(edge, INVENTORY, store.edges[edge])
    assert traffic.destination.kind == "world"
    assert traffic.destination.ip == "203.0.113.9"
    assert traffic.destination.names == ("api.stripe.com",)
    assert traffic.destination.ip_version == 4


def test_unknown_namespace_still_has_its_name_label() -> None:
    store = EdgeStore()
    edge = store.add(flow(pod("other", "x-1", app="x"), pod("shop", "web-1", app="web"), 8080))
    traffic = traffic_for_edge(edge, INVENTORY, None)
    assert traffic.source.namespace_label_map == {"kubernetes.io/metadata.name": "other"}


def test_pod_known_only_by_address_gets_inventory_labels() -> None:
    unlabelled = Endpoint(kind=EndpointKind.POD, namespace="shop", ip="10.0.0.5", pod="web-1")
    store = EdgeStore()
    edge = store.add(flow(pod("shop", "client-1", app="client"), unlabelled, 8080))
    traffic = traffic_for_edge(edge, INVENTORY, None)
    assert dict(traffic.destination.labels)["app"] == "web"
    assert traffic.port_name == "http"


def test_builder_reuses_peers_and_flow_inventory_works() -> None:
    store = EdgeStore()
    a = store.add(flow(pod("shop", "c-1", app="client"), pod("shop", "web-1", app="web"), 8080))
    b = store.add(flow(pod("shop", "c-1", app="client"), pod("shop", "web-1", app="web"), 9090))
    builder = TrafficBuilder(from_store(store))
    first, second = builder.for_edge(a), builder.for_edge(b)
    assert first.source is second.source
    assert first.port_name == "", "an inventory inferred from flows knows no port names"


def test_labelled_workload_wins_an_address_over_a_flow_made_copy() -> None:
    unlabelled = Endpoint(kind=EndpointKind.POD, namespace="shop", ip="10.0.0.9", pod="api-1")
    store = EdgeStore()
    edge = store.add(flow(pod("shop", "client-1", app="client"), unlabelled, 8080))
    manifests = Inventory(
        workloads=(
            Workload(namespace="shop", name="zz-api", labels=(("app", "api"),), ips=("10.0.0.9",)),
        )
    )
    # from_store() adds a label-less "api" workload with the same address, sorted first.
    inventory = manifests.merged(from_store(store))
    assert inventory.workloads[0].labels == ()
    traffic = traffic_for_edge(edge, inventory, None)
    assert traffic.destination.labels == (("app", "api"),)


def test_the_manifest_copy_of_a_workload_gives_its_port_names() -> None:
    """An inventory completed from flows holds the workload as the flows show it (no ports)
    beside its manifest (with ports); the port name comes from the manifest, whichever sorts
    first."""
    store = EdgeStore()
    edge = store.add(flow(pod("shop", "c-1", app="client"), pod("shop", "web-1", app="web"), 8080))
    inventory = from_store(store).merged(INVENTORY)
    copies = [
        w for w in inventory.workloads if w.namespace == "shop" and ("app", "web") in w.labels
    ]
    assert len(copies) == 2 and not copies[0].ports, "the flow-made copy sorts first"
    assert traffic_for_edge(edge, inventory, None).port_name == "http"
