from __future__ import annotations

from learner.model.edges import EdgeStore
from learner.model.flow import Direction
from learner.model.identity import IdentityResolver, workload_name_from_pod
from tests.flowbuild import flow, pod, world


def test_volatile_labels_do_not_split_workloads() -> None:
    store = EdgeStore()
    a = pod("shop", "web-7d4b9c8f6d-x2kqp", app="web", extra={"pod-template-hash": "7d4b9c8f6d"})
    b = pod("shop", "web-5f6c7d8e9f-abcde", app="web", extra={"pod-template-hash": "5f6c7d8e9f"})
    db = pod("shop", "db-0", app="db", extra={"statefulset.kubernetes.io/pod-name": "db-0"})
    store.add(flow(a, db, 5432))
    store.add(flow(b, db, 5432))
    assert len(store.edges) == 1
    (key,) = store.edges
    assert key.source.labels == (("app", "web"),)
    assert key.destination.labels == (("app", "db"),)
    assert store.workloads[key.source].name == "web"


def test_both_observation_points_count_once() -> None:
    store = EdgeStore()
    a, b = pod("x", "a-1", app="a"), pod("x", "b-1", app="b")
    for _ in range(3):
        store.add(flow(a, b, 80, direction=Direction.EGRESS))
        store.add(flow(a, b, 80, direction=Direction.INGRESS))
    (stats,) = store.edges.values()
    assert stats.count == 3


def test_only_one_end_observed_still_counts() -> None:
    store = EdgeStore()
    store.add(flow(pod("x", "a-1", app="a"), world("1.2.3.4"), 443, direction=Direction.EGRESS))
    store.add(flow(pod("x", "a-1", app="a"), world("1.2.3.4"), 443, direction=Direction.EGRESS))
    (stats,) = store.edges.values()
    assert stats.count == 2


def test_first_and_last_seen() -> None:
    store = EdgeStore()
    a, b = pod("x", "a-1", app="a"), pod("x", "b-1", app="b")
    for t in (50.0, 10.0, 30.0, 90.0):
        store.add(flow(a, b, 80, time=t))
    (stats,) = store.edges.values()
    assert (stats.first_seen, stats.last_seen) == (10.0, 90.0)


def test_user_ignored_labels_and_prefixes() -> None:
    resolver = IdentityResolver(["team", "example.com/*"])
    endpoint = pod("x", "a-1", app="a", team="t", extra={"example.com/build": "42"})
    assert resolver.resolve(endpoint).labels == (("app", "a"),)


def test_unlabelled_pod_is_resolved_by_pod_name() -> None:
    store = EdgeStore()
    labelled = pod("x", "api-7d4b9c8f6d-x2kqp", ip="10.0.0.5", app="api")
    bare = pod("x", "api-7d4b9c8f6d-x2kqp", ip="10.0.0.5")
    client = pod("x", "web-1", app="web")
    store.add(flow(client, labelled, 80))
    store.add(flow(client, bare, 8080))
    assert store.resolve_unlabelled() == 1
    assert {k.destination.labels for k in store.edges} == {(("app", "api"),)}


def test_merge_of_two_stores_equals_one_store() -> None:
    a, b = pod("x", "a-1", app="a"), pod("x", "b-1", app="b")
    flows = [flow(a, b, 80, time=float(t)) for t in range(10)]
    whole, left, right = EdgeStore(), EdgeStore(), EdgeStore()
    for f in flows:
        whole.add(f)
    for f in flows[:4]:
        left.add(f)
    for f in flows[4:]:
        right.add(f)
    left.merge(right)
    assert {k: (s.count, s.first_seen, s.last_seen) for k, s in left.edges.items()} == {
        k: (s.count, s.first_seen, s.last_seen) for k, s in whole.edges.items()
    }


def test_workload_names_from_pods() -> None:
    assert workload_name_from_pod("web-7d4b9c8f6d-x2kqp") == "web"
    assert workload_name_from_pod("db-0") == "db"
    assert workload_name_from_pod("backup-28291234-abcde") == "backup"
    assert workload_name_from_pod("agent-x2kqp") == "agent"
    assert workload_name_from_pod("standalone") == "standalone"


def test_dns_answers_over_the_cap_keep_the_lowest_whatever_the_merge_order() -> None:
    from learner.model.edges import DNS_ANSWERS_PER_NAME_LIMIT

    answers = [f"11.0.{i // 256}.{i % 256}" for i in range(3 * DNS_ANSWERS_PER_NAME_LIMIT)]
    first, second = EdgeStore(), EdgeStore()
    first.add_answers("api.example.com", answers[::2])
    second.add_answers("api.example.com", answers[1::2])
    one_way, other_way = EdgeStore(), EdgeStore()
    one_way.merge(first)
    one_way.merge(second)
    other_way.merge(second)
    other_way.merge(first)
    assert one_way.dns_answers == other_way.dns_answers
    assert one_way.dns_answers["api.example.com"] == set(answers[:DNS_ANSWERS_PER_NAME_LIMIT])
