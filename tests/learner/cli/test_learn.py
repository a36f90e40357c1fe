"""``learn`` as users run it: a real subprocess streaming from a real in-process gRPC server."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from collectors._proto.observer import observer_pb2
from collectors.hubble.grpc import FlowQuery, HubbleStream
from collectors.stream_options import ReconnectPolicy, ServerOptions
from learner.ingest.normalize import normalize
from learner.ingest.state import StateStore, load_store
from learner.model.config import NormalizeOptions
from learner.model.edges import EdgeStore
from learner.model.run_stats import NormalizeStats
from tests.hubble_server import REAL_CAPTURE, HubbleTestServer, RecordedObserver, load_responses

REPO = Path(__file__).resolve().parents[3]
FAST_FLAGS = [
    "--interval", "0.3s", "--save-interval", "0.1s", "--reconnect-backoff", "0.05s",
    "--reconnect-backoff-max", "0.2s", "--timeout", "2s", "--learner", "baseline",
]  # fmt: skip


@pytest.fixture(scope="module")
def responses() -> list[observer_pb2.GetFlowsResponse]:
    return load_responses(sorted(REAL_CAPTURE.glob("basic-sample-*.jsonl")))


@pytest.fixture(scope="module")
def reference(responses: list[observer_pb2.GetFlowsResponse]) -> EdgeStore:
    """What an uninterrupted stream of every flow aggregates to."""
    with HubbleTestServer(RecordedObserver(responses)) as server:
        stream = HubbleStream(
            ServerOptions(server=server.address),
            FlowQuery(follow=False),
            reconnect=ReconnectPolicy(initial_backoff=0.05),
        )
        store = EdgeStore()
        for flow in normalize(stream.flows(), NormalizeOptions(), NormalizeStats()):
            store.add(flow)
    return store


class Learner:
    """A ``netpol-learner learn`` subprocess and what it printed."""

    def __init__(self, server: str, state: Path, output: Path, *extra: str) -> None:
        self.stderr_lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "learner.cli", "learn", "--server", server,
             "--state", str(state), "--output-dir", str(output), *FAST_FLAGS, *extra],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr_lines.append(line)

    def wait_for_log(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        found = wait_until(
            lambda: next(
                (m for line in list(self.stderr_lines) if (m := re.search(pattern, line))), None
            ),
            timeout,
        )
        assert found, f"no log line matching {pattern!r} in:\n{''.join(self.stderr_lines)}"
        return found

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.process.send_signal(sig)
        code = self.process.wait(timeout=20)
        self._reader.join(5)
        return code


def wait_until(check: Callable[[], object], timeout: float = 20) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    return None


def saved_position_ns(state: Path) -> int:
    if not state.exists():
        return -1
    try:
        with sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=5) as db:
            row = db.execute("SELECT max(time_ns) FROM positions").fetchone()
    except sqlite3.OperationalError:
        return -1
    return int(row[0]) if row and row[0] is not None else -1


def same_edges(left: EdgeStore, right: EdgeStore) -> None:
    assert sorted(left.edges) == sorted(right.edges)
    for key, stats in left.edges.items():
        other = right.edges[key]
        assert (stats.count, stats.first_seen, stats.last_seen) == (
            other.count, other.first_seen, other.last_seen,
        ), key  # fmt: skip


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def server(responses: list[observer_pb2.GetFlowsResponse]) -> Iterator[HubbleTestServer]:
    with HubbleTestServer(RecordedObserver(responses)) as running:
        yield running


def test_learns_serves_metrics_writes_a_proposal_and_stops_on_sigterm(
    tmp_path: Path, server: HubbleTestServer, reference: EdgeStore
) -> None:
    state, output = tmp_path / "state.db", tmp_path / "proposal"
    learner = Learner(
        server.address, state, output, "--metrics-addr", "127.0.0.1:0", "--log-format", "json"
    )
    try:
        port = int(learner.wait_for_log(r'"metrics_port": (\d+)').group(1))
        base = f"http://127.0.0.1:{port}"
        assert wait_until(lambda: http_get(base + "/readyz")[0] == 200)
        assert http_get(base + "/healthz") == (200, "ok\n")
        last = server.observer.responses[-1].flow.time
        assert wait_until(
            lambda: saved_position_ns(state) == last.seconds * 1_000_000_000 + last.nanos
        )
        # A proposal written after the last flow arrived counts Stable workloads.
        stable = r'netpol_learner_workloads\{status="Stable"\} [1-9]'
        assert wait_until(lambda: re.search(stable, http_get(base + "/metrics")[1]))
        _, metrics = http_get(base + "/metrics")
        assert "netpol_learner_flows_received_total 1896.0" in metrics
        assert re.search(r'netpol_learner_flows_skipped_total\{reason="reply"\} [1-9]', metrics)
        assert "netpol_learner_source_connected 1.0" in metrics
    finally:
        code = learner.stop(signal.SIGTERM)
    assert code == 0, "".join(learner.stderr_lines)
    for line in learner.stderr_lines:
        entry = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(entry)
    report = output.parent / f"{output.name}-report"
    status = json.loads((report / "status.json").read_text())
    assert sum(status["counts"].values()) == len(status["workloads"]) > 0
    assert (report / "report.md").exists()
    assert not (output / "report.md").exists()
    assert any(path.suffix == ".yaml" for path in output.rglob("*.yaml"))
    same_edges(load_store(str(state)), reference)
    with StateStore(str(state), create=False) as saved:
        assert saved.statuses()
        assert saved.counters()["collector.flows"] == 1896


def test_sigkill_mid_stream_leaves_a_sound_store_and_learning_resumes_exactly(
    tmp_path: Path, responses: list[observer_pb2.GetFlowsResponse], reference: EdgeStore
) -> None:
    observer = RecordedObserver(responses, stop_after=1200)
    state, output = tmp_path / "state.db", tmp_path / "proposal"
    with HubbleTestServer(observer) as server:
        first = Learner(server.address, state, output)
        assert observer.paused.wait(20)
        assert wait_until(lambda: saved_position_ns(state) > 0)
        first.process.kill()  # SIGKILL: no chance to save
        first.process.wait(timeout=20)
        with StateStore(str(state), create=False) as crashed:
            assert crashed.integrity_check() == "ok"
            position = crashed.position(f"hubble:{server.address}")
            assert position is not None
            assert 0 < crashed.edge_count() <= len(reference.edges)
        observer.stop_after = None
        second = Learner(server.address, state, output)
        try:
            second.wait_for_log("resuming")
            assert wait_until(lambda: observer.sent >= len(responses) + 1)
            last = responses[-1].flow.time
            assert wait_until(
                lambda: saved_position_ns(state) == last.seconds * 1_000_000_000 + last.nanos
            )
        finally:
            assert second.stop(signal.SIGINT) == 130
    resumed = observer.requests[-1]
    assert resumed.HasField("since")
    assert resumed.since.seconds * 1_000_000_000 + resumed.since.nanos == position.time_ns
    same_edges(load_store(str(state)), reference)


def test_an_unreachable_server_is_exit_status_3_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "learner.cli", "learn", "--server", "127.0.0.1:1",
         "--state", str(tmp_path / "s.db"), "--output-dir", str(tmp_path / "out"),
         "--max-reconnects", "1", "--reconnect-backoff", "0.01s"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 3
    assert re.search(
        r"^netpol-learner: error: 127\.0\.0\.1:1: UNAVAILABLE: .*gave up after 1 attempts\)$",
        result.stderr,
        re.MULTILINE,
    ), result.stderr
    assert "Traceback" not in result.stderr


def test_progress_of_a_stream_is_a_count_and_rate_in_the_log_format(
    tmp_path: Path, server: HubbleTestServer
) -> None:
    state, output = tmp_path / "state.db", tmp_path / "proposal"
    learner = Learner(
        server.address, state, output, "--log-format", "json", "--progress-interval", "0"
    )
    try:
        # A stream has no size: no percentage, but how many flows and how fast.
        learner.wait_for_log(r'"message": "learning: 1,[5-9]\d\d flows in \S+ \([\d,]+/s\)"')
    finally:
        code = learner.stop(signal.SIGTERM)
    assert code == 0, "".join(learner.stderr_lines)
    counts = []
    for line in learner.stderr_lines:
        entry = json.loads(line)  # progress does not break one JSON object per line
        if found := re.match(r"learning: ([\d,]+) flows", entry["message"]):
            counts.append(int(found.group(1).replace(",", "")))
    assert len(counts) >= 2 and counts == sorted(counts)
    assert "%" not in "".join(learner.stderr_lines)
