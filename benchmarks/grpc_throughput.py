"""Live-learning throughput: flows/s one ``netpol-learner learn`` process sustains from a local
Hubble gRPC server that streams as fast as it can, and the learner's memory over time.

The flows are shaped like real captures by default (``benchmarks/realistic.py``: full pod
label sets, namespace labels, DNS and HTTP records, replies, both observation points; about
1.5 KB each as JSON) or the project's simulated cluster (``--scenario mixed``), converted once
to serialised ``GetFlowsResponse`` messages cached under benchmarks/data/. A server process
(pinned to one core when there are two) streams them in a loop with ``observer.Observer/GetFlows``;
the learner (pinned to the other core) is the real CLI, observed through its own ``/metrics``
and ``/proc``, so its CPU time is the learner's alone: gRPC receive, protobuf decode, mapping
to flows, normalisation and aggregation (plus its periodic saves and proposals). Every second
prints flows received, the rate, RSS and CPU use; at the end, flows per CPU-second and whether
RSS grew with the flows (the median RSS of the last quarter of the run against the second).

    python benchmarks/grpc_throughput.py                      # 60 s
    python benchmarks/grpc_throughput.py --flows 1000000      # until 1M flows
    python benchmarks/grpc_throughput.py --seconds 600        # the 10-minute soak
    python benchmarks/grpc_throughput.py --scenario peers --lines 1000000 --flows 1000000
                                           # 1M distinct public peers: memory under the cap
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = HERE / "data"
sys.path.insert(0, str(REPO))


def simulated_lines(lines: int, scenario: str) -> Path:
    target = DATA / f"{scenario}-{lines}"
    flows = target / "flows" / "learning.jsonl"
    if not flows.exists():
        subprocess.run(
            [sys.executable, "-m", "learner.cli", "simulate", "--scenario", scenario,
             "--lines", str(lines), "-o", str(target)],
            check=True, cwd=REPO, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    return flows


def realistic_lines(lines: int) -> Iterator[str]:
    from benchmarks.realistic import lines as realistic

    return realistic(lines, copies=20)


def serialised_responses(lines: int, scenario: str) -> Path:
    """The flows as length-prefixed GetFlowsResponse messages (built once)."""
    from benchmarks.realistic import SHAPE

    cache = DATA / f"grpc-{SHAPE if scenario == 'realistic' else scenario}-{lines}.bin"
    if cache.exists():
        return cache
    from google.protobuf import json_format

    from collectors._proto.observer import observer_pb2

    DATA.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        if scenario == "realistic":
            text: Iterable[str] = realistic_lines(lines)
        elif scenario == "peers":  # one pod to `lines` distinct public addresses
            from benchmarks.scale_limits import peer_flows

            text = peer_flows(lines)
        else:
            text = stack.enter_context(simulated_lines(lines, scenario).open(encoding="utf-8"))
        out = stack.enter_context(open(f"{cache}.part", "wb"))
        for line in text:
            if '"flow"' not in line:
                continue
            response = json_format.Parse(
                line, observer_pb2.GetFlowsResponse(), ignore_unknown_fields=True
            )
            blob = response.SerializeToString()
            out.write(struct.pack("<I", len(blob)) + blob)
    os.replace(f"{cache}.part", cache)
    return cache


def read_blobs(path: Path) -> list[bytes]:
    data = path.read_bytes()
    blobs, offset = [], 0
    while offset < len(data):
        (size,) = struct.unpack_from("<I", data, offset)
        blobs.append(data[offset + 4 : offset + 4 + size])
        offset += 4 + size
    return blobs


def serve(path: Path, port_file: Path) -> None:
    """Stream the responses in a loop, as fast as the learner takes them (h2_firehose.py)."""
    from benchmarks.h2_firehose import H2Firehose
    from collectors._proto.observer import observer_pb2

    blobs = read_blobs(path)
    status = observer_pb2.ServerStatusResponse(num_flows=len(blobs), version="firehose")
    server = H2Firehose(blobs, status.SerializeToString())
    port_file.write_text(str(server.port))
    server.serve_forever()


def pin(pid: int, core: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        for task in os.listdir(f"/proc/{pid}/task"):
            os.sched_setaffinity(int(task), {core})


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else 0.0


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--flows", type=int, default=0, help="stop after this many flows instead")
    parser.add_argument("--lines", type=int, default=40_000, help="distinct flows to loop over")
    parser.add_argument(
        "--scenario",
        default="realistic",
        help="realistic; peers (one pod to --lines distinct public addresses, the peer cap's "
        "flood); or a `simulate` scenario (mixed ...)",
    )
    parser.add_argument("--interval", default="60s", help="learn --interval (proposal rewrites)")
    parser.add_argument("--serve", nargs=2, metavar=("BLOBS", "PORT_FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), Path(args.serve[1]))
        return
    blobs = serialised_responses(args.lines, args.scenario)
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(blobs), str(port_file)])
        while not port_file.exists() or not port_file.read_text():
            time.sleep(0.1)
        pin(server.pid, 0)
        log = open(f"{tmp}/learn.log", "w")  # noqa: SIM115 - the learner's stderr until the end
        learner = subprocess.Popen(
            [sys.executable, "-m", "learner.cli", "learn", "--server",
             f"127.0.0.1:{port_file.read_text()}", "--state", f"{tmp}/state.db",
             "-o", f"{tmp}/proposal", "--metrics-addr", "127.0.0.1:19391",
             "--interval", args.interval, "--log-format", "json"],
            cwd=REPO, stderr=log,
        )  # fmt: skip
        try:
            time.sleep(1.0)
            pin(learner.pid, 1)
            run(learner.pid, args.seconds, args.flows)
        finally:
            learner.send_signal(signal.SIGTERM)
            learner.wait(30)
            server.terminate()
            server.wait(10)
            log.close()
        print(f"learner exit status {learner.returncode} after SIGTERM")


def run(pid: int, seconds: int, flow_limit: int) -> None:
    def scrape() -> tuple[float, str]:
        with urllib.request.urlopen("http://127.0.0.1:19391/metrics", timeout=5) as response:
            return time.monotonic(), response.read().decode()

    while True:
        try:
            started, text = scrape()
            break
        except OSError:
            time.sleep(0.2)
    first_flows = metric(text, "netpol_learner_flows_received_total")
    first_cpu = cpu_seconds(pid)
    previous = (started, first_flows)
    peak = 0.0
    samples: list[float] = []
    print(f"{'t':>5} {'flows':>12} {'flows/s':>10} {'RSS MB':>8} {'CPU %':>6} {'edges':>7}")
    while (flow_limit and previous[1] - first_flows < flow_limit) or (
        not flow_limit and len(samples) < seconds
    ):
        time.sleep(1.0)
        now, text = scrape()
        flows = metric(text, "netpol_learner_flows_received_total")
        rate = (flows - previous[1]) / (now - previous[0])
        previous = (now, flows)
        memory = rss_mb(pid)
        samples.append(memory)
        peak = max(peak, memory)
        cpu = 100 * (cpu_seconds(pid) - first_cpu) / (now - started)
        edges = metric(text, "netpol_learner_edges")
        print(
            f"{now - started:5.0f} {flows:12,.0f} {rate:10,.0f} {memory:8.0f} {cpu:6.0f} {edges:7,.0f}"
        )
    elapsed = previous[0] - started
    total = previous[1] - first_flows
    cpu_used = cpu_seconds(pid) - first_cpu
    print(
        f"\n{total:,.0f} flows in {elapsed:.0f} s: {total / elapsed:,.0f} flows/s wall, "
        f"{total / cpu_used:,.0f} flows per CPU-second of the learner; peak RSS {peak:.0f} MB"
    )
    quarter = len(samples) // 4
    if quarter:
        early = statistics.median(samples[quarter : 2 * quarter])
        late = statistics.median(samples[3 * quarter :])
        verdict = "flat" if late <= early * 1.10 + 5 else "GROWING"
        print(
            f"RSS median {early:.0f} MB in the second quarter, {late:.0f} MB in the last: {verdict}"
        )


if __name__ == "__main__":
    main()
