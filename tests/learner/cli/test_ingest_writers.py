"""One writer per state file, and content recognised however it arrives (issue 11, items 2, 5).

Real processes: a first ``ingest`` reads from a pipe the test keeps open, so it holds the state
file for as long as the test wants; a second ``ingest`` on the same state file meanwhile must be
refused, and the first one's flows must all arrive.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
from pathlib import Path

from learner.ingest.state import StateStore
from tests.hubble_server import REAL_CAPTURE

ROOT = Path(__file__).resolve().parents[3]
TCP = REAL_CAPTURE / "basic-sample-400-tcp-flows.jsonl"
DNS = REAL_CAPTURE / "basic-sample-330-dns-flows.jsonl"


def cli(*argv: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "learner.cli", *argv],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        timeout=300,
        check=False,
    )


def flows_in(state: Path) -> int:
    with StateStore(str(state)) as saved:
        return saved.counters()["collector.flows"]


def test_a_second_writer_is_refused_while_the_first_runs(tmp_path: Path) -> None:
    state = tmp_path / "learn.db"
    first = subprocess.Popen(
        [sys.executable, "-m", "learner.cli", "ingest", "-", "--state", str(state)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert first.stdin is not None
    lock = Path(str(state) + ".lock")
    deadline = time.monotonic() + 120
    while not (lock.exists() and lock.read_text().startswith("pid")):
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    first.stdin.write(TCP.read_bytes())
    first.stdin.flush()

    second = cli("ingest", str(DNS), "--state", str(state))
    assert second.returncode == 2
    message = second.stderr.decode()
    assert "in use by another netpol-learner" in message
    assert f"pid {first.pid}, ingest" in message

    first.stdin.close()
    assert first.wait(timeout=300) == 0, first.stderr.read() if first.stderr else ""
    assert flows_in(state) == 400

    third = cli("ingest", str(DNS), "--state", str(state))
    assert third.returncode == 0, third.stderr
    assert flows_in(state) == 730


def test_a_gz_copy_and_stdin_are_recognised_as_already_ingested(tmp_path: Path) -> None:
    state = tmp_path / "learn.db"
    copy = tmp_path / "copy.jsonl.gz"
    copy.write_bytes(gzip.compress(TCP.read_bytes()))
    assert cli("ingest", str(TCP), "--state", str(state)).returncode == 0
    again = cli("ingest", str(copy), "--state", str(state))
    assert again.returncode == 0
    assert b"already ingested" in again.stderr
    piped = cli("ingest", "-", "--state", str(state), stdin=TCP.read_bytes())
    assert piped.returncode == 0
    assert b"already ingested" in piped.stderr
    assert flows_in(state) == 400


def test_gzip_on_stdin_is_read_as_gzip(tmp_path: Path) -> None:
    state = tmp_path / "learn.db"
    piped = cli("ingest", "-", "--state", str(state), stdin=gzip.compress(TCP.read_bytes()))
    assert piped.returncode == 0, piped.stderr
    assert b"malformed" not in piped.stderr
    assert flows_in(state) == 400
    out = tmp_path / "out"
    generated = cli("generate", "-", "-o", str(out), stdin=gzip.compress(TCP.read_bytes()))
    assert generated.returncode == 0, generated.stderr
    assert b"400 flows" in generated.stdout + generated.stderr
    assert any(out.rglob("*.yaml"))


def test_the_lock_file_sits_beside_the_state(tmp_path: Path) -> None:
    state = tmp_path / "learn.db"
    assert cli("ingest", str(TCP), "--state", str(state)).returncode == 0
    assert os.path.exists(str(state) + ".lock")


def test_learn_is_refused_while_another_process_writes_the_state(tmp_path: Path) -> None:
    state, out = tmp_path / "learn.db", tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-m", "learner.cli", "ingest", "-", "--state", str(state)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert holder.stdin is not None
    lock = Path(str(state) + ".lock")
    deadline = time.monotonic() + 120
    while not (lock.exists() and lock.read_text().startswith("pid")):
        assert holder.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    learner = cli("learn", "--server", "127.0.0.1:1", "--state", str(state), "-o", str(out))
    holder.stdin.close()
    assert holder.wait(timeout=300) == 0
    assert learner.returncode == 2
    assert b"in use by another netpol-learner" in learner.stderr


def test_ingest_reports_dropped_labels(tmp_path: Path) -> None:
    flows = tmp_path / "flows.jsonl"
    flows.write_text(TCP.read_text().replace('"k8s:app=productpage"', '"k8s:app=product page"'))
    result = cli("ingest", str(flows), "--state", str(tmp_path / "learn.db"))
    assert result.returncode == 0
    assert b"invalid pod label app='product page' dropped" in result.stderr
