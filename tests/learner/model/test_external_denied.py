"""The peer cap bounds dropped flows too: ``EdgeStore.denied`` folds like allowed edges."""

from __future__ import annotations

from pathlib import Path

from learner.app.pipeline import build_proposal
from learner.app.session import LearningSession
from learner.ingest.state import StateStore, load_store
from learner.model.config import LearnConfig
from learner.model.edges import EdgeStore
from learner.model.external import PeerCap
from learner.model.flow import Verdict
from tests.flowbuild import flow, world
from tests.learner.model.test_external import CLIENT, addresses


def denied_store(cap: int, peers: list[str], port: int = 443) -> EdgeStore:
    store = EdgeStore(peer_cap=PeerCap(cap, ()))
    for i, address in enumerate(peers):
        dropped = flow(CLIENT, world(address), port, time=1_700_000_000.0 + i)
        store.note_denied(dropped)
    return store


def denied_outside(store: EdgeStore) -> dict[str, int]:
    return {key.destination.address: count for key, count in sorted(store.denied.items())}


def test_distinct_dropped_peers_beyond_the_cap_stay_bounded() -> None:
    store = denied_store(100, addresses(5000))
    assert len(store.denied) <= 100
    assert sum(store.denied.values()) == 5000  # every dropped flow still counted
    assert list(denied_outside(store))[:2] == ["11.0.0.0/24", "11.0.1.0/24"]


def test_below_the_cap_dropped_peers_stay_exact() -> None:
    store = denied_store(100, addresses(100))
    assert sorted(denied_outside(store)) == sorted(addresses(100))


def test_denied_merges_fold_the_same_whatever_the_order() -> None:
    peers = addresses(900)
    whole = denied_store(500, peers)
    left, right = denied_store(500, peers[:450]), denied_store(500, peers[450:])
    for parts in ((left, right), (right, left)):
        merged = EdgeStore(peer_cap=PeerCap(500, ()))
        for part in parts:
            merged.merge(part)
        assert denied_outside(merged) == denied_outside(whole)
    assert len(whole.denied) == 4  # four /24s


def test_a_state_reload_folds_denied_to_the_cap(tmp_path: Path) -> None:
    unbounded = EdgeStore()
    for address in addresses(300):
        unbounded.note_denied(flow(CLIENT, world(address), 443, verdict=Verdict.DROPPED))
    path = str(tmp_path / "state.db")
    with StateStore(path) as state:
        state.save(unbounded)
    reloaded = load_store(path, peer_cap=PeerCap(100, ()))
    assert denied_outside(reloaded) == {"11.0.0.0/24": 256, "11.0.1.0/24": 44}


def test_a_session_replaces_folded_denied_rows_in_the_state(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    config = LearnConfig(max_external_peers=100)
    with StateStore(path) as state:
        session = LearningSession(state, config)
        for address in addresses(300):
            session.note_denied(flow(CLIENT, world(address), 443, verdict=Verdict.DROPPED))
        session.save()
    with StateStore(path, create=False) as state:
        rows = state._db.execute("SELECT destination, count FROM denied").fetchall()
    assert len(rows) == 2
    assert sum(int(row["count"]) for row in rows) == 300


def test_the_proposal_says_what_was_folded_and_keeps_allowed_edges_inside_it() -> None:
    """Drops to other addresses that folded into the same block are no refusal of an allowed
    edge to the outside: it stays allowed (holding it back once emptied a workload's egress)."""
    store = denied_store(10, addresses(50))  # folded into 11.0.0.0/24
    store.add(flow(CLIENT, world("11.0.0.3"), 443))  # allowed where it left
    proposal = build_proposal(store, None, LearnConfig(max_external_peers=10))
    assert any(
        "more than 10 distinct addresses folded into 11.0.0.0/24" in warning
        and "dropped flows" in warning
        for warning in proposal.warnings
    ), proposal.warnings
    assert proposal.pending == ()
    (policy,) = proposal.policies
    assert any("11.0.0.3/32" in p.key for r in policy.egress or () for p in r.peers)


def test_drops_folded_into_any_public_address_keep_an_unrelated_allowed_edge() -> None:
    """The review's case: drops to five /24s fold to the class at cap 3; the allowed 1.1.1.1
    edge (never dropped) must still be allowed."""
    store = denied_store(3, [f"20.{i}.7.9" for i in range(5)])
    store.add(flow(CLIENT, world("1.1.1.1"), 443))
    proposal = build_proposal(store, None, LearnConfig(max_external_peers=3))
    assert proposal.pending == ()
    (policy,) = proposal.policies
    assert any("1.1.1.1/32" in p.key for r in policy.egress or () for p in r.peers)
