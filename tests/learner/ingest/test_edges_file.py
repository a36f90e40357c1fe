"""``--save-edges`` / ``--from-edges``: the aggregate survives the file exactly."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from learner.ingest.edges_file import load_edges, save_edges
from learner.model.edges import EdgeKey, EdgeStats, EdgeStore, WorkloadInfo
from learner.model.errors import InputError
from learner.model.identity import Identity
from learner.model.run_stats import CollectorStats, NormalizeStats, SkipReason


def _store() -> EdgeStore:
    store = EdgeStore()
    api = Identity("pod", "shop", (("app", "api"),), "")
    db = Identity("pod", "shop-data", (("app", "db"), ("tier", "x=y")), "")
    key = EdgeKey(api, db, "TCP", 5432)
    store.edges[key] = EdgeStats(
        first_seen=1772491230.123456789,
        last_seen=0.1 + 0.2,
        egress_count=7,
        ingress_count=3,
        other_count=1,
        source_pods=["api-1", "api-0"],
        destination_pods=["db-0"],
        dns_names={"db.shop-data.svc", "ünïcode.example"},
        http={("GET", "/a"), ("POST", "/b?q=1")},
        dns_queries={"x.example."},
    )
    store.workloads[api] = WorkloadInfo(
        names=Counter({"api": 2}),
        kinds=Counter({"Deployment": 2}),
        pods={"api-0", "api-1"},
        ips={"10.0.0.1"},
        service_accounts={"api"},
        full_labels=(("app", "api"), ("pod-template-hash", "abc")),
        pod_names={"api-0": ("api", "Deployment"), "api-1": ("api", "Deployment")},
    )
    store.namespace_labels["shop"] = (("team", "a"),)
    store.denied[EdgeKey(db, api, "UDP", 53)] = 4
    return store


def test_every_field_round_trips_exactly(tmp_path: Path) -> None:
    store = _store()
    collected = CollectorStats(records=12, flows=11, malformed=1, files=2)
    collected.errors.append(InputError("a.jsonl", 3, "not JSON"))
    collected.non_flow["agent"] = 1
    normalized = NormalizeStats(seen=11, included=9)
    normalized.skipped[SkipReason.REPLY] = 2
    path = str(tmp_path / "edges.jsonl")
    save_edges(path, store, collected, normalized, "cilium")

    loaded, read, used = EdgeStore(), CollectorStats(), NormalizeStats()
    load_edges(path, loaded, read, used)
    assert loaded.edges == store.edges
    assert loaded.workloads == store.workloads
    assert loaded.namespace_labels == store.namespace_labels
    assert loaded.denied == store.denied
    assert (read.records, read.flows, read.malformed, read.files) == (12, 11, 1, 2)
    assert [str(e) for e in read.errors] == ["a.jsonl:3: not JSON"]
    assert read.non_flow == Counter({"agent": 1})
    assert (used.seen, used.included, used.skipped) == (11, 9, Counter({SkipReason.REPLY: 2}))


def test_a_damaged_line_is_named_by_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "edges.jsonl"
    save_edges(str(path), _store(), CollectorStats(), NormalizeStats(), "generic")
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:2], '{"kind": "edge"}', *lines[2:]]) + "\n")
    with pytest.raises(InputError, match=r"edges.jsonl:3: not a saved edges line"):
        load_edges(str(path), EdgeStore(), CollectorStats(), NormalizeStats())
