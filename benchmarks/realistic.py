"""A Hubble export shaped like real captures, at any length, for the throughput benchmark.

The lines are the real captures under ``tests/fixtures/hubble/files/real`` (DNS and HTTP L7
records, replies, both observation points, TCP/UDP/ICMP), spread over ``--namespaces`` copies
of their namespaces so there are more workloads and edges, with the namespace labels and
extra pod labels a production cluster carries (about 1.5 KB a line), fresh timestamps, and the
values a live cluster writes new on every line: a flow uuid (Hubble 1.13 and later), an L7
response's latency, an HTTP request's ``X-Request-Id``, a cached DNS answer's TTL, and the
client's ephemeral port (each connection has its own: a request's source port, a reply's
destination port). Each copy
of a capture line is prepared once; writing a line only splices in those values, so a million
lines take seconds. Nothing generated here is committed.

    python benchmarks/realistic.py --lines 1000000 -o benchmarks/data/realistic-1000000.jsonl
"""

from __future__ import annotations

import argparse
import gzip
import random
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "tests/fixtures/hubble/files/real"
TIME_MARK = "@@TIME@@"
UUID_MARK = "@@UUID@@"
LATENCY_MARK = "@@LATENCY@@"
REQUEST_ID_MARK = "@@REQUEST-ID@@"
TTL_MARK = '"@@TTL@@"'  # a number in the line: the quotes go too
PORT_MARK = '"@@PORT@@"'
MARKS = (TIME_MARK, UUID_MARK, LATENCY_MARK, REQUEST_ID_MARK, TTL_MARK, PORT_MARK)
SHAPE = "realistic3"
"""Names the generated files, so that files written before a per-line value was added
("realistic": none; "realistic2": the same ephemeral ports on every loop) are not taken for
these."""
EPHEMERAL_PORTS = (32768, 60999)
"""Linux's default ``ip_local_port_range``: where the captures' client ports are."""
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


def _per_line_values(flow: dict[str, Any]) -> None:
    """Mark where a live cluster writes a new value on every line."""
    l7 = flow.get("l7")
    if isinstance(l7, dict):
        if "latency_ns" in l7:
            l7["latency_ns"] = LATENCY_MARK
        http = l7.get("http")
        for header in (http or {}).get("headers") or []:
            if header.get("key", "").lower() == "x-request-id":
                header["value"] = REQUEST_ID_MARK
        dns = l7.get("dns")
        if isinstance(dns, dict) and "ttl" in dns:
            dns["ttl"] = TTL_MARK[1:-1]
    for ports in (flow.get("l4") or {}).values():
        if not isinstance(ports, dict):
            continue
        for side in ("source_port", "destination_port"):
            port = ports.get(side)
            if isinstance(port, int) and EPHEMERAL_PORTS[0] <= port <= EPHEMERAL_PORTS[1]:
                ports[side] = PORT_MARK[1:-1]


def templates(copies: int) -> list[str]:
    """Every capture line in ``copies`` namespace copies, with marks where the time and the
    other per-line values go."""
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
                _per_line_values(flow)
                flow.pop("time", None)
                flow.pop("uuid", None)
                flow = {"time": TIME_MARK, "uuid": UUID_MARK, **flow}
                if "flow" in record:
                    record["flow"] = flow
                else:
                    record = flow
                if "time" in record:
                    record["time"] = TIME_MARK
                out.append(orjson.dumps(record).decode())
    return out


_MARK_PATTERN = re.compile("(" + "|".join(re.escape(mark) for mark in MARKS) + ")")


def _shape(template: str) -> tuple[list[str], list[int]]:
    """A template cut at its marks: the text between them and which mark each cut was."""
    parts = _MARK_PATTERN.split(template)
    return parts[::2], [MARKS.index(mark) for mark in parts[1::2]]


def lines(count: int, copies: int, seed: int = 13) -> Iterator[str]:
    shapes = [_shape(template) for template in templates(copies)]
    rng = random.Random(seed)
    order = list(range(len(shapes)))
    rng.shuffle(order)
    span_ns = 3600 * 1_000_000_000  # one hour of traffic, whatever the length
    for i in range(count):
        pieces, kinds = shapes[order[i % len(order)]]
        at = i * span_ns // max(count, 1)
        seconds, nanos = divmod(at, 1_000_000_000)
        stamp = f"2026-01-01T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        values = (
            f"{stamp}.{nanos:09d}Z",
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            str(rng.randrange(200_000, 900_000_000)),
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            str(rng.randrange(1, 31)),
            str(rng.randint(*EPHEMERAL_PORTS)),
        )
        out = [pieces[0]]
        for kind, piece in zip(kinds, pieces[1:], strict=True):
            out.append(values[kind])
            out.append(piece)
        yield "".join(out) + "\n"


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
