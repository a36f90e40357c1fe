"""learn's git loop end to end: a real Hubble stream in, a real git daemon out."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from collectors.hubble.grpc import FlowQuery, HubbleStream
from collectors.stream_options import ReconnectPolicy, ServerOptions
from learner.app.git_loop import ProposalPublishing
from learner.app.git_publish import GitPublisher, GitTarget
from learner.app.live import LiveLearner, LiveSettings
from learner.app.metrics import registry_for
from learner.app.session import LearningSession
from learner.cli.learn import metrics_reader
from learner.ingest.state import StateStore
from learner.model.config import LearnConfig
from tests.git_server import GitServer, free_port, git
from tests.hubble_server import HubbleTestServer, RecordedObserver, load_responses
from tests.learner.app.test_live import TCP, wait_until


@contextmanager
def learning_into_git(
    tmp_path: Path, repo: str, *, stabilization: float
) -> Iterator[tuple[LiveLearner, Path]]:
    responses = load_responses([TCP])
    output = tmp_path / "proposal"
    with (
        HubbleTestServer(RecordedObserver(responses)) as server,
        StateStore(str(tmp_path / "state.db")) as state,
    ):
        session = LearningSession(state, LearnConfig(learner="baseline"))
        stream = HubbleStream(
            ServerOptions(server=server.address),
            FlowQuery(follow=True),
            reconnect=ReconnectPolicy(initial_backoff=0.05),
            stats=session.collected,
        )
        target = GitTarget(
            repo=repo, branch="proposal", workdir=str(tmp_path / "clone"), path="learned",
            timeout=20,
        )  # fmt: skip
        settings = LiveSettings(
            output=str(output), collector="test", interval=0.2, save_interval=0.05,
            stabilization_period=stabilization,
        )  # fmt: skip
        publishing = ProposalPublishing(GitPublisher(target), state)
        learner = LiveLearner(session, stream, settings, publishing=publishing)
        learner.metrics = registry_for(metrics_reader(learner, stream))  # type: ignore[attr-defined]
        thread = threading.Thread(target=learner.run)
        thread.start()
        try:
            assert wait_until(lambda: session.collected.flows == len(responses))
            yield learner, output
        finally:
            learner.stop()
            thread.join(20)
        assert not thread.is_alive()


def git_status(output: Path) -> dict[str, str]:
    path = output / "status.json"
    if not path.exists():
        return {}
    document: dict[str, dict[str, str]] = json.loads(path.read_text())
    return document.get("git", {})


def test_a_stable_proposal_is_pushed_and_status_says_so(tmp_path: Path) -> None:
    base = tmp_path / "served"
    base.mkdir()
    with GitServer(base) as server:
        server.bare("cluster", seed={"README.md": "x\n"})
        with learning_into_git(tmp_path, server.url("cluster"), stabilization=0) as (learner, out):
            assert wait_until(lambda: git_status(out).get("result") == "pushed")
            metrics = generate_latest(learner.metrics).decode()  # type: ignore[attr-defined]
        heads = git("ls-remote", "--heads", server.url("cluster"))
        commit = git_status(out)["commit"]
    assert f"{commit}\trefs/heads/proposal" in heads
    assert 'netpol_learner_git_publications_total{result="pushed"} 1.0' in metrics


def test_changed_workloads_that_are_not_stable_hold_the_push(tmp_path: Path) -> None:
    base = tmp_path / "served"
    base.mkdir()
    with GitServer(base) as server:
        server.bare("cluster", seed={"README.md": "x\n"})
        with learning_into_git(tmp_path, server.url("cluster"), stabilization=3600) as (_, out):
            assert wait_until(lambda: git_status(out).get("result") == "waiting")
            assert "not Stable yet" in git_status(out)["detail"]
        assert "proposal" not in git("ls-remote", "--heads", server.url("cluster"))


def test_an_unreachable_remote_keeps_learning_and_reports_it_everywhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    closed = f"git://127.0.0.1:{free_port()}/cluster.git"
    with (
        caplog.at_level(logging.ERROR, logger="learner.app.git_loop"),
        learning_into_git(tmp_path, closed, stabilization=0) as (learner, out),
    ):
        assert wait_until(lambda: git_status(out).get("result") == "failed")
        assert wait_until(lambda: learner.publishing and learner.publishing.outcomes["failed"] >= 2)
        assert learner.healthy() and learner.policies > 0
        metrics = generate_latest(learner.metrics).decode()  # type: ignore[attr-defined]
    assert f"could not publish the proposal to {closed}" in caplog.text
    assert "git fetch failed" in git_status(out)["detail"]
    assert 'netpol_learner_git_publications_total{result="failed"}' in metrics
    assert (out / "kustomization.yaml").exists()  # the proposal itself is still written
