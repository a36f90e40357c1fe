"""LiveLearner in-process, against a real HubbleStream and in-process gRPC server."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from collectors.hubble import file as hubble_file
from collectors.hubble import grpc as grpc_collector
from collectors.hubble.grpc import FlowQuery, HubbleStream
from collectors.stream_options import ReconnectPolicy, ServerOptions
from learner.app.live import LiveLearner, LiveSettings
from learner.app.pipeline import new_store
from learner.app.session import LearningSession
from learner.ingest.normalize import normalize
from learner.ingest.state import StateStore, load_store
from learner.model import repeats as repeats_module
from learner.model.config import LearnConfig
from learner.model.run_stats import CollectorStats, NormalizeStats
from tests.hubble_server import REAL_CAPTURE, HubbleTestServer, RecordedObserver, load_responses

TCP = REAL_CAPTURE / "basic-sample-400-tcp-flows.jsonl"


def wait_until(check: Callable[[], object], timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


@contextmanager
def running_learner(
    tmp_path: Path, output: Path, config: LearnConfig | None = None
) -> Iterator[LiveLearner]:
    """A LiveLearner running in a thread until the block ends, having read every flow."""
    responses = load_responses([TCP])
    with (
        HubbleTestServer(RecordedObserver(responses)) as server,
        StateStore(str(tmp_path / "state.db")) as state,
    ):
        session = LearningSession(state, config or LearnConfig(learner="baseline"))
        stream = HubbleStream(
            ServerOptions(server=server.address),
            FlowQuery(follow=True),
            reconnect=ReconnectPolicy(initial_backoff=0.05),
            stats=session.collected,
        )
        settings = LiveSettings(
            output=str(output), collector="test", interval=0.1, save_interval=0.05
        )
        learner = LiveLearner(session, stream, settings)
        thread = threading.Thread(target=learner.run)
        thread.start()
        try:
            assert wait_until(lambda: session.collected.flows == len(responses))
            yield learner
        finally:
            learner.stop()
            thread.join(10)
        assert not thread.is_alive()


def test_learns_saves_and_writes_a_proposal_until_stopped(tmp_path: Path) -> None:
    output, report = tmp_path / "proposal", tmp_path / "proposal-report"
    with running_learner(tmp_path, output) as learner:
        assert wait_until(lambda: (report / "status.json").exists() and learner.policies > 0)
        assert learner.healthy() and learner.ready()
    assert not learner.ready()
    saved = load_store(str(tmp_path / "state.db"))
    assert saved.edges.keys() == learner.session.store.edges.keys()
    status = json.loads((report / "status.json").read_text())
    assert status["edges"] > 0


def test_an_unwritable_output_keeps_learning_and_logs_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    output = tmp_path / "not-ours"
    output.mkdir()
    (output / "precious.txt").write_text("someone else's file")
    with (
        caplog.at_level(logging.ERROR, logger="learner.app.live"),
        running_learner(tmp_path, output) as learner,
    ):
        assert wait_until(lambda: "could not write the proposal" in caplog.text)
        assert learner.healthy()
    assert (output / "precious.txt").read_text() == "someone else's file"
    assert load_store(str(tmp_path / "state.db")).edges


def test_a_proposal_of_no_policy_keeps_the_last_good_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    output = tmp_path / "proposal"
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    with running_learner(tmp_path / "first", output) as learner:
        assert wait_until(lambda: learner.policies > 0)
    before = {p: p.read_bytes() for p in output.rglob("*") if p.is_file()}
    nowhere = LearnConfig(learner="baseline", namespaces=("nowhere",))
    with (
        caplog.at_level(logging.ERROR, logger="learner.app.live"),
        running_learner(tmp_path / "second", output, nowhere),
    ):
        assert wait_until(lambda: "keeping the last good proposal" in caplog.text)
    assert {p: p.read_bytes() for p in output.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("peer_cap", [5000, 1], ids=["", "peer cap 1"])
@pytest.mark.parametrize("small_tables", [False, True], ids=["", "small tables"])
@pytest.mark.parametrize("wire_key", [True, False], ids=["wire key", "python key"])
def test_repeats_tallied_from_the_stream_save_what_each_flow_alone_would(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    wire_key: bool,
    small_tables: bool,
    peer_cap: int,
) -> None:
    """Flows repeating an earlier one in all but time are tallied by the stream, not mapped:
    the saved edges (counts, first and last seen) and counters must be those of adding every
    flow one by one, as the file path does; whether repeats are keyed off their wire bytes
    (collectors/hubble/wire_key.py) or decoded and keyed in Python. The capture is streamed
    twice, so that keys are seen again, world peers among them; with a cap of one outside
    peer, their edges fold while their repeats are being tallied."""
    if wire_key and not grpc_collector.WIRE_KEY_BUILT:
        pytest.skip("the wire key was not built (no C compiler)")
    monkeypatch.setattr(grpc_collector, "WIRE_KEY_BUILT", wire_key)
    if small_tables:  # keys and aliases forgotten and found again all along
        monkeypatch.setattr(repeats_module, "ENTRY_LIMIT", 7)
        monkeypatch.setattr(repeats_module, "ALIAS_LIMIT", 5)
    responses = load_responses(sorted(REAL_CAPTURE.glob("basic-sample-*.jsonl"))) * 2
    config = LearnConfig(learner="baseline", max_external_peers=peer_cap)
    expected = new_store(config)
    expected_stats = NormalizeStats()
    for path in sorted(REAL_CAPTURE.glob("basic-sample-*.jsonl")) * 2:
        for flow in normalize(
            hubble_file.iter_flows([str(path)], stats=CollectorStats()),
            config.normalize_options(),
            expected_stats,
            on_denied=expected.note_denied,
            on_answer=expected.note_answers,
        ):
            expected.add(flow)
    with (
        HubbleTestServer(RecordedObserver(responses)) as server,
        StateStore(str(tmp_path / "state.db")) as state,
    ):
        session = LearningSession(state, config)
        stream = HubbleStream(
            ServerOptions(server=server.address), FlowQuery(follow=False), stats=session.collected
        )
        learner = LiveLearner(
            session, stream, LiveSettings(output=str(tmp_path / "out"), collector="test")
        )
        learner.run()
        assert learner.repeats is not None
        assert learner.repeats.tallied > len(responses) // (8 if small_tables else 2)
        assert bool(learner.repeats.aliases) == wire_key
        # Decided tallies keep what applying them needs, not their first flow (memory).
        assert all(tally.flow is None for tally in learner.repeats.entries.values())
        counters = state.counters()
    saved = load_store(str(tmp_path / "state.db"))
    assert any(stats.folded for stats in expected.edges.values()) == (peer_cap == 1)
    assert sorted(saved.edges) == sorted(expected.edges)
    for key, stats in expected.edges.items():
        assert saved.edges[key] == stats, key
    assert saved.dns_answers == expected.dns_answers
    assert counters["flows.seen"] == expected_stats.seen == len(responses)
    assert counters["flows.included"] == expected_stats.included
    for reason, count in expected_stats.skipped.items():
        assert counters[f"flows.skipped:{reason.name.lower()}"] == count
