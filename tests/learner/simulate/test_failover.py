"""The failover scenario: role=primary moves to another instance between the two windows."""

from __future__ import annotations

from learner.simulate.scenario import build_scenario


def primary_at(time_ns: int) -> set[str]:
    scenario = build_scenario("failover", hours=2.0)
    return {
        pod.name
        for pod in scenario.cluster.pods
        if pod.workload.id == "labels/ledger-db"
        and pod.alive(time_ns)
        and dict(pod.labels).get("role") == "primary"
    }


def test_the_primary_moves_between_learning_and_held_out() -> None:
    scenario = build_scenario("failover", hours=2.0)
    before = primary_at(scenario.learning.end_ns - 1)
    after = primary_at(scenario.held_out.start_ns + 1)
    assert len(before) == len(after) == 1
    assert before != after


def test_every_instance_lives_on_through_the_failover() -> None:
    scenario = build_scenario("failover", hours=2.0)
    names = {
        at: {
            p.name
            for p in scenario.cluster.pods
            if p.workload.id == "labels/ledger-db" and p.alive(at)
        }
        for at in (scenario.learning.end_ns - 1, scenario.held_out.start_ns + 1)
    }
    assert len(set(map(frozenset, names.values()))) == 1
    assert len(names[scenario.held_out.start_ns + 1]) == 3
