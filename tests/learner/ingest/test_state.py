from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from collectors.hubble import file as hubble_file
from learner.ingest.normalize import normalize
from learner.ingest.state import (
    MIGRATIONS,
    SCHEMA_VERSION,
    CollectorPosition,
    StateStore,
    StoredStatus,
    load_store,
)
from learner.model.config import NormalizeOptions
from learner.model.edges import EdgeStore
from learner.model.errors import UsageError
from learner.model.identity import Identity
from learner.model.inventory import ContainerPort, Inventory, Namespace, Workload
from learner.model.run_stats import CollectorStats, NormalizeStats
from tests.hubble_server import HUBBLE_FIXTURES, REAL_CAPTURE

REPO = Path(__file__).resolve().parents[3]


def learned_store(*names: str) -> EdgeStore:
    store = EdgeStore()
    flows = hubble_file.iter_flows(
        [
            str((REAL_CAPTURE if name.startswith("basic-sample") else HUBBLE_FIXTURES) / name)
            for name in names
        ],
        stats=CollectorStats(),
    )
    for flow in normalize(flows, NormalizeOptions(), NormalizeStats()):
        store.add(flow)
    return store


def test_a_saved_store_loads_back_equal(tmp_path: Path) -> None:
    store = learned_store("basic-sample-348-http-flows.jsonl", "basic-sample-330-dns-flows.jsonl")
    assert len(store.edges) > 5 and store.workloads and store.namespace_labels
    assert any(s.http for s in store.edges.values())
    path = str(tmp_path / "state.db")
    with StateStore(path) as state:
        state.save(store)
    loaded = load_store(path)
    assert loaded.edges == store.edges
    assert loaded.workloads == store.workloads
    assert loaded.namespace_labels == store.namespace_labels


def test_saving_changed_edges_again_updates_them_in_place(tmp_path: Path) -> None:
    store = learned_store("basic-sample-400-tcp-flows.jsonl")
    keys = sorted(store.edges)
    with StateStore(str(tmp_path / "s.db")) as state:
        state.save(store, keys[:2])
        assert state.edge_count() == 2
        store.edges[keys[0]].egress_count += 1000
        state.save(store, keys)
        assert state.edge_count() == len(keys)
        again = EdgeStore()
        state.load_into(again)
    assert again.edges[keys[0]].egress_count == store.edges[keys[0]].egress_count
    assert again.edges == store.edges


def test_positions_counters_inventory_and_statuses_round_trip(tmp_path: Path) -> None:
    path = str(tmp_path / "s.db")
    identity = Identity("pod", "shop", (("app", "web"),))
    inventory = Inventory(
        namespaces=(Namespace("shop", (("kubernetes.io/metadata.name", "shop"),)),),
        workloads=(
            Workload(
                "shop",
                "web",
                (("app", "web"),),
                "Deployment",
                ("10.0.0.1",),
                (ContainerPort(8080, "TCP", "http"),),
            ),
        ),  # fmt: skip
        policies=({"kind": "NetworkPolicy", "metadata": {"name": "x"}},),
    )
    with StateStore(path) as state:
        state.save(
            EdgeStore(),
            positions={
                "localhost:4245": CollectorPosition(1_700_000_000_123456789, ("a", "b", "b"))
            },
            counters={"flows.seen": 7, "collector.lost_events": 2},
        )
        state.save_inventory(inventory, taken_at=12.5)
        state.save_statuses([StoredStatus(identity, "Stable", 10.0, 20.0)])
    with StateStore(path, create=False) as state:
        assert state.position("localhost:4245") == CollectorPosition(
            1_700_000_000_123456789, ("a", "b", "b")
        )
        assert state.position("other") is None
        assert state.counters() == {"flows.seen": 7, "collector.lost_events": 2}
        assert state.inventory() == (inventory, 12.5)
        assert state.statuses() == [StoredStatus(identity, "Stable", 10.0, 20.0)]
        assert state.schema_version == SCHEMA_VERSION
        assert state.integrity_check() == "ok"


def test_in_memory_state_works_for_tests_and_tools() -> None:
    store = learned_store("basic-sample-400-udp-flows.jsonl")
    with StateStore(":memory:") as state:
        state.save(store)
        loaded = EdgeStore()
        state.load_into(loaded)
    assert loaded.edges == store.edges


def test_missing_newer_or_foreign_files_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such state file"):
        load_store(str(tmp_path / "missing.db"))
    newer = tmp_path / "newer.db"
    with sqlite3.connect(newer) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(UsageError, match="newer netpol-learner"):
        StateStore(str(newer))
    foreign = tmp_path / "foreign.db"
    foreign.write_bytes(b"this is not a database at all, just text " * 100)
    with pytest.raises(UsageError, match="not a usable state file"):
        StateStore(str(foreign))


def test_a_new_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    StateStore(str(path)).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


WRITER = textwrap.dedent(
    """
    import sys
    from learner.model.edges import EdgeStore
    from learner.model.flow import Direction, Endpoint, EndpointKind, Flow, Origin, Protocol, Verdict
    from learner.ingest.state import StateStore

    store = EdgeStore()
    state = StateStore(sys.argv[1])
    web = Endpoint(EndpointKind.POD, "shop", (("app", "web"),), pod="web-1")
    db = Endpoint(EndpointKind.POD, "shop", (("app", "db"),), pod="db-1")
    batch = 0
    while True:
        batch += 1
        key = store.add(Flow(float(batch), web, db, Protocol.TCP, batch, Verdict.FORWARDED,
                             Direction.EGRESS, False, Origin("x")))
        state.save(store, [key], counters={"batches": batch})
        if batch == 50:
            print("ready", flush=True)
    """
)


def test_kill_9_mid_write_leaves_a_consistent_store(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    writer.kill()
    writer.wait()
    with StateStore(str(path), create=False) as state:
        assert state.integrity_check() == "ok"
        batches = state.counters()["batches"]
        assert batches >= 50
        # Each batch wrote one edge and its count in one transaction: never one without the other.
        assert state.edge_count() == batches


def test_dropped_flow_counts_round_trip(tmp_path: Path) -> None:
    store = learned_store("unattributed_k3d-policy-denied-drop133.jsonl")
    flows = hubble_file.iter_flows(
        [str(HUBBLE_FIXTURES / "unattributed_k3d-policy-denied-drop133.jsonl")],
        stats=CollectorStats(),
    )
    stats = NormalizeStats()
    for _ in normalize(flows, NormalizeOptions(), stats, on_denied=store.note_denied):
        pass
    assert store.denied
    path = str(tmp_path / "s.db")
    with StateStore(path) as state:
        state.save(store)
    assert load_store(path).denied == store.denied


def test_a_version_1_file_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        for statement in MIGRATIONS[0].split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute("PRAGMA user_version = 1")
        db.execute("INSERT INTO counters (name, value) VALUES ('flows.seen', 41)")
    with StateStore(str(path)) as state:
        assert state.schema_version == SCHEMA_VERSION >= 2
        assert state.counters() == {"flows.seen": 41}
        assert state.integrity_check() == "ok"
    assert load_store(str(path)).denied == {}
