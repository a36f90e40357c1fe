"""Scale limits of the batch commands: many ports on one edge group, many distinct peers.

``ports``: N Hubble flows from one pod to one pod on P distinct TCP ports; ``generate`` learns
one rule listing those ports and then proves it (the self-check), which is where a per-port
scan used to go quadratic. ``peers``: N flows from one pod to N distinct public addresses on
port 443, through ``generate``, ``ingest`` and ``export``. Each command runs in a fresh process;
the figures are wall time, CPU time (with any ``-j`` workers) and that process's peak RSS.

    python benchmarks/scale_limits.py ports                          # 1M flows, 64,000 ports
    python benchmarks/scale_limits.py peers                          # 1M distinct peers
    python benchmarks/scale_limits.py ports --flows 100000 --ports 16000   # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CLIENT = {
    "ID": 471,
    "identity": 1299,
    "namespace": "shop",
    "labels": ["k8s:app=client", "k8s:io.kubernetes.pod.namespace=shop"],
    "pod_name": "client-67986489c8-svnrf",
}
SERVER = {
    "ID": 1231,
    "identity": 25339,
    "namespace": "shop",
    "labels": ["k8s:app=server", "k8s:io.kubernetes.pod.namespace=shop"],
    "pod_name": "server-545db77b95-s6jb8",
}
WORLD = {"identity": 2, "labels": ["reserved:world"]}


def record(destination: dict[str, object], address: str, port: int, second: int) -> str:
    stamp = f"2026-01-01T{second // 3600 % 24:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"
    flow = {
        "time": stamp,
        "verdict": "FORWARDED",
        "IP": {"source": "10.0.2.13", "destination": address, "ipVersion": "IPv4"},
        "l4": {"TCP": {"source_port": 36804, "destination_port": port, "flags": {"SYN": True}}},
        "source": CLIENT,
        "destination": destination,
        "Type": "L3_L4",
        "node_name": "node-1",
        "event_type": {"type": 4, "sub_type": 3},
        "traffic_direction": "EGRESS",
        "trace_observation_point": "TO_STACK",
        "is_reply": False,
    }
    return json.dumps({"flow": flow, "node_name": "node-1", "time": stamp})


def port_flows(flows: int, ports: int) -> Iterator[str]:
    for i in range(flows):
        yield record(SERVER, "10.0.2.16", 1024 + i % ports, i)


def peer_flows(flows: int) -> Iterator[str]:
    # Distinct addresses in public space (11.0.0.0 onwards), one per flow.
    base = 11 << 24
    for i in range(flows):
        n = base + i
        address = f"{n >> 24}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
        yield record(WORLD, address, 443, i)


def write(path: Path, lines: Iterator[str]) -> Path:
    with path.open("w") as out:
        for line in lines:
            out.write(line + "\n")
    return path


def measured(args: list[str], cwd: Path) -> dict[str, float]:
    """Run one CLI command in a fresh process (via a tiny wrapper that reports its own peak
    RSS, so earlier children do not count). The peak is that of the largest single process:
    the command or one of its ``-j`` workers, which hold their share of the edges."""
    wrapper = (
        "import resource, runpy, sys\n"
        "sys.argv = ['netpol-learner', *sys.argv[1:]]\n"
        "try:\n"
        "    runpy.run_module('learner.cli', run_name='__main__')\n"
        "finally:\n"
        "    own = resource.getrusage(resource.RUSAGE_SELF)\n"
        "    workers = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "    cpu = own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime\n"
        "    peak = max(own.ru_maxrss, workers.ru_maxrss)\n"
        "    print(f'PEAK_RSS_KB={peak}', file=sys.stderr)\n"
        "    print(f'CPU_SECONDS={cpu}', file=sys.stderr)\n"
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    seconds = time.perf_counter() - started
    peak_kb, cpu = 0, 0.0
    for line in done.stderr.splitlines():
        if line.startswith("PEAK_RSS_KB="):
            peak_kb = int(line.split("=", 1)[1])
        if line.startswith("CPU_SECONDS="):
            cpu = float(line.split("=", 1)[1])
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-3000:])
        raise SystemExit(f"{args[0]} exited {done.returncode}")
    return {
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),  # with its -j workers; steadier than wall under load
        "peak_rss_mib": round(peak_kb / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("ports", "peers"))
    parser.add_argument("--flows", type=int, default=1_000_000)
    parser.add_argument("--ports", type=int, default=64_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        results: dict[str, object] = {"mode": args.mode, "flows": args.flows}
        if args.mode == "ports":
            results["ports"] = args.ports
            flows = write(work / "flows.jsonl", port_flows(args.flows, args.ports))
            results["generate"] = measured(["generate", str(flows), "--output-dir", "out"], work)
        else:
            flows = write(work / "flows.jsonl", peer_flows(args.flows))
            results["generate"] = measured(["generate", str(flows), "--output-dir", "gen"], work)
            results["ingest"] = measured(["ingest", str(flows), "--state", "s.db"], work)
            results["export"] = measured(["export", "--state", "s.db", "--output-dir", "exp"], work)
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
