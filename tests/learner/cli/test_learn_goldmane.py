"""``learn --source goldmane`` as users run it: a real subprocess streaming from a real
in-process Goldmane server over mutual TLS."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collectors._proto.goldmane import api_pb2
from collectors.calico.goldmane import AGGREGATION_INTERVAL, GoldmaneQuery, GoldmaneStream
from collectors.live_sources import LIVE_SOURCES
from collectors.stream_options import LiveRequest, ServerOptions
from learner.app.selfcheck import documents_from_files
from learner.cli.learn import StreamSettings, stream_settings_from_args
from learner.cli.program import build_parser
from learner.ingest.normalize import normalize
from learner.ingest.state import StateStore, load_store
from learner.model.config import NormalizeOptions
from learner.model.edges import EdgeStore
from learner.model.flow import EndpointKind, Protocol
from learner.model.run_stats import CollectorStats, NormalizeStats
from learner.semantics import Traffic, TrafficPeer, compile_policies
from tests.collectors.calico.test_goldmane import SERVER_NAME, FlowsServer, Running, write_pki
from tests.learner.cli.test_learn import Learner, http_get, same_edges, wait_until

T0 = 1767225600
WINDOWS = 4
RESUMED_AFTER = 2
"""The first learner of the restart test sees this many windows before it is killed."""

WORKLOADS: dict[str, tuple[str, list[str]]] = {
    "web": ("web-7c9d8f5b4d-*", ["app=web", "pod-template-hash=7c9d8f5b4d"]),
    "api": ("api-6b4f9c7d8b-*", ["app=api", "pod-template-hash=6b4f9c7d8b"]),
    "db": ("db-*", ["app=db", "statefulset.kubernetes.io/pod-name=db-0"]),
    "netshoot": ("netshoot", ["run=netshoot"]),
}
CONNECTIONS = (("web", "api", 8080), ("api", "db", 5432))
"""Allowed, each reported by both ends in every window."""
PROBE = ("netshoot", "db", 5432)
"""Denied at db, in the second window only."""


def result(
    start: int, source: str, destination: str, port: int, reporter: str, action: str, started: int
) -> api_pb2.FlowResult:
    source_name, source_labels = WORKLOADS[source]
    dest_name, dest_labels = WORKLOADS[destination]
    key = api_pb2.FlowKey(
        source_name=source_name,
        source_namespace="shop",
        source_type=api_pb2.WorkloadEndpoint,
        dest_name=dest_name,
        dest_namespace="shop",
        dest_type=api_pb2.WorkloadEndpoint,
        dest_port=port,
        proto="tcp",
        reporter=api_pb2.Reporter.Value(reporter),
        action=api_pb2.Action.Value(action),
    )
    flow = api_pb2.Flow(
        Key=key,
        start_time=start,
        end_time=start + AGGREGATION_INTERVAL,
        source_labels=[*source_labels, "projectcalico.org/namespace=shop"],
        dest_labels=[*dest_labels, "projectcalico.org/namespace=shop"],
        num_connections_started=started,
    )
    return api_pb2.FlowResult(flow=flow)


def feed() -> list[api_pb2.FlowResult]:
    """Every window's results in the order Goldmane sends them (window by window)."""
    results = []
    for window in range(WINDOWS):
        start = T0 + AGGREGATION_INTERVAL * window
        for source, destination, port in CONNECTIONS:
            for reporter in ("Src", "Dst"):
                results.append(result(start, source, destination, port, reporter, "Allow", 2))
        if window == 1:
            results.append(result(start, *PROBE, "Dst", "Deny", 1))
    return results


FEED = feed()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return write_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def goldmane(pki: dict[str, Any]) -> Iterator[tuple[FlowsServer, Running]]:
    servicer = FlowsServer(list(FEED))
    server = Running(servicer, pki["server"])
    try:
        yield servicer, server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def reference() -> EdgeStore:
    """What an uninterrupted stream of every result aggregates to."""
    server = Running(FlowsServer(FEED))
    try:
        stream = GoldmaneStream(ServerOptions(server.address), GoldmaneQuery(follow=False))
        store = EdgeStore()
        for flow in normalize(stream.flows(), NormalizeOptions(), NormalizeStats()):
            store.add(flow)
    finally:
        server.stop()
    return store


