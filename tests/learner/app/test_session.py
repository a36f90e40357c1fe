from __future__ import annotations

from pathlib import Path

from collectors.hubble import file as hubble_file
from learner.app.session import LearningSession
from learner.ingest.normalize import normalize
from learner.ingest.state import StateStore, load_store
from learner.model.config import LearnConfig
from tests.hubble_server import REAL_CAPTURE

TCP = str(REAL_CAPTURE / "basic-sample-400-tcp-flows.jsonl")
DNS = str(REAL_CAPTURE / "basic-sample-330-dns-flows.jsonl")


def feed(session: LearningSession, path: str) -> None:
    flows = hubble_file.iter_flows([path], stats=session.collected)
    for flow in normalize(flows, session.config.normalize_options(), session.normalized):
        session.add(flow)


def test_sessions_accumulate_across_runs_and_save_only_changes(tmp_path: Path) -> None:
    path = str(tmp_path / "s.db")
    with StateStore(path) as state:
        first = LearningSession(state, LearnConfig())
        feed(first, TCP)
        assert first.unsaved_edges == len(first.store.edges) > 0
        first.save()
        assert first.unsaved_edges == 0
        seen_once = first.counters()["flows.seen"]
    with StateStore(path) as state:
        second = LearningSession(state, LearnConfig())
        assert second.store.edges == first.store.edges
        feed(second, DNS)
        second.save()
        counters = state.counters()
    assert counters["flows.seen"] == seen_once + second.normalized.seen
    assert counters["collector.flows"] == first.collected.flows + second.collected.flows
    assert any(name.startswith("flows.skipped:") for name in counters)
    assert load_store(path).edges == second.store.edges


def test_a_copy_is_independent_of_the_learning_store(tmp_path: Path) -> None:
    with StateStore(":memory:") as state:
        session = LearningSession(state, LearnConfig())
        feed(session, TCP)
        copy = session.store.copy()
        assert copy.edges == session.store.edges and copy.workloads == session.store.workloads
        key = next(iter(copy.edges))
        copy.edges[key].source_pods.append("another-pod")
        copy.edges[key].egress_count += 5
        assert session.store.edges[key] != copy.edges[key]
