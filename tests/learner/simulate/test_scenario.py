from __future__ import annotations

import ipaddress
import re
from collections import Counter

import pytest

from learner.model.flow import EndpointKind, Protocol
from learner.model.policy import NAMESPACE_NAME_LABEL
from learner.simulate import SCENARIOS, simulate
from learner.simulate.cluster import ENTITIES, ENTITY_NODES, Pod, WorkloadKind
from learner.simulate.scenario import build_scenario
from learner.simulate.topology import VERSION_LABELS
from learner.simulate.traffic_generator import L7, PerJobRun

REPLICASET_POD = re.compile(
    r"^(?P<name>.+)-(?P<hash>[4-9bcdf]{9,10})-[bcdfghjklmnpqrstvwxz2-9]{5}$"
)
JOB_POD = re.compile(r"^(?P<name>.+)-(?P<minutes>\d{8})-[bcdfghjklmnpqrstvwxz2-9]{5}$")
DAEMON_POD = re.compile(r"^(?P<name>.+)-[bcdfghjklmnpqrstvwxz2-9]{5}$")


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_is_consistent(name: str) -> None:
    scenario = build_scenario(name)
    cluster = scenario.cluster
    workload_ids = {w.id for w in cluster.workloads}
    external_ids = {e.id for e in cluster.externals}
    for spec in scenario.connections:
        entities = {*ENTITIES, ENTITY_NODES}
        assert spec.client in workload_ids | entities, spec.key
        assert spec.server in workload_ids | external_ids | entities, spec.key
    keys = [spec.key for spec in scenario.connections]
    assert len(keys) == len(set(keys)), Counter(keys).most_common(3)
    assert scenario.learning.end_ns <= scenario.held_out.start_ns
    for namespace in cluster.namespaces:
        assert (NAMESPACE_NAME_LABEL, namespace.name) in namespace.labels
    for workload in cluster.workloads:
        assert set(workload.selector) <= set(workload.labels), workload.id
        rare_job = workload.kind is WorkloadKind.CRONJOB and all(
            s.rare for s in scenario.connections if s.client == workload.id
        )
        assert cluster.pods_of(workload) or rare_job, f"{workload.id} has no pods"


def test_same_seed_same_topology_other_seed_other_names() -> None:
    first, again, other = (build_scenario("shop", seed=s).cluster for s in (1, 1, 2))
    names = [(p.name, p.ip, p.node.name, p.labels) for p in first.pods]
    assert names == [(p.name, p.ip, p.node.name, p.labels) for p in again.pods]
    assert {p.name for p in first.pods} != {p.name for p in other.pods}


def test_pod_names_and_volatile_labels_are_shaped_like_kubernetes_makes_them() -> None:
    cluster = build_scenario("shop").cluster
    seen: set[WorkloadKind] = set()
    for pod in cluster.pods:
        labels = dict(pod.labels)
        kind = pod.workload.kind
        seen.add(kind)
        if kind is WorkloadKind.DEPLOYMENT:
            match = REPLICASET_POD.match(pod.name)
            assert match and match["name"] == pod.workload.name, pod.name
            assert labels["pod-template-hash"] == match["hash"]
        elif kind is WorkloadKind.STATEFULSET:
            ordinal = labels["apps.kubernetes.io/pod-index"]
            assert pod.name == f"{pod.workload.name}-{ordinal}"
            assert labels["statefulset.kubernetes.io/pod-name"] == pod.name
            assert labels["controller-revision-hash"].startswith(pod.workload.name + "-")
        elif kind is WorkloadKind.CRONJOB:
            match = JOB_POD.match(pod.name)
            assert match and match["name"] == pod.workload.name, pod.name
            job = f"{pod.workload.name}-{match['minutes']}"
            assert labels["job-name"] == labels["batch.kubernetes.io/job-name"] == job
            assert labels["controller-uid"] == labels["batch.kubernetes.io/controller-uid"]
            # The Job is named after its scheduled minute; the pod starts just after it.
            assert 0 < pod.start_ns - int(match["minutes"]) * 60_000_000_000 < 10_000_000_000
        elif kind is WorkloadKind.DAEMONSET:
            assert DAEMON_POD.match(pod.name), pod.name
            assert "pod-template-generation" in labels
        else:
            assert pod.name == pod.workload.name and labels == {"run": pod.name}
    assert seen == set(WorkloadKind)


