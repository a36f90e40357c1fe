"""The named scenarios (``netpol-learner simulate --scenario NAME``) and how to build them.

Each is deterministic for a seed and has a ground truth; see :mod:`learner.simulate.builder`
for what a scenario holds and :mod:`learner.simulate.components` for what they are made of.
"""

from __future__ import annotations

from collections.abc import Callable

from learner.simulate.builder import DS, D, S, Scenario, ScenarioBuilder
from learner.simulate.components import (
    address_pools,
    batch,
    label_zoo,
    new_team_next_day,
    node_scrapes,
    outside_heavy,
    platform,
    shop,
    teams,
)
from learner.simulate.traffic_generator import SECOND

__all__ = ["DEFAULT_SCENARIO", "SCENARIOS", "Scenario", "ScenarioBuilder", "build_scenario"]


def _shop(seed: int, hours: float, next_day: bool) -> Scenario:
    s = ScenarioBuilder("shop", seed, hours, next_day=next_day)
    shop(s, platform(s))
    return s.finish(
        "Multi-tier shop (ingress, frontend, API with L7 HTTP, worker, Postgres, Redis, "
        "nightly and weekly CronJobs) with CoreDNS, Prometheus, cert-manager, a log shipper, "
        "outside APIs, a rolling restart and a port-scanning debug pod."
    )


def _many_replicas(seed: int, hours: float, next_day: bool) -> Scenario:
    s = ScenarioBuilder("many-replicas", seed, hours, nodes=12, next_day=next_day)
    shop(s, platform(s, replicas=3), replicas=8)
    return s.finish("The shop with 16-24 replicas per tier on 12 nodes.")


def _rollout(seed: int, hours: float, next_day: bool) -> Scenario:
    s = ScenarioBuilder("rollout", seed, hours, gap_minutes=15, next_day=next_day)
    shop(s, platform(s), restart_api=False)
    for workload in s.cluster.workloads():
        if workload.kind in (D, S, DS):
            s.cluster.rollout(workload, s.learning.end_ns + 30 * SECOND, 20 * SECOND)
    return s.finish(
        "The shop, with every Deployment, StatefulSet and DaemonSet rolled out between the "
        "learning and the held-out window: no pod-template-hash seen while learning survives."
    )


def _cronjobs(seed: int, hours: float, next_day: bool) -> Scenario:
    s = ScenarioBuilder("cronjobs", seed, hours, next_day=next_day)
    platform(s)
    batch(s)
    return s.finish("CronJobs every 5 minutes, hourly, nightly, weekly and monthly.")


def _cross_namespace(seed: int, hours: float, next_day: bool) -> Scenario:
    s = ScenarioBuilder("cross-namespace-monitoring", seed, hours, next_day=next_day)
    p = platform(s)
    teams(s, p)
    new_team_next_day(s, p)
    return s.finish(
        "Six team namespaces scraped by one Prometheus and calling each other; with next_day a "
        "seventh team installs its API into a new namespace, which Prometheus scrapes."
    )


def _external_ips(seed: int, hours: float, next_day: bool) -> Scenario:
    s = ScenarioBuilder("external-ips", seed, hours, next_day=next_day)
    platform(s)
    outside_heavy(s)
    return s.finish("Workers reaching ~80 outside addresses in a few /24s, with DNS names.")


def _address_pools(seed: int, hours: float, next_day: bool) -> Scenario:
    s = ScenarioBuilder("address-pools", seed, hours, next_day=next_day)
    platform(s)
    address_pools(s)
    return s.finish(
        "A payment API (api-N.payments.example.com over one /24) and a CDN over two /24s whose "
        "held-out traffic uses other addresses of the same pools."
    )


def _label_styles(seed: int, hours: float, next_day: bool) -> Scenario:
    s = ScenarioBuilder("label-styles", seed, hours, next_day=next_day)
    label_zoo(s, platform(s))
    return s.finish(
        "Apps labelled only with app.kubernetes.io/*, only with k8s-app, and pods with "
        "per-pod noise labels (rollouts-pod-template-hash, role, cnpg.io/instanceName)."
    )


def _failover(seed: int, hours: float, next_day: bool) -> Scenario:
    s = ScenarioBuilder("failover", seed, hours, gap_minutes=15, next_day=next_day)
    label_zoo(s, platform(s))
    for workload in s.cluster.workloads():
        if workload.id == "labels/ledger-db":
            s.cluster.failover(workload, s.learning.end_ns + 30 * SECOND)
    return s.finish(
        "The label styles, with the CloudNativePG-style ledger-db failing over between the "
        "learning and the held-out window: role=primary moves to another instance."
    )


def _node_autoscaling(seed: int, hours: float, next_day: bool) -> Scenario:
    s = ScenarioBuilder("node-autoscaling", seed, hours, nodes=4, next_day=next_day)
    p = platform(s)
    shop(s, p)
    node_scrapes(s, p)
    s.cluster.add_nodes(3, s.learning.end_ns + 30 * SECOND)
    return s.finish(
        "The shop with Prometheus scraping every node's kubelet and node-exporter, and the "
        "cluster autoscaler adding three nodes between the learning and the held-out window: "
        "their addresses come from elsewhere in the node subnet."
    )


def _mixed(seed: int, hours: float, next_day: bool) -> Scenario:
    s = ScenarioBuilder("mixed", seed, hours, nodes=8, next_day=next_day)
    p = platform(s, replicas=2)
    shop(s, p, replicas=2)
    teams(s, p)
    batch(s)
    outside_heavy(s)
    label_zoo(s, p)
    new_team_next_day(s, p)
    return s.finish("Everything at once: shop, teams, CronJobs, outside traffic, label styles.")


SCENARIOS: dict[str, Callable[[int, float, bool], Scenario]] = {
    "shop": _shop,
    "many-replicas": _many_replicas,
    "rollout": _rollout,
    "cronjobs": _cronjobs,
    "cross-namespace-monitoring": _cross_namespace,
    "external-ips": _external_ips,
    "address-pools": _address_pools,
    "label-styles": _label_styles,
    "failover": _failover,
    "node-autoscaling": _node_autoscaling,
    "mixed": _mixed,
}
"""Scenario name → builder taking ``(seed, hours, next_day)``."""
DEFAULT_SCENARIO = "shop"


def build_scenario(
    name: str, *, seed: int = 1, hours: float = 24.0, next_day: bool = False
) -> Scenario:
    """``name`` over ``hours``; with ``next_day``, learning covers ``hours`` and the held-out
    window is the next ``hours`` after the day-after events (see
    :meth:`ScenarioBuilder._day_after_events`)."""
    try:
        factory = SCENARIOS[name]
    except KeyError:
        raise KeyError(name) from None
    return factory(seed, hours, next_day)
