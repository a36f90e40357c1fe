from __future__ import annotations

from learner.app.pipeline import CONTESTED_REASON, build_proposal, ingest, new_store
from learner.model.config import LearnConfig
from learner.model.flow import Direction, Verdict
from learner.model.run_stats import NormalizeStats
from tests.flowbuild import flow, pod

WEB = pod("shop", "web-1", app="web")
DB = pod("shop", "db-1", app="db")


def denied_at_destination(config: LearnConfig):
    flows = [
        flow(WEB, DB, 5432, direction=Direction.EGRESS),
        flow(WEB, DB, 5432, direction=Direction.INGRESS, verdict=Verdict.DROPPED),
        flow(DB, WEB, 80, direction=Direction.EGRESS),
        flow(DB, WEB, 80, direction=Direction.INGRESS),
    ]
    store = new_store(config)
    ingest(flows, store, config, NormalizeStats())
    return build_proposal(store, None, config), store


def rule_ports(proposal) -> set[int]:
    return {
        spec.port
        for policy in proposal.policies
        for rule in (*(policy.ingress or ()), *(policy.egress or ()))
        for spec in rule.ports
        if spec.port != 53
    }


def test_a_connection_dropped_where_it_arrives_is_pending_not_allowed() -> None:
    proposal, store = denied_at_destination(LearnConfig())
    assert rule_ports(proposal) == {80}
    (pending,) = proposal.pending
    assert pending.reason == CONTESTED_REASON and pending.edge.port == 5432
    assert len(store.edges) == 2, "the store keeps what it learned"


def test_include_dropped_learns_it() -> None:
    proposal, _ = denied_at_destination(LearnConfig(include_dropped=True))
    assert rule_ports(proposal) == {80, 5432}
    assert proposal.pending == ()