def goldmane_learner(
    address: str, pki: dict[str, Any], state: Path, output: Path, *extra: str
) -> Learner:
    paths = pki["paths"]
    return Learner(
        address, state, output, "--source", "goldmane", "--learner", "least-privilege",
        "--tls-ca-cert-files", paths["ca"], "--tls-client-cert-file", paths["client"],
        "--tls-client-key-file", paths["client-key"], "--tls-server-name", SERVER_NAME, *extra,
    )  # fmt: skip


def saved_position(state: Path, collector: str) -> tuple[int, int]:
    """The saved position's time and how many result keys it holds; (-1, 0) when none."""
    if not state.exists():
        return -1, 0
    try:
        with sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=5) as db:
            row = db.execute(
                "SELECT time_ns, boundary FROM positions WHERE collector = ?", (collector,)
            ).fetchone()
    except sqlite3.OperationalError:
        return -1, 0
    return (int(row[0]), len(json.loads(row[1]))) if row else (-1, 0)


def fully_saved(results: list[api_pb2.FlowResult]) -> tuple[int, int]:
    """The position saved once every one of ``results`` is taken in: the newest window and
    the results a resume would replay (that window and the one before)."""
    newest = max(r.flow.start_time for r in results)
    replayed = [r for r in results if r.flow.start_time >= newest - AGGREGATION_INTERVAL]
    return newest * 1_000_000_000, len(replayed)


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not in metrics"
    return float(found.group(1))


def proposal_policies(output: Path) -> Any:
    files = {str(p.relative_to(output)): p.read_text() for p in output.rglob("*.yaml")}
    return compile_policies(documents_from_files(files))


def pod(name: str) -> TrafficPeer:
    labels = tuple(sorted((k, v) for k, _, v in (x.partition("=") for x in WORKLOADS[name][1])))
    return TrafficPeer(kind=EndpointKind.POD, namespace="shop", labels=labels)


def allows(policies: Any, source: str, destination: str, port: int) -> bool:
    traffic = Traffic(pod(source), pod(destination), Protocol.TCP, port)
    return bool(policies.evaluate(traffic).allowed)


def test_learns_from_goldmane_over_mtls_and_writes_a_proposal_that_allows_what_it_saw(
    tmp_path: Path,
    pki: dict[str, Any],
    goldmane: tuple[FlowsServer, Running],
    reference: EdgeStore,
) -> None:
    servicer, server = goldmane
    state, output = tmp_path / "state.db", tmp_path / "proposal"
    collector = f"goldmane:{server.address}"
    learner = goldmane_learner(server.address, pki, state, output, "--metrics-addr", "127.0.0.1:0")
    try:
        port = int(learner.wait_for_log(r"serving .* \(port (\d+)\)").group(1))
        base = f"http://127.0.0.1:{port}"
        learner.wait_for_log(rf"learning from {re.escape(collector)} into")
        assert wait_until(lambda: saved_position(state, collector) == fully_saved(FEED))
        assert wait_until(lambda: http_get(base + "/readyz")[0] == 200)
        _, metrics = http_get(base + "/metrics")
        assert metric(metrics, "netpol_learner_flows_received_total") == len(FEED)
        assert metric(metrics, "netpol_learner_duplicate_flows_total") == 0
        assert metric(metrics, "netpol_learner_source_connected") == 1
        edges = len(reference.edges)
        assert wait_until(
            lambda: (
                (output.parent / f"{output.name}-report" / "status.json").exists()
                and json.loads(
                    (output.parent / f"{output.name}-report" / "status.json").read_text()
                )["edges"]
                == edges
            )
        )
    finally:
        code = learner.stop(signal.SIGTERM)
    assert code == 0, "".join(learner.stderr_lines)
    request = servicer.requests[0]
    assert request.start_time_gte == 0  # no --since: from now on
    assert set(request.filter.actions) == {api_pb2.Allow, api_pb2.Deny}
    policies = proposal_policies(output)
    for source, destination, port in CONNECTIONS:
        assert allows(policies, source, destination, port), (source, destination, port)
    # Least privilege: what was not seen, or was denied, stays denied.
    assert not allows(policies, *PROBE)
    assert not allows(policies, "web", "db", 5432)
    assert not allows(policies, "api", "web", 8080)
    same_edges(load_store(str(state)), reference)


