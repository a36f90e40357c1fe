"""Tallying repeated lines (learner/model/repeats.py) must give exactly what reading every line
as a flow gives: the same edges with the same counts, times and samples in the same order, the
same workloads, denied edges, DNS answers, normalisation counts and dropped samples, and the
same malformed-line counts and first messages, on every fixture line, on lines bent in every
way the fast-path test bends them, and on the throughput benchmark's realistic lines."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from learner.app.pipeline import ingest, new_store, read_flows
from learner.model.config import LearnConfig
from learner.model.edges import EdgeStore
from learner.model.repeats import Repeats
from learner.model.run_stats import CollectorStats, NormalizeStats
from tests.benchmarks.test_realistic import load_realistic
from tests.collectors.hubble.test_fastpath import MUTATIONS, fixture_lines

Result = tuple[EdgeStore, CollectorStats, NormalizeStats]


def read(path: Path, config: LearnConfig, *, tally: bool) -> tuple[Result, Repeats | None]:
    store, collected, normalized = new_store(config), CollectorStats(), NormalizeStats()
    repeats = Repeats() if tally else None
    flows = read_flows([str(path)], stats=collected, repeats=repeats)
    ingest(flows, store, config, normalized, None, repeats)
    return (store, collected, normalized), repeats


def assert_same(expected: Result, actual: Result) -> None:
    (store, collected, normalized), (other, other_collected, other_normalized) = expected, actual
    assert list(other.edges.items()) == list(store.edges.items())
    assert other.workloads == store.workloads
    assert other.namespace_labels == store.namespace_labels
    assert other.denied == store.denied
    assert other.dns_answers == store.dns_answers
    # Errors are exceptions, equal only to themselves: compared by their messages.
    assert [str(e) for e in other_collected.errors] == [str(e) for e in collected.errors]
    assert replace(other_collected, errors=[]) == replace(collected, errors=[])
    assert other_normalized == normalized


def assert_tallied_as_read(path: Path, config: LearnConfig) -> int:
    """Both ways agree on ``path``; how many lines were tallied."""
    expected, _ = read(path, config, tally=False)
    actual, repeats = read(path, config, tally=True)
    assert_same(expected, actual)
    assert repeats is not None
    return repeats.tallied


def _retimed(record: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The record again, later, from another source port: a repeat of it."""
    flow = record.get("flow")
    if type(flow) is dict:
        flow = dict(flow)
        if isinstance(flow.get("time"), str) and flow["time"].endswith("Z"):
            flow["time"] = (
                f"2026-03-0{rng.randint(1, 9)}T0{rng.randint(0, 9)}:00:00.{rng.randint(0, 10**9 - 1):09d}Z"
            )
        l4 = flow.get("l4")
        if type(l4) is dict and len(l4) == 1:
            ((name, ports),) = l4.items()
            if type(ports) is dict and "source_port" in ports:
                flow["l4"] = {name: {**ports, "source_port": rng.choice([80, 443, 40000, 61000])}}
        record = {**record, "flow": flow}
    return record


def _other_port(flow: dict[str, Any]) -> None:
    for ports in flow["l4"].values():
        if type(ports) is dict:
            ports["destination_port"] = int(ports.get("destination_port") or 0) + 1
            ports["type"] = int(ports.get("type") or 0) + 8


def _other_l7(flow: dict[str, Any]) -> None:
    l7 = flow.get("l7")
    if type(l7) is dict:
        if type(l7.get("http")) is dict:
            l7["http"]["url"] = "http://x/other"
            l7["http"]["method"] = "PUT"
        if type(l7.get("dns")) is dict:
            l7["dns"]["query"] = "other.example."
            if l7["dns"].get("ips"):
                l7["dns"]["ips"] = ["192.0.2.9"]
        l7["type"] = "RESPONSE" if l7.get("type") == "REQUEST" else "REQUEST"