def test_daemonset_runs_one_pod_per_node() -> None:
    cluster = build_scenario("shop").cluster
    daemonset = next(w for w in cluster.workloads if w.kind is WorkloadKind.DAEMONSET)
    assert sorted(p.node.name for p in cluster.pods_of(daemonset)) == sorted(
        n.name for n in cluster.nodes
    )


def test_pod_addresses_are_unique_at_any_instant() -> None:
    # Four days of a job every five minutes: more pods than a node's /24 has addresses.
    cluster = build_scenario("cronjobs", hours=96).cluster
    by_ip: dict[str, list[tuple[int, int]]] = {}
    for pod in cluster.pods:
        by_ip.setdefault(pod.ip, []).append((pod.start_ns, pod.end_ns))
        node_range = pod.node.pod_cidr.rsplit(".", 1)[0]
        assert pod.ip.startswith(node_range + "."), (pod.name, pod.ip, pod.node.pod_cidr)
    reused = 0
    for spans in by_ip.values():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert end <= start
            reused += 1
    assert reused > 0  # addresses are recycled, as on a real node


def test_label_styles_scenario_has_every_style_and_per_pod_noise() -> None:
    cluster = build_scenario("label-styles").cluster
    keys_by_workload = {w.name: {k for k, _ in w.labels} for w in cluster.workloads}
    assert keys_by_workload["catalog"] <= {
        "app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component",
        "app.kubernetes.io/version", "app.kubernetes.io/part-of",
    }  # fmt: skip
    assert keys_by_workload["inventory"] == {"k8s-app"}
    assert "helm.sh/chart" in keys_by_workload["fluent-bit"]
    ledger = [dict(p.labels) for p in cluster.pods if p.workload.name == "ledger-db"]
    assert {labels["cnpg.io/instanceName"] for labels in ledger} == {
        "ledger-db-0", "ledger-db-1", "ledger-db-2",
    }  # fmt: skip
    assert sorted(labels["role"] for labels in ledger) == ["primary", "replica", "replica"]
    pricing = {dict(p.labels)["rollouts-pod-template-hash"] for p in cluster.pods
               if p.workload.name == "pricing"}  # fmt: skip
    assert len(pricing) == 2  # one hash per revision: the rollout changes it


def test_shop_has_what_real_clusters_have() -> None:
    scenario = build_scenario("shop")
    specs = scenario.connections
    servers = {s.server for s in specs}
    assert "kube-system/coredns" in servers
    dns_clients = {s.client for s in specs if s.server == "kube-system/coredns"}
    pod_workloads = {w.id for w in scenario.cluster.workloads} - {
        "kube-system/coredns", "shop/netshoot",
    }  # fmt: skip
    assert pod_workloads <= dns_clients
    assert any(s.server == "kube-system/coredns" and s.protocol == "TCP" for s in specs)
    assert any(s.client == "entity:host" for s in specs)
    assert any(s.server == "entity:kube-apiserver" for s in specs)
    scraped = {s.server.split("/")[0] for s in specs if s.client == "monitoring/prometheus-k8s"}
    assert {"shop", "shop-data", "kube-system", "ingress-nginx", "cert-manager"} <= scraped
    assert any(s.l7 is L7.HTTP for s in specs) and any(s.l7 is L7.DNS for s in specs)
    assert any(s.denied and s.scan_ports for s in specs)
    assert any(s.rare for s in specs)
    stripe = scenario.cluster.external("external:stripe")
    assert len(stripe.ips) >= 4 and len(stripe.cidrs) == 2
    assert any(isinstance(s.pattern, PerJobRun) for s in specs)


