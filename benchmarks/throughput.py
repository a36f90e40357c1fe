"""Throughput and memory of the batch spine: ``generate`` over a large Hubble export.

Generates an export with the project's simulator (once, cached under benchmarks/data/), then
runs ``netpol-learner generate`` on it in a fresh process per run and reports lines/s (wall
and CPU) and peak RSS. Memory must grow with distinct edges, not lines: the second run on a
file twice as long (same scenario, so the same edges) shows it.

    python benchmarks/throughput.py                 # 1M lines
    python benchmarks/throughput.py --lines 200000  # quicker

``--realistic`` uses lines shaped like real captures instead (benchmarks/realistic.py: full
label sets, namespace labels, L7 records, ~1.5 KB a line), also as ``.gz``, and measures the
in-process read+normalise+aggregate rate on one core. ``--peer DIR`` points to a virtualenv
holding hubble-audit2policy (``python3 -m venv DIR && DIR/bin/pip install
hubble-audit2policy``); the peer then runs on the same file in the same run and the ratio of
wall times is printed (for a simulated cluster, on its learning day's file).

    python benchmarks/throughput.py --realistic --lines 1000000 --peer /tmp/a2p
"""

from __future__ import annotations

import argparse
import compileall
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
sys.path.insert(0, str(HERE.parent))

from benchmarks.realistic import SHAPE  # noqa: E402