def _other_source(flow: dict[str, Any]) -> None:
    source = flow.get("source")
    if type(source) is dict:
        flow["source"] = {**source, "labels": [*(source.get("labels") or []), "k8s:tier=x"]}


def _reply_guess(flow: dict[str, Any]) -> None:
    flow.pop("is_reply", None)
    flow["trace_reason"] = "REPLY" if flow.get("trace_reason") != "REPLY" else "NEW"


SIBLINGS: list[Callable[[dict[str, Any]], None]] = [
    _other_port,
    _other_l7,
    _other_source,
    _reply_guess,
    lambda flow: flow.update(verdict="AUDIT" if flow.get("verdict") != "AUDIT" else "TRACED"),
    lambda flow: flow.update(verdict="VERDICT_UNKNOWN"),
    lambda flow: flow.update(
        traffic_direction="INGRESS" if flow.get("traffic_direction") != "INGRESS" else "EGRESS"
    ),
    lambda flow: flow.update(is_reply=not flow.get("is_reply")),
    lambda flow: flow.update(node_name="another-node"),
    lambda flow: flow.update(destination_names=["api.example.com."]),
    lambda flow: flow.update(IP={**(flow.get("IP") or {}), "destination": "203.0.113.7"}),
    lambda flow: flow.update(egress_allowed_by=[{"name": "p", "namespace": "n"}]),
]
"""Each changes one field in the key: a line so changed must never count as a repeat."""


