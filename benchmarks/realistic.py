"""A Hubble export shaped like real captures, at any length, for the throughput benchmark.

The lines are the real captures under ``tests/fixtures/hubble/files/real`` (DNS and HTTP L7
records, replies, both observation points, TCP/UDP/ICMP), spread over ``--namespaces`` copies
of their namespaces so there are more workloads and edges, with the namespace labels and
extra pod labels a production cluster carries (about 1.5 KB a line), and fresh timestamps.
Each copy of a capture line is prepared once; writing a line only splices in its time, so a
million lines take seconds. Nothing generated here is committed.

    python benchmarks/realistic.py --lines 1000000 -o benchmarks/data/realistic-1000000.jsonl
"""

from __future__ import annotations

import argparse
import gzip
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "tests/fixtures/hubble/files/real"
TIME_MARK = "@@TIME@@"
NAMESPACE_LABEL = "k8s:io.cilium.k8s.namespace.labels."


def namespace_labels(namespace: str, copy: int) -> list[str]:
    return [
        f"{NAMESPACE_LABEL}kubernetes.io/metadata.name={namespace}",
        f"{NAMESPACE_LABEL}team=team-{copy % 7}",
    ]


def _rename(endpoint: dict[str, Any], copy: int) -> None:
    namespace = endpoint.get("namespace")
    if not namespace:
        return
    renamed = f"{namespace}-{copy}" if copy else namespace
    endpoint["namespace"] = renamed
    labels = [
        label.replace(f"namespace={namespace}", f"namespace={renamed}")
        for label in endpoint.get("labels", [])
        if not label.startswith(NAMESPACE_LABEL)
    ]
    # Pods the capture shows with no labels of their own stay so: namespace labels alone
    # would make them look labelled.
    if any(not label.startswith(("k8s:io.kubernetes.", "k8s:io.cilium.")) for label in labels):
        labels += namespace_labels(renamed, copy)
    endpoint["labels"] = sorted(set(labels))
    if "identity" in endpoint:
        endpoint["identity"] = int(endpoint["identity"]) + 100_000 * copy


def _move_addresses(ip: dict[str, Any], copy: int) -> None:
    """Each copy of the cluster gets its own pod network: 10.B.x.y becomes 10.(B+copy).x.y."""
    for side in ("source", "destination"):
        address = ip.get(side)
        if copy and isinstance(address, str) and address.startswith("10."):
            octets = address.split(".")
            octets[1] = str((int(octets[1]) + copy) % 256)
            ip[side] = ".".join(octets)


def templates(copies: int) -> list[str]:
    """Every capture line in ``copies`` namespace copies, with a mark where the time goes."""
    out: list[str] = []
    for path in sorted(CAPTURES.glob("*.jsonl")):
        for raw in path.read_bytes().splitlines():
            if not raw.strip():
                continue
            for copy in range(copies):
                record = orjson.loads(raw)
                flow = record.get("flow", record)
                for side in ("source", "destination"):
                    if isinstance(flow.get(side), dict):
                        _rename(flow[side], copy)
                _move_addresses(flow.get("IP") or {}, copy)
                flow["time"] = TIME_MARK
                if "time" in record:
                    record["time"] = TIME_MARK
                out.append(orjson.dumps(record).decode())
    return out


def lines(count: int, copies: int, seed: int = 13) -> Iterator[str]:
    shapes = [shape.split(TIME_MARK) for shape in templates(copies)]
    rng = random.Random(seed)
    order = list(range(len(shapes)))
    rng.shuffle(order)
    span_ns = 3600 * 1_000_000_000  # one hour of traffic, whatever the length
    for i in range(count):
        parts = shapes[order[i % len(order)]]
        at = i * span_ns // max(count, 1)
        seconds, nanos = divmod(at, 1_000_000_000)
        stamp = f"2026-01-01T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        yield f"{stamp}.{nanos:09d}Z".join(parts) + "\n"


def _write_lines(path: Path, source: Iterator[str], count: int) -> None:
    """The next ``count`` lines of ``source`` into ``path`` (gzip when it ends in .gz)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")  # hidden: never read as input
    with (
        gzip.open(partial, "wt", encoding="utf-8", compresslevel=6)
        if path.suffix == ".gz"
        else open(partial, "w", encoding="utf-8")
    ) as handle:
        batch: list[str] = []
        for _, line in zip(range(count), source, strict=False):
            batch.append(line)
            if len(batch) == 10_000:
                handle.write("".join(batch))
                batch.clear()
        handle.write("".join(batch))
    partial.rename(path)


def write(path: Path, count: int, copies: int) -> Path:
    _write_lines(path, lines(count, copies), count)
    return path


def write_rotated(directory: Path, count: int, copies: int, files: int) -> Path:
    """``count`` lines as ``files`` gzip files of consecutive time, like a rotated exporter
    writes them (and so that engines reading whole files have one per core to give)."""
    if (directory / ".complete").exists():
        return directory
    source = lines(count, copies)
    for index in range(files):
        share = count // files + (1 if index < count % files else 0)
        _write_lines(directory / f"hubble-{index:05d}.jsonl.gz", source, share)
    (directory / ".complete").touch()
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--namespaces", type=int, default=20, help="copies of the namespaces")
    parser.add_argument("-o", "--output", type=Path, required=True, help=".jsonl or .jsonl.gz")
    args = parser.parse_args()
    write(args.output, args.lines, args.namespaces)


if __name__ == "__main__":
    main()
