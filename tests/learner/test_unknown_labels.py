"""Pods seen without labels (real captures show pods behind the L7 proxy that way)."""

from __future__ import annotations

from learner.infer.least_privilege import PolicyLearner
from learner.model.edges import EdgeStore
from learner.model.policy import PodPeer
from tests.flowbuild import flow, pod


def fitted() -> PolicyLearner:
    store = EdgeStore()
    client = pod("shop", "web-1", app="web")
    bare = pod("shop", "mystery-1", ip="10.0.0.9")
    store.add(flow(client, bare, 9080))
    store.add(flow(client, pod("shop", "api-1", app="api"), 8080))
    store.add(flow(pod("shop", "db-1", app="db"), client, 80))
    return PolicyLearner().fit(store)


def test_the_peer_is_its_whole_namespace_never_a_guessed_selector() -> None:
    proposal = fitted().proposal_
    web = next(p for p in proposal.policies if p.subject.match_labels == (("app", "web"),))
    rule = next(r for r in web.egress or () if any(p.port == 9080 for p in r.ports))
    (peer,) = rule.peers
    assert isinstance(peer, PodPeer) and peer.namespaces is None  # the policy's own namespace
    assert peer.pods is None or peer.pods.is_empty  # every pod in it
    assert rule.admits  # the widening is stated


def test_no_policy_pretends_to_select_it_and_no_default_deny_cuts_it_off() -> None:
    proposal = fitted().proposal_
    assert all(p.subject.match_labels or p.subject.match_expressions for p in proposal.policies)
    assert all(
        e.operator != "DoesNotExist" for p in proposal.policies for e in p.subject.match_expressions
    )
    assert "shop" not in proposal.namespaces
    assert any("without labels" in w for w in proposal.warnings)
