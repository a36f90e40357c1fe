"""The executable's exit: the status, buffered output and exit handlers survive skipping the
interpreter's teardown (learner/cli/program.py, exit_process)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import IO

from tests.outputs.report.test_proposal_report import real_samples

BUFFERED = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
"""The environment with Python's output buffered, as a command run from a shell has it."""


def run_python(
    code: str, tmp_path: Path, stdout: int | IO[str] = subprocess.PIPE
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=BUFFERED,
        check=False,
    )


def test_status_buffered_output_and_exit_handlers_survive(tmp_path: Path) -> None:
    marker = tmp_path / "handler-ran"
    done = run_python(
        f"""
        import atexit, logging, sys
        from learner.cli.program import exit_process
        logging.basicConfig(filename={str(tmp_path / "log.txt")!r})
        logging.getLogger("x").warning("kept")
        atexit.register(lambda: open({str(marker)!r}, "w").write("ran"))
        print("wrote 3 policies")  # to a pipe: held in Python's buffer until it is flushed
        sys.stderr.write("last words")
        exit_process(5)
        """,
        tmp_path,
    )
    assert done.returncode == 5
    assert done.stdout == "wrote 3 policies\n"
    assert done.stderr == "last words"
    assert marker.read_text() == "ran"
    assert "kept" in (tmp_path / "log.txt").read_text()


def test_a_running_thread_gets_the_usual_exit_which_waits_for_it(tmp_path: Path) -> None:
    done = run_python(
        """
        import threading, time, sys
        from learner.cli.program import exit_process
        def late():
            time.sleep(0.2)
            sys.stdout.write("thread finished")
        threading.Thread(target=late).start()
        exit_process(3)
        """,
        tmp_path,
    )
    assert done.returncode == 3
    assert done.stdout == "thread finished"


def test_a_reader_that_went_away_is_not_an_error(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will read what the command writes
    try:
        done = run_python(
            """
            import sys
            from learner.cli.program import exit_process
            sys.stdout.write("x" * 10)
            exit_process(0)
            """,
            tmp_path,
            stdout=write_end,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 0
    assert done.stderr == ""


def test_python_m_runs_the_command_with_its_status(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "learner.cli", "generate", str(real_samples()), "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout
    assert (out / "kustomization.yaml").exists()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    failed = subprocess.run(
        [sys.executable, "-m", "learner.cli", "generate", str(empty), "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert failed.returncode == 5
    assert "Traceback" not in failed.stderr


def test_output_lost_at_exit_is_said_and_fails_the_command(tmp_path: Path) -> None:
    with open("/dev/full", "w") as full:  # every write fails: no space left
        done = run_python(
            """
            from learner.cli.program import exit_process
            print("wrote 3 policies")
            exit_process(0)
            """,
            tmp_path,
            stdout=full,
        )
    assert done.returncode == 120  # what Python's own exit gives
    assert "cannot write the output" in done.stderr
