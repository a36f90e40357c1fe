from __future__ import annotations

from learner.ingest.stability import (
    LearningStatus,
    status_counts,
    status_document,
    stream_clock,
    workload_progress,
)
from learner.model.edges import EdgeStore
from learner.model.flow import Direction, Endpoint, EndpointKind, Flow, Origin, Protocol, Verdict

WEB = Endpoint(EndpointKind.POD, "shop", (("app", "web"),), pod="web-7d9f8b6c5d-abcde")
API = Endpoint(EndpointKind.POD, "shop", (("app", "api"),), pod="api-1")
DB = Endpoint(EndpointKind.POD, "data", (("app", "db"),), pod="db-0")


def flow(time: float, source: Endpoint, destination: Endpoint, port: int) -> Flow:
    return Flow(
        time, source, destination, Protocol.TCP, port, Verdict.FORWARDED, Direction.EGRESS,
        False, Origin("t"),
    )  # fmt: skip


def statuses(store: EdgeStore, now: float) -> dict[str, LearningStatus]:
    progress = workload_progress(store, now=now, learning_window=600, stabilization_period=3600)
    return {p.identity.key: p.status for p in progress}


def test_quiet_time_moves_workloads_from_learning_to_stable() -> None:
    store = EdgeStore()
    store.add(flow(0, WEB, API, 8080))
    store.add(flow(3000, API, DB, 5432))
    store.add(flow(4000, WEB, API, 8080))  # the same edge again: nothing new for web
    assert stream_clock(store) == 4000
    found = statuses(store, now=4000)
    assert found == {
        "pod:shop/app=web": LearningStatus.STABLE,  # last new edge at 0, 4000 s quiet
        "pod:shop/app=api": LearningStatus.STABILIZING,  # new edge at 3000: 1000 s quiet
        "pod:data/app=db": LearningStatus.STABILIZING,
    }
    store.add(flow(4100, API, DB, 5433))  # a new edge: back to learning
    assert statuses(store, now=4100)["pod:shop/app=api"] is LearningStatus.LEARNING
    assert statuses(store, now=4100)["pod:shop/app=web"] is LearningStatus.STABLE


def test_status_document_lists_every_workload_with_counts() -> None:
    store = EdgeStore()
    store.add(flow(100, WEB, API, 8080))
    progress = workload_progress(store, now=100, learning_window=600, stabilization_period=3600)
    assert status_counts(progress) == {
        LearningStatus.LEARNING: 2, LearningStatus.STABILIZING: 0, LearningStatus.STABLE: 0,
    }  # fmt: skip
    document = status_document(progress, now=100, learning_window=600, stabilization_period=3600)
    assert document["counts"] == {"Learning": 2, "Stabilizing": 0, "Stable": 0}
    web = next(w for w in document["workloads"] if w["workload"] == "pod:shop/app=web")
    assert web == {
        "workload": "pod:shop/app=web",
        "namespace": "shop",
        "name": "web",
        "status": "Learning",
        "edges": 1,
        "last_new_edge": "1970-01-01T00:01:40Z",
        "stable_at": "1970-01-01T01:01:40Z",
    }
