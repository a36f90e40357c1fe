"""Throughput and memory of the batch spine: ``generate`` over a large Hubble export.

Generates an export with the project's simulator (once, cached under benchmarks/data/), then
runs ``netpol-learner generate`` on it in a fresh process per run and reports lines/s (wall
and CPU) and peak RSS. Memory must grow with distinct edges, not lines: the second run on a
file twice as long (same scenario, so the same edges) shows it.

    python benchmarks/throughput.py                 # 1M lines
    python benchmarks/throughput.py --lines 200000  # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


def simulated(lines: int, scenario: str) -> Path:
    target = DATA / f"{scenario}-{lines}"
    flows = target / "flows"
    if not flows.exists():
        subprocess.run(
            [sys.executable, "-m", "learner.cli", "simulate", "--scenario", scenario,
             "--lines", str(lines), "-o", str(target)],
            check=True,
        )  # fmt: skip
    return flows


def count_lines(path: Path) -> int:
    return sum(sum(1 for _ in f.open("rb")) for f in sorted(path.glob("*.jsonl")))


def timed_generate(flows: Path, learner: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(
            [sys.executable, "-m", "learner.cli", "generate", str(flows), "-o", f"{tmp}/out",
             "--learner", learner],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter() - start
        edges = json.loads(Path(f"{tmp}/out/report.json").read_text())["edges"]
    return {
        "wall": wall,
        "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "peak_rss_mb": after.ru_maxrss / 1024,
        "edges": edges,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--scenario", default="mixed")
    parser.add_argument("--learner", default="least-privilege")
    args = parser.parse_args()
    os.chdir(HERE.parent)
    flows = simulated(args.lines, args.scenario)
    lines = count_lines(flows)
    result = timed_generate(flows, args.learner)
    print(f"{lines:,} lines, {result['edges']:,} edges ({args.scenario}, {args.learner})")
    print(f"  wall {result['wall']:.1f} s = {lines / result['wall']:,.0f} lines/s")
    print(f"  cpu  {result['cpu']:.1f} s = {lines / result['cpu']:,.0f} lines/s (one core)")
    print(f"  peak RSS {result['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