def _siblings(record: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for change in SIBLINGS:
        sibling = orjson.loads(orjson.dumps(record))
        flow = sibling.get("flow")
        if type(flow) is dict and type(flow.get("l4")) is dict:
            change(flow)
            out.append(sibling)
    return out


def export(
    path: Path, records: list[dict[str, Any] | str], seed: int = 5, siblings_every: int = 4
) -> Path:
    """Every record, then each again three times retimed and every ``siblings_every``th
    with each key field changed (retimed too), shuffled."""
    rng = random.Random(seed)
    lines = [r if isinstance(r, str) else orjson.dumps(r).decode() for r in records]
    for index, record in enumerate(records):
        if isinstance(record, dict):
            lines.extend(orjson.dumps(_retimed(record, rng)).decode() for _ in range(3))
            if index % siblings_every:
                continue
            for sibling in _siblings(record):
                lines.extend(orjson.dumps(_retimed(sibling, rng)).decode() for _ in range(2))
    head, tail = lines[: len(records)], lines[len(records) :]
    rng.shuffle(tail)
    path.write_text("\n".join(head + tail) + "\n")
    return path


def fixture_records() -> list[dict[str, Any] | str]:
    records: list[dict[str, Any] | str] = []
    for line in fixture_lines():
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            records.append(line)
            continue
        records.append(value if type(value) is dict else line)
    return records


CONFIGS = {
    "defaults": LearnConfig(),
    "small peer cap": LearnConfig(max_external_peers=2),
    "no peer cap, dropped included": LearnConfig(max_external_peers=0, include_dropped=True),
    "one namespace": LearnConfig(namespaces=("default",)),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_every_fixture_line_and_its_repeats_tallied_as_read_one_by_one(
    tmp_path: Path, name: str
) -> None:
    tallied = assert_tallied_as_read(export(tmp_path / "f.jsonl", fixture_records()), CONFIGS[name])
    assert tallied > 1000  # the repeats were tallied, not all read one by one


@pytest.mark.parametrize("mutate", MUTATIONS, ids=lambda m: m.__name__.strip("_"))
def test_bent_lines_and_their_repeats_tallied_as_read_one_by_one(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None]
) -> None:
    records: list[dict[str, Any] | str] = []
    for record in fixture_records()[::3]:
        if isinstance(record, dict) and type(record.get("flow")) is dict:
            bent = orjson.loads(orjson.dumps(record))
            mutate(bent)
            records.append(bent)
    # Bent and plain lines side by side, so a bent line could land on a plain line's key.
    records += fixture_records()[:300]
    path = export(tmp_path / "bent.jsonl", records, siblings_every=16)
    for config in (CONFIGS["defaults"], CONFIGS["no peer cap, dropped included"]):
        assert_tallied_as_read(path, config)


def test_realistic_lines_tallied_as_read_one_by_one(tmp_path: Path) -> None:
    path = load_realistic().write(tmp_path / "realistic.jsonl", 20_000, 2)
    tallied = assert_tallied_as_read(path, LearnConfig())
    assert tallied > 10_000


def test_past_the_key_limit_tallies_are_applied_and_keys_seen_again_start_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import learner.model.repeats as repeats_module

    monkeypatch.setattr(repeats_module, "ENTRY_LIMIT", 7)
    path = export(tmp_path / "f.jsonl", fixture_records())
    assert assert_tallied_as_read(path, LearnConfig()) > 0


def test_a_full_table_applies_its_tallies_as_it_goes_not_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found in review: tallies of forgotten keys waited for the end of the input, each
    holding its first flow, so memory grew with distinct keys instead of staying bounded."""
    import learner.model.repeats as repeats_module

    monkeypatch.setattr(repeats_module, "ENTRY_LIMIT", 7)
    path = export(tmp_path / "f.jsonl", fixture_records())
    expected, _ = read(path, LearnConfig(), tally=False)
    config = LearnConfig()
    store, collected, normalized = new_store(config), CollectorStats(), NormalizeStats()
    repeats = Repeats()
    waiting: list[int] = []
    original = Repeats.first_of

    def watched(self: Repeats, key: object, flow: object) -> None:
        original(self, key, flow)  # type: ignore[arg-type]
        waiting.append(len(self._flushed))

    monkeypatch.setattr(Repeats, "first_of", watched)
    flows = read_flows([str(path)], stats=collected, repeats=repeats)
    ingest(flows, store, config, normalized, None, repeats)
    assert_same(expected, (store, collected, normalized))
    assert repeats.tallied > 0 and max(waiting) == 0


def test_requests_that_differ_only_in_their_query_string_are_one_key(tmp_path: Path) -> None:
    """The mapping keeps the path only, so the key does too: query strings (ids, tokens)
    would otherwise make every request its own key."""

    def requests(record: dict[str, Any], query: bool) -> Path:
        rng = random.Random(3)
        lines = []
        for n in range(40):
            again = _retimed(record, rng)
            flow = dict(again["flow"])
            l7 = dict(flow["l7"])
            url = f"http://api:8080/items?id={n}" if query else "http://api:8080/items"
            l7["http"] = {**l7["http"], "url": url}
            lines.append(orjson.dumps({**again, "flow": {**flow, "l7": l7}}).decode())
        path = tmp_path / f"requests-{query}.jsonl"
        path.write_text("\n".join(lines) + "\n")
        return path

    http = [
        r
        for r in fixture_records()
        if isinstance(r, dict)
        and isinstance(r.get("flow"), dict)
        and isinstance((r["flow"].get("l7") or {}).get("http"), dict)
    ]
    # A request whose repeats are tallied at all (an edge no peer cap moves).
    tallied = [r for r in http if assert_tallied_as_read(requests(r, False), LearnConfig()) == 39]
    assert tallied
    assert assert_tallied_as_read(requests(tallied[0], True), LearnConfig()) == 39


def _new_key_lines(count: int) -> list[str]:
    """Realistic lines, each from another client address: every line a new key, as in a
    short export or a cluster whose pods seldom repeat a connection."""
    lines = load_realistic().lines(count, 2)
    renamed = []
    for n, line in enumerate(lines):
        record = orjson.loads(line)
        address = record["flow"].get("IP")
        if type(address) is dict:
            record["flow"]["IP"] = {
                **address,
                "source": f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}",
            }
        renamed.append(orjson.dumps(record).decode())
    return renamed


def test_a_full_repeat_table_holds_keys_and_counts_not_the_lines_flows(tmp_path: Path) -> None:
    """Found measuring lines that seldom repeat: the table (up to ENTRY_LIMIT keys) held a copy
    of both endpoints' JSON in every key and every key's first flow, ~2 KB a key, so 150,000
    such lines took 194 MB to read. Endpoints are now shared between keys and a tally keeps
    what applying it needs once its first flow is decided (2,600 bytes a key here before,
    1,230 after, with the scanner's slot and what the store learns of each new address)."""
    import tracemalloc

    path = tmp_path / "new-keys.jsonl"
    path.write_text("\n".join(_new_key_lines(6000)) + "\n")
    expected, _ = read(path, LearnConfig(), tally=False)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        actual, repeats = read(path, LearnConfig(), tally=True)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert_same(expected, actual)
    assert repeats is not None and len(repeats.entries) > 4000
    assert all(tally.flow is None for tally in repeats.entries.values())
    keys = list(repeats.entries)
    by_endpoint: dict[bytes, bytes] = {}
    for key in keys:
        shared = by_endpoint.setdefault(key[0], key[0])  # type: ignore[index]
        assert shared is key[0]  # type: ignore[index]
    assert held / len(keys) < 1600, f"{held / len(keys):.0f} bytes a key"


def _outside_peer_lines(seed: int) -> list[str]:
    """A pod talking to, and called from, outside addresses that fold at every level (nearby
    public addresses, other /24s, private ones, IPv6), each address seen again and again with
    its first sightings spread through the file, so that folds happen between repeats."""
    rng = random.Random(seed)
    addresses = (
        [f"203.0.113.{n}" for n in range(1, 6)]
        + [f"198.51.{n}.7" for n in range(4)]
        + [f"172.20.{n}.9" for n in range(3)]
        + [f"2001:db8::{n:x}" for n in range(1, 4)]
    )
    pod = {
        "ID": 7,
        "identity": 4242,
        "namespace": "shop",
        "labels": ["k8s:app=web", "k8s:io.kubernetes.pod.namespace=shop"],
        "pod_name": "web-5d8f9c7b6d-x2kqp",
    }
    world = {"identity": 2, "labels": ["reserved:world"]}
    lines = []
    for n in range(900):
        address = rng.choice(addresses[: 2 + n // 40])  # new addresses keep arriving
        outbound = rng.random() < 0.7
        source, destination = (pod, world) if outbound else (world, pod)
        flow = {
            "time": f"2026-03-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}.{rng.randrange(10**9):09d}Z",
            "verdict": "FORWARDED",
            "IP": {
                "source": "10.0.0.7" if outbound else address,
                "destination": address if outbound else "10.0.0.7",
                "ipVersion": "IPv6" if ":" in address else "IPv4",
            },
            "l4": {"TCP": {"source_port": rng.randrange(32768, 60999), "destination_port": 443}},
            "source": source,
            "destination": destination,
            "node_name": "node-1",
            "traffic_direction": "EGRESS" if outbound else "INGRESS",
            "is_reply": False,
        }
        lines.append(
            orjson.dumps({"flow": flow, "node_name": "node-1", "time": flow["time"]}).decode()
        )
    return lines


@pytest.mark.parametrize("cap", [1, 2, 3, 8])
def test_repeats_of_outside_peers_tallied_while_the_peer_cap_folds_their_edges(
    tmp_path: Path, cap: int
) -> None:
    """Edges to outside addresses are folded by the peer cap as new addresses arrive; the
    repeats of an address tallied before and after its edge folded land where reading every
    line one by one puts them (the folded edge), with the same counts and times."""
    path = tmp_path / "outside.jsonl"
    path.write_text("\n".join(_outside_peer_lines(cap)) + "\n")
    config = LearnConfig(max_external_peers=cap)
    tallied = assert_tallied_as_read(path, config)
    assert tallied > 600
    (store, _, _), _ = read(path, config, tally=True)
    assert any(stats.folded for stats in store.edges.values())
