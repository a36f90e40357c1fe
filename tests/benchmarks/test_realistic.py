"""The throughput benchmark's realistic input: real-capture lines, every one a usable flow."""

from __future__ import annotations

import gzip
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import orjson

from learner.app.pipeline import read_flows
from learner.model.run_stats import CollectorStats

REALISTIC = Path(__file__).resolve().parents[2] / "benchmarks" / "realistic.py"


def load_realistic() -> ModuleType:
    spec = importlib.util.spec_from_file_location("realistic_benchmark", REALISTIC)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_lines_read_as_flows_of_the_advertised_shape(tmp_path: Path) -> None:
    path = load_realistic().write(tmp_path / "flows.jsonl", 4000, 5)
    raw = path.read_bytes().splitlines()
    assert len(raw) == 4000
    assert 1200 <= sum(map(len, raw)) / len(raw) <= 2000
    records = [orjson.loads(line)["flow"] for line in raw]
    times = [record["time"] for record in records]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert any("dns" in (record.get("l7") or {}) for record in records)
    assert any("http" in (record.get("l7") or {}) for record in records)
    assert any(record.get("is_reply") for record in records)
    # What a live cluster writes new on every line differs between repeats of one capture line.
    assert len({record["uuid"] for record in records}) == 4000
    latencies = [
        record["l7"]["latency_ns"] for record in records if "latency_ns" in record.get("l7", {})
    ]
    assert len(set(latencies)) > len(latencies) * 0.9 > 50
    namespaces = {record["source"].get("namespace") for record in records}
    assert {"kube-system", "kube-system-4"} <= namespaces

    stats = CollectorStats()
    flows = list(read_flows([str(path)], stats=stats))
    assert stats.malformed == 0 and stats.records == 4000
    assert len(flows) + sum(stats.non_flow.values()) >= 3900


def test_gz_holds_the_same_lines(tmp_path: Path) -> None:
    realistic = load_realistic()
    plain = realistic.write(tmp_path / "flows.jsonl", 500, 2)
    packed = realistic.write(tmp_path / "flows.jsonl.gz", 500, 2)
    assert gzip.decompress(packed.read_bytes()) == plain.read_bytes()


def test_rotated_files_hold_the_same_lines_in_order_and_are_written_once(tmp_path: Path) -> None:
    realistic = load_realistic()
    one = realistic.write(tmp_path / "one.jsonl", 1001, 3).read_bytes()
    rotated = realistic.write_rotated(tmp_path / "rotated", 1001, 3, 4)
    files = sorted(rotated.glob("*.jsonl.gz"))
    assert [f.name for f in files] == [f"hubble-{i:05d}.jsonl.gz" for i in range(4)]
    assert [len(gzip.decompress(f.read_bytes()).splitlines()) for f in files] == [
        251,
        250,
        250,
        250,
    ]
    assert b"".join(gzip.decompress(f.read_bytes()) for f in files) == one
    stamp = files[0].stat().st_mtime_ns
    realistic.write_rotated(rotated, 1001, 3, 4)
    assert files[0].stat().st_mtime_ns == stamp
    assert not list(rotated.glob(".*.partial"))