def test_weekly_job_outside_the_learning_window_is_marked_rare() -> None:
    scenario = build_scenario("shop")  # Monday to Tuesday; the backup runs on Sundays
    backup = [s for s in scenario.connections if s.client == "shop-data/db-backup"]
    assert backup and all(s.rare for s in backup)
    nightly = [s for s in scenario.connections if s.client == "shop/nightly-report"]
    # Its DNS over TCP is allowed but only a truncated answer would make it happen.
    tcp_dns = [s for s in nightly if s.port == 53 and s.protocol is Protocol.TCP]
    assert tcp_dns and all(s.rare for s in tcp_dns)
    assert not any(s.rare for s in nightly if s not in tcp_dns)


def test_rolling_restart_mid_window_changes_pod_names() -> None:
    result = simulate("shop", lines=3000)
    api_pods = set()
    for event in result.events("learning"):
        for peer in (event.client, event.server):
            if peer.pod is not None and peer.pod.workload.id == "shop/api":
                api_pods.add(peer.pod)
    assert len({p.revision for p in api_pods}) == 2
    assert len(api_pods) > 3


def test_rollout_scenario_windows_share_no_pod_hash() -> None:
    result = simulate("rollout", lines=4000)
    revisions: dict[str, set[str]] = {}
    for window in result.windows:
        seen = revisions.setdefault(window.name, set())
        for event in result.events(window.name):
            for peer in (event.client, event.server):
                pod = peer.pod
                if pod is not None and pod.workload.kind in (
                    WorkloadKind.DEPLOYMENT, WorkloadKind.STATEFULSET, WorkloadKind.DAEMONSET,
                ):  # fmt: skip
                    seen.add(pod.revision)
    assert revisions["learning"] and revisions["held-out"]
    assert not revisions["learning"] & revisions["held-out"]


def test_lines_calibration_is_close() -> None:
    for name in ("shop", "cronjobs", "mixed"):
        result = simulate(name, lines=4000)
        from learner.simulate.hubble_writer import lines_per_event

        written = sum(lines_per_event(e) for e in result.events())
        assert 3000 < written < 5000, (name, written)


def test_unknown_scenario() -> None:
    with pytest.raises(KeyError):
        simulate("no-such-scenario")


def version_labels(pods: list[Pod]) -> dict[str, str]:
    (labels,) = {tuple((k, v) for k, v in p.labels if k in VERSION_LABELS) for p in pods}
    return dict(labels)


def selector_of(pod: Pod) -> tuple[tuple[str, str], ...]:
    return tuple(pair for pair in pod.labels if pair in pod.workload.selector)


def test_the_next_day_follows_a_day_of_events() -> None:
    """With next_day the held-out day comes after what a real night brings: every controller
    rolled out to a new release, the operator-managed database failed over, pools rotated, new Job
    runs, a new team's namespace."""
    scenario = build_scenario("mixed", next_day=True)
    learning, held_out = scenario.learning, scenario.held_out
    day = 24 * 3600 * 10**9
    assert learning.end_ns - learning.start_ns == day == held_out.end_ns - held_out.start_ns
    assert learning.end_ns < held_out.start_ns
    pods = scenario.cluster.pods

    def alive(workload_id: str, at: int) -> list[Pod]:
        return [p for p in pods if p.workload.id == workload_id and p.alive(at)]

    last, first = learning.end_ns - 1, held_out.start_ns
    controllers = (WorkloadKind.DEPLOYMENT, WorkloadKind.STATEFULSET, WorkloadKind.DAEMONSET)
    for workload in scenario.cluster.workloads:
        if workload.kind in controllers:
            before, after = alive(workload.id, last), alive(workload.id, first)
            if workload.namespace == "team-orders":  # installed between the days
                assert after and not before
                continue
            assert before and after, workload.id
            assert {p.revision for p in before}.isdisjoint({p.revision for p in after})
            assert {p.ip for p in before} != {p.ip for p in after}, workload.id
            # A release, as helm upgrade makes it: every version label moved on, nothing else.
            old, new = version_labels(before), version_labels(after)
            assert old.keys() == new.keys() and all(old[k] != new[k] for k in old), workload.id
            assert {selector_of(p) for p in before} == {selector_of(p) for p in after}

    def primary(at: int) -> set[str]:
        return {p.name for p in alive("labels/ledger-db", at) if ("role", "primary") in p.labels}

    assert len(primary(last)) == len(primary(first)) == 1
    assert primary(last) != primary(first)
    bulk = scenario.cluster.external("external:s3-bulk")
    assert bulk.rotates_at_ns == first and set(bulk.rotated_ips).isdisjoint(bulk.ips)
    jobs = [p for p in pods if p.workload.kind is WorkloadKind.CRONJOB]
    learned = {p.revision for p in jobs if p.start_ns < learning.end_ns}
    assert {p.revision for p in jobs if p.start_ns >= first} - learned


