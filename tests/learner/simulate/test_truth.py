from __future__ import annotations

import json
from pathlib import Path

import pytest

from learner.simulate import SimulationResult, ground_truth, simulate, write_hubble
from learner.simulate.truth import FORMAT
from tests.learner.simulate.hubble_records import Edge, PeerIds, is_request, read_lines


@pytest.fixture(scope="module", params=["shop", "mixed"])
def result(request: pytest.FixtureRequest) -> SimulationResult:
    return simulate(request.param, lines=4000)


@pytest.fixture(scope="module")
def window_edges(
    result: SimulationResult, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[set[Edge], set[Edge]]]:
    """Per window: (edges of forwarded requests, edges of dropped flows), read from Hubble."""
    peers = PeerIds(result.cluster)
    found = {}
    for window in result.windows:
        path = tmp_path_factory.mktemp("truth") / f"{window.name}.jsonl"
        write_hubble(result, str(path), window=window.name)
        forwarded, dropped = set(), set()
        for record in read_lines(path):
            flow = record["flow"]
            if is_request(flow):
                forwarded.add(peers.edge(flow))
            elif flow["verdict"] == "DROPPED":
                dropped.add(peers.edge(flow))
        found[window.name] = (forwarded, dropped)
    return found


def test_every_forwarded_request_is_allowed(
    result: SimulationResult, window_edges: dict[str, tuple[set[Edge], set[Edge]]]
) -> None:
    truth = ground_truth(result)
    for forwarded, _ in window_edges.values():
        assert forwarded
        outside = [e for e in forwarded if not truth.allows(e.client, e.server, e.protocol, e.port)]
        assert not outside


def test_every_allowed_connection_shows_up_while_learning_unless_rare(
    result: SimulationResult, window_edges: dict[str, tuple[set[Edge], set[Edge]]]
) -> None:
    learned, _ = window_edges["learning"]
    missing = [
        spec.key
        for spec in result.scenario.allowed
        if not spec.rare
        and Edge(spec.client, spec.server, str(spec.protocol), spec.port) not in learned
    ]
    assert not missing


def test_denied_probes_are_dropped_and_never_allowed(
    result: SimulationResult, window_edges: dict[str, tuple[set[Edge], set[Edge]]]
) -> None:
    truth = ground_truth(result)
    dropped = set().union(*(d for _, d in window_edges.values()))
    assert dropped
    for edge in dropped:
        assert not truth.allows(edge.client, edge.server, edge.protocol, edge.port)
    forwarded = set().union(*(f for f, _ in window_edges.values()))
    assert not dropped & forwarded


def test_event_counts_match_the_stream(result: SimulationResult) -> None:
    truth = ground_truth(result)
    for window in result.windows:
        counted = sum(n for _, name, n in truth.events if name == window.name)
        assert counted == sum(1 for _ in result.events(window.name))


def test_json_shape(result: SimulationResult) -> None:
    truth = ground_truth(result)
    data = json.loads(json.dumps(truth.to_json({"learning": ["flows/learning.jsonl"]})))
    assert data["format"] == FORMAT and data["scenario"] == result.scenario.name
    assert set(data["windows"]) == {"learning", "held_out"}
    assert data["windows"]["learning"]["files"] == ["flows/learning.jsonl"]
    assert data["windows"]["learning"]["end"] <= data["windows"]["held_out"]["start"]
    ids = {w["id"] for w in data["workloads"]} | set(data["entities"])
    ids |= {e["id"] for e in data["externals"]}
    for entry in data["allowed"]:
        assert entry["client"] in ids and entry["server"] in ids
        assert entry["protocol"] in ("TCP", "UDP") and 0 < entry["port"] < 65536
        assert set(entry["events"]) == {"learning", "held_out"}
        if not entry["rare"]:
            assert entry["events"]["learning"] > 0
    assert data["denied"] and all(entry["ports"] for entry in data["denied"])
    allowed = {(e["client"], e["server"], e["protocol"], e["port"]) for e in data["allowed"]}
    assert len(allowed) == len(data["allowed"]) == len(truth.allowed)


def test_forbidden_pairs_are_everything_else() -> None:
    truth = ground_truth(simulate("shop", lines=500))
    assert truth.allows("shop/frontend", "shop/api", "TCP", 8080)
    assert not truth.allows("shop/api", "shop/frontend", "TCP", 8080)
    assert not truth.allows("shop/netshoot", "shop-data/db", "TCP", 5432)
    assert {"entity:host", "shop/frontend", "external:stripe"} <= set(truth.peers)


def test_written_files_are_what_the_window_holds(tmp_path: Path) -> None:
    result = simulate("cronjobs", lines=1000)
    learning, held_out = tmp_path / "l.jsonl", tmp_path / "h.jsonl"
    both = tmp_path / "both.jsonl"
    count = write_hubble(result, str(learning), window="learning")
    count += write_hubble(result, str(held_out), window="held-out")
    assert write_hubble(result, str(both)) == count
    start, end = result.window("held-out").start_ns, result.window("held-out").end_ns
    stamps = [r["time"] for r in read_lines(held_out)]
    assert min(stamps) >= _rfc3339(start) and max(stamps) < _rfc3339(end + 10**9)


def _rfc3339(time_ns: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(time_ns / 1e9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
