"""Wall time of ``generate --engine spark`` beside the local engine (``-j 2``) on one file.

Writes N realistic Hubble lines (benchmarks/realistic.py, ~1.5 KB each, cached under
benchmarks/data/), then times, each in a fresh process: the Spark engine on a tiny input
(its fixed start-up cost), the Spark engine on the N lines, and the local engine with
``-j 2``. From those it prints the per-line cost Spark pays once started, which is what
grows with executors (see docs/spark.md for the scaling example).

With ``--gzip`` the lines are written as rotated gzip files of 250,000 lines each (as an
exporter shipping to object storage leaves them; 10M plain lines would be ~16 GB): both engines
then read whole files, one per task or worker. Without it, one plain file, which Spark splits
into 128 MB blocks and the local engine reads on one worker.

    python benchmarks/spark.py --gzip                  # 2M lines
    python benchmarks/spark.py --gzip --lines 10000000
    python benchmarks/spark.py --lines 200000          # quicker, one plain file
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import realistic  # noqa: E402

DATA = ROOT / "benchmarks" / "data"
TINY = ROOT / "examples" / "flows"
ROTATE_LINES = 250_000


def timed(inputs: Path, *flags: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "learner.cli", "generate", str(inputs)]
        command += ["--output-dir", f"{tmp}/out", *flags]
        start = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")
        return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000, help="default 2M; try 10000000")
    parser.add_argument("--master", default="local[2]", help="Spark master (default local[2])")
    parser.add_argument(
        "--gzip", action="store_true", help="rotated .jsonl.gz files of 250,000 lines each"
    )
    args = parser.parse_args()

    if args.gzip:
        path = DATA / f"{realistic.SHAPE}-{args.lines}-gz"
        files = max(1, -(-args.lines // ROTATE_LINES))
        realistic.write_rotated(path, args.lines, 20, files)
    else:
        path = DATA / f"{realistic.SHAPE}-{args.lines}.jsonl"
        if not path.exists():
            realistic.write(path, args.lines, 20)
    load_before = os.getloadavg()
    spark = ["--engine", "spark", "--spark-master", args.master]
    startup = timed(TINY, *spark)
    spark_wall = timed(path, *spark)
    local_wall = timed(path, "-j", "2")
    load_after = os.getloadavg()
    size = sum(p.stat().st_size for p in [path, *path.rglob("*")] if p.is_file()) / 1e6
    per_line = (spark_wall - startup) / args.lines
    print(f"{args.lines:,} lines, {size:,.0f} MB: {path}")
    print(f"{'engine':<28}{'wall s':>10}{'lines/s':>12}")
    print(f"{'spark ' + args.master:<28}{spark_wall:>10.1f}{args.lines / spark_wall:>12,.0f}")
    print(f"{'local -j 2':<28}{local_wall:>10.1f}{args.lines / local_wall:>12,.0f}")
    print(f"spark start-up and tear-down (examples, 1.5k lines): {startup:.1f} s")
    print(f"spark cost per line once started: {per_line * 1e6:.1f} us on {args.master}")
    print(
        "load average (1, 5, 15 min) before: "
        + ", ".join(f"{x:.2f}" for x in load_before)
        + "; after: "
        + ", ".join(f"{x:.2f}" for x in load_after)
    )


if __name__ == "__main__":
    main()