def test_without_next_day_the_windows_split_one_period() -> None:
    scenario = build_scenario("mixed")
    assert scenario.held_out.end_ns - scenario.learning.start_ns == 24 * 3600 * 10**9
    assert not scenario.cluster.external("external:s3-bulk").rotated_ips


def test_internet_clients_of_the_next_day_are_half_new() -> None:
    """A public site's users are mostly not yesterday's: with next_day the held-out day's
    internet clients are half returning, half never seen on the learning day."""
    result = simulate("shop", seed=3, lines=40000, next_day=True)

    def internet_clients(window: str) -> set[str]:
        return {
            e.client.ip
            for e in result.events(window)
            if e.client.kind is EndpointKind.WORLD and e.connection.startswith("entity:world")
        }

    learned, held_out = internet_clients("learning"), internet_clients("held-out")
    assert held_out & learned
    assert len(learned | held_out) > 200  # more than one day's 200 clients


def test_without_next_day_one_set_of_internet_clients() -> None:
    result = simulate("shop", seed=3, lines=40000)
    clients = [
        {e.client.ip for e in result.events(w.name) if e.connection.startswith("entity:world")}
        for w in result.windows
    ]
    assert clients[0] and clients[1] and len(clients[0] | clients[1]) <= 200


def test_the_autoscaler_adds_nodes_the_next_day_and_prometheus_scrapes_them() -> None:
    """Node scale-up: the held-out day's scrapes reach nodes that did not exist while
    learning, at addresses elsewhere in the node subnet than the first nodes'."""
    result = simulate("node-autoscaling", seed=2, lines=20000, next_day=True)

    def scraped(window: str) -> set[str]:
        return {
            e.server.ip
            for e in result.events(window)
            if e.server.kind in (EndpointKind.HOST, EndpointKind.REMOTE_NODE)
        }

    learned, held_out = scraped("learning"), scraped("held-out")
    added = {n.ip for n in result.cluster.added_nodes}
    assert len(added) == 3 and not added & learned and added <= held_out
    assert learned == {n.ip for n in result.cluster.nodes}
    subnet = ipaddress.ip_network("10.128.0.0/20")
    first = ipaddress.ip_network("10.128.0.0/24")
    assert all(ipaddress.ip_address(ip) in subnet for ip in added)
    assert not any(ipaddress.ip_address(ip) in first for ip in added)
    kinds = {e.server.kind for e in result.events("learning") if e.server.node is not None}
    assert kinds == {EndpointKind.HOST, EndpointKind.REMOTE_NODE}  # own node is ``host``


def test_a_new_team_namespace_appears_the_next_day_and_is_scraped() -> None:
    """A team installs its API into a new namespace between the days; its ServiceMonitor came
    with the chart, so Prometheus scrapes it on the held-out day only."""
    result = simulate("cross-namespace-monitoring", seed=2, lines=20000, next_day=True)

    def scraped_namespaces(window: str) -> set[str]:
        return {
            e.server.pod.namespace
            for e in result.events(window)
            if e.server.pod is not None and e.connection.startswith("monitoring/prometheus-k8s ")
        }

    assert "team-orders" in scraped_namespaces("held-out")
    assert "team-orders" not in scraped_namespaces("learning")
    without = simulate("cross-namespace-monitoring", seed=2, lines=20000)
    assert "team-orders" not in {n.name for n in without.cluster.namespaces}