def test_a_killed_learner_resumes_from_its_saved_position_without_double_counting(
    tmp_path: Path,
    pki: dict[str, Any],
    goldmane: tuple[FlowsServer, Running],
    reference: EdgeStore,
) -> None:
    servicer, server = goldmane
    first_part = [r for r in FEED if r.flow.start_time < T0 + AGGREGATION_INTERVAL * RESUMED_AFTER]
    servicer.results = first_part
    state, output = tmp_path / "state.db", tmp_path / "proposal"
    collector = f"goldmane:{server.address}"
    first = goldmane_learner(server.address, pki, state, output)
    assert wait_until(lambda: saved_position(state, collector) == fully_saved(first_part))
    first.process.kill()  # SIGKILL: no chance to save again
    first.process.wait(timeout=20)

    servicer.results = list(FEED)  # Goldmane has since closed two more windows
    second = goldmane_learner(server.address, pki, state, output, "--metrics-addr", "127.0.0.1:0")
    try:
        second.wait_for_log("resuming")
        port = int(second.wait_for_log(r"serving .* \(port (\d+)\)").group(1))
        assert wait_until(lambda: saved_position(state, collector) == fully_saved(FEED))
        _, metrics = http_get(f"http://127.0.0.1:{port}/metrics")
    finally:
        assert second.stop(signal.SIGINT) == 130, "".join(second.stderr_lines)
    # The newest window taken in started at T0 + 15; the resume asks from one window before.
    assert servicer.requests[-1].start_time_gte == T0
    assert metric(metrics, "netpol_learner_duplicate_flows_total") == len(first_part)
    assert metric(metrics, "netpol_learner_flows_received_total") == len(FEED) - len(first_part)
    resumed = load_store(str(state))
    same_edges(resumed, reference)
    # Both ends report each connection: 2 per window, counted once, over every window.
    counts = sorted(stats.count for stats in resumed.edges.values())
    assert counts == [2 * WINDOWS] * len(CONNECTIONS)
    with StateStore(str(state), create=False) as saved:
        assert saved.counters()["collector.flows"] == len(FEED)


def parse_learn(*flags: str) -> Any:
    return build_parser().parse_args(["learn", "--state", "s.db", "--output-dir", "out", *flags])


def test_goldmane_has_its_own_default_server_and_saved_position() -> None:
    goldmane = stream_settings_from_args(parse_learn("--source", "goldmane"))
    assert goldmane.collector == "goldmane:goldmane.calico-system.svc:7443"
    assert goldmane.server.use_tls  # Goldmane serves mTLS only
    hubble = stream_settings_from_args(parse_learn())
    assert hubble.collector == "hubble:localhost:4245" and not hubble.server.use_tls
    given = stream_settings_from_args(
        parse_learn("--source", "goldmane", "--server", "tls://127.0.0.1:9443")
    )
    assert given.collector == "goldmane:127.0.0.1:9443"
    since = stream_settings_from_args(
        parse_learn("--source", "goldmane", "--since", "2026-01-01T00:00:00Z")
    )
    assert opened(since).query.start_time_gte == T0
    assert opened(goldmane).query.start_time_gte == 0  # from now on


def opened(settings: StreamSettings) -> GoldmaneStream:
    """The stream ``learn`` would open (not connected until iterated)."""
    request = LiveRequest(
        settings.server, settings.reconnect, CollectorStats(), since_ns=settings.since_ns
    )
    stream = LIVE_SOURCES[settings.source].open(request)
    assert isinstance(stream, GoldmaneStream)
    return stream


def test_an_unknown_source_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as raised:
        parse_learn("--source", "calico")
    assert raised.value.code == 2
