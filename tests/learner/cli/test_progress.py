"""Progress as users see it: the real command line on real flow files, with stderr a pipe (CI
logs: plain lines), a pseudo-terminal (one line redrawn in place) or silenced by ``--quiet``."""

from __future__ import annotations

import fcntl
import gzip
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PERCENT = re.compile(r"^reading flows: (\d+)% \(", re.MULTILINE)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "learner.cli", *args]


def simulated(root: Path, lines: int) -> Path:
    """Two windows of simulated Hubble flows, gzip-compressed."""
    subprocess.run(
        cli("simulate", "--lines", str(lines), "--gzip", "--output-dir", str(root / "sim")),
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    return root / "sim" / "flows"


@pytest.fixture(scope="module")
def flows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 12,000 lines (1 MB): a dozen progress reports at interval 0."""
    return simulated(tmp_path_factory.mktemp("progress"), 12_000)


def run_piped(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        cli(*args),
        cwd=REPO,
        input=None if stdin is None else stdin,
        capture_output=True,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


def percentages(stderr: str) -> list[int]:
    return [int(found) for found in PERCENT.findall(stderr)]


def assert_climbs_to_100(stderr: str) -> None:
    seen = percentages(stderr)
    assert len(seen) >= 3, stderr
    assert seen == sorted(seen), seen
    assert seen[-1] == 100 and seen[0] < 100, seen
    assert "\r" not in stderr  # plain lines for a log, nothing redrawn


def test_generate_on_gzip_files_prints_plain_lines_climbing_to_100_percent(
    flows: Path, tmp_path: Path
) -> None:
    done = run_piped("generate", str(flows), "--output-dir", str(tmp_path / "out"),
                     "--progress-interval", "0")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert_climbs_to_100(done.stderr)
    # The total is the files' size as stored, so compressed bytes measure a .gz.
    stored = sum(path.stat().st_size for path in flows.glob("*.gz"))
    last = [line for line in done.stderr.splitlines() if line.startswith("reading flows: 100%")]
    assert len(last) == 1
    assert re.search(r"about \S+ left", done.stderr)  # an estimate while under way
    assert "left" not in last[0]
    assert f"{stored / 1024 / 1024:.2f}MB" in last[0]


def test_the_parallel_path_sums_what_its_workers_report(flows: Path, tmp_path: Path) -> None:
    done = run_piped("generate", str(flows), "--output-dir", str(tmp_path / "out"), "-j", "2",
                     "--progress-interval", "0")  # fmt: skip
    assert done.returncode == 0, done.stderr
    seen = percentages(done.stderr)
    assert seen == sorted(seen) and seen[-1] == 100, done.stderr


def test_verify_ingest_and_diff_show_the_same_progress(flows: Path, tmp_path: Path) -> None:
    generated = run_piped("generate", str(flows), "--output-dir", str(tmp_path / "out"), "-q")
    assert generated.returncode == 0, generated.stderr
    runs = {
        "verify": ("verify", "--policies", str(tmp_path / "out"), str(flows)),
        "ingest": ("ingest", str(flows), "--state", str(tmp_path / "state.db")),
        "diff": ("diff", "--current", str(tmp_path / "out"), "--proposed",
                 str(tmp_path / "out"), str(flows)),
    }  # fmt: skip
    for name, args in runs.items():
        done = run_piped(*args, "--progress-interval", "0")
        assert done.returncode in (0, 1), (name, done.stderr)
        assert_climbs_to_100(done.stderr)


def test_standard_input_has_no_size_so_it_gets_a_count_and_a_rate(
    flows: Path, tmp_path: Path
) -> None:
    data = b"".join(gzip.decompress(path.read_bytes()) for path in sorted(flows.glob("*.gz")))
    done = run_piped("generate", "-", "--output-dir", str(tmp_path / "out"),
                     "--progress-interval", "0", stdin=data)  # fmt: skip
    assert done.returncode == 0, done.stderr
    counts = re.findall(r"^reading flows: ([\d,]+) flows in \S+ \([\d,]+/s\)$", done.stderr, re.M)
    assert len(counts) >= 2, done.stderr
    numbers = [int(count.replace(",", "")) for count in counts]
    assert numbers == sorted(numbers)
    assert "%" not in "".join(line for line in done.stderr.splitlines() if "reading" in line)


def test_quiet_prints_no_progress(flows: Path, tmp_path: Path) -> None:
    done = run_piped("generate", str(flows), "--output-dir", str(tmp_path / "out"),
                     "--progress-interval", "0", "--quiet")  # fmt: skip
    assert done.returncode == 0
    assert "reading flows" not in done.stderr


def test_a_negative_interval_is_a_usage_error(flows: Path, tmp_path: Path) -> None:
    done = run_piped("generate", str(flows), "--output-dir", str(tmp_path / "out"),
                     "--progress-interval", "-1")  # fmt: skip
    assert done.returncode == 2
    assert "--progress-interval" in done.stderr


def read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: every writer of the terminal has gone
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_on_a_terminal_one_line_is_redrawn_in_place(flows: Path, tmp_path: Path) -> None:
    """At every update (--progress-interval 0), so that how fast reading is does not decide
    whether it was redrawn (it once was, and failed when reading got faster)."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen(
        cli(
            "generate",
            str(flows),
            "--output-dir",
            str(tmp_path / "out"),
            "--progress-interval",
            "0",
        ),  # fmt: skip
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=terminal,
    )
    os.close(terminal)
    try:
        shown = read_all(controller).decode(errors="replace")
    finally:
        os.close(controller)
    assert process.wait(timeout=120) == 0, shown
    drawn = [match.start() for match in re.finditer(r"\rreading flows: +\d+%", shown)]
    assert len(drawn) >= 2, shown
    # Every redraw returns to the start of the same line: no newline between them.
    assert "\n" not in shown[drawn[0] : drawn[-1]]
    assert re.search(r"\d+%\|.*\| [\d.]+\w?/[\d.]+\w? \[", shown), shown  # bar, bytes
    assert re.search(r"<\d\d:\d\d", shown), shown  # the estimate of time left
    # The line is cleared at the end, so the summary is not printed over a stale bar.
    after = shown[drawn[-1] :]
    assert re.search(r"\r\s*\r", after), repr(after)