def simulated(lines: int, scenario: str) -> Path:
    target = DATA / f"{scenario}-{lines}"
    flows = target / "flows"
    if not flows.exists():
        subprocess.run(
            [sys.executable, "-m", "learner.cli", "simulate", "--scenario", scenario,
             "--lines", str(lines), "--output-dir", str(target)],
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
            [sys.executable, "-m", "learner.cli", "generate", str(flows), "--output-dir",
             f"{tmp}/out", "--learner", learner],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter() - start
        edges = json.loads(Path(f"{tmp}/out-report/report.json").read_text())["edges"]
    return {
        "wall": wall,
        "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "peak_rss_mb": after.ru_maxrss / 1024,
        "edges": edges,
    }


def child(argv: list[str]) -> dict[str, float]:
    """Run one process; its own wall, CPU and peak RSS (not the largest of all children)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(argv)}")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


def core_rate(path: Path) -> tuple[int, float]:
    """Lines and CPU seconds of read+normalise+aggregate in this process, on one core."""
    from learner.app.pipeline import ingest, new_store, read_flows
    from learner.model.config import LearnConfig
    from learner.model.repeats import Repeats
    from learner.model.run_stats import CollectorStats, NormalizeStats

    config = LearnConfig()
    store = new_store(config)
    collected = CollectorStats()
    repeats = Repeats()  # as generate reads: repeated lines tallied
    start = time.process_time()
    flows = read_flows([str(path)], stats=collected, repeats=repeats)
    ingest(flows, store, config, NormalizeStats(), None, repeats)
    return collected.records, time.process_time() - start


def realistic(lines: int, gz: bool) -> Path:
    path = DATA / f"{SHAPE}-{lines}.jsonl{'.gz' if gz else ''}"
    if not path.exists():  # in a child: its memory must not count toward later children
        subprocess.run(
            [sys.executable, str(HERE / "realistic.py"), "--lines", str(lines), "-o", str(path)],
            check=True,
        )
    return path


def peer_run(venv: Path, path: Path, tmp: str) -> dict[str, float]:
    """hubble-audit2policy on ``path``: allowed flows to one file of policies, no cluster."""
    return child(
        [str(venv / "bin/hubble-audit2policy"), "--no-enrich", "--verdict", "FORWARDED",
         "--verdict", "AUDIT", "--single-file", f"{tmp}/peer.yaml", "-o", tmp, str(path)]
    )  # fmt: skip


def warm_page_cache(path: Path) -> None:
    with path.open("rb") as handle:
        while handle.read(1 << 24):
            pass


def report(label: str, lines: int, result: dict[str, float]) -> None:
    print(
        f"  {label:34} wall {result['wall']:6.1f} s  cpu {result['cpu']:6.1f} s  "
        f"peak RSS {result['peak_rss_mb']:5.0f} MB  ({lines / result['wall']:,.0f} lines/s)"
    )


def run_realistic(args: argparse.Namespace) -> None:
    learner = [sys.executable, "-m", "learner.cli", "generate"]
    for gz in (False, True):
        path = realistic(args.lines, gz)
        with tempfile.TemporaryDirectory() as tmp:
            print(f"{args.lines:,} realistic lines: {path} ({path.stat().st_size / 1e9:.2f} GB)")
            warm_page_cache(path)  # else the first tool timed pays for reading the disk
            ours = child([*learner, str(path), "--output-dir", f"{tmp}/ours"])
            report("netpol-learner generate (-j cores)", args.lines, ours)
            if not gz:  # one big plain file is cut into line ranges, one per core
                alone = child([*learner, str(path), "--output-dir", f"{tmp}/alone", "-j", "1"])
                report("netpol-learner generate -j 1", args.lines, alone)
            if args.peer and not gz:  # hubble-audit2policy reads plain files only
                peer = peer_run(Path(args.peer), path, tmp)
                report("hubble-audit2policy", args.lines, peer)
                print(
                    f"  ratio (ours / peer wall): {ours['wall'] / peer['wall']:.2f},"
                    f" with -j 1 {alone['wall'] / peer['wall']:.2f}"
                )
    # Last: a child forked after this process grew would inherit its peak RSS figure.
    count, cpu = core_rate(realistic(args.lines, gz=False))
    print(f"read+normalise+aggregate in one process, one core: {count / cpu:,.0f} lines/s")


def compile_packages() -> None:
    """Measure the tool as an install runs it: with its modules compiled. An editable install
    has none, and under PYTHONDONTWRITEBYTECODE every run would compile them again (~0.3 s)."""
    for package in ("learner", "collectors", "outputs"):
        compileall.compile_dir(package, quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--scenario", default="mixed")
    parser.add_argument("--learner", default="least-privilege")
    parser.add_argument("--realistic", action="store_true", help="real-capture-shaped lines")
    parser.add_argument("--peer", metavar="VENV", help="virtualenv with hubble-audit2policy")
    args = parser.parse_args()
    os.chdir(HERE.parent)
    sys.path.insert(0, str(HERE.parent))
    compile_packages()
    if args.realistic:
        run_realistic(args)
        return
    flows = simulated(args.lines, args.scenario)
    lines = count_lines(flows)
    result = timed_generate(flows, args.learner)
    print(f"{lines:,} lines, {result['edges']:,} edges ({args.scenario}, {args.learner})")
    print(f"  wall {result['wall']:.1f} s = {lines / result['wall']:,.0f} lines/s")
    print(f"  cpu  {result['cpu']:.1f} s = {lines / result['cpu']:,.0f} lines/s (one core)")
    print(f"  peak RSS {result['peak_rss_mb']:.0f} MB")
    if args.peer:  # the peer reads one file: both read the learning day alone
        run_side_by_side(flows / "learning.jsonl", Path(args.peer))


def run_side_by_side(path: Path, peer_venv: Path) -> None:
    lines = sum(1 for _ in path.open("rb"))
    print(f"{path} alone ({lines:,} lines), side by side with hubble-audit2policy:")
    warm_page_cache(path)
    with tempfile.TemporaryDirectory() as tmp:
        learner = [sys.executable, "-m", "learner.cli", "generate", str(path)]
        ours = child([*learner, "--output-dir", f"{tmp}/ours"])
        report("netpol-learner generate (-j cores)", lines, ours)
        alone = child([*learner, "--output-dir", f"{tmp}/alone", "-j", "1"])
        report("netpol-learner generate -j 1", lines, alone)
        peer = peer_run(peer_venv, path, tmp)
        report("hubble-audit2policy", lines, peer)
        print(
            f"  ratio (ours / peer wall): {ours['wall'] / peer['wall']:.2f},"
            f" with -j 1 {alone['wall'] / peer['wall']:.2f}"
        )


if __name__ == "__main__":
    main()
