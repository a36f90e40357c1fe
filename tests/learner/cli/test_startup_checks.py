"""``learn`` refuses a bad server address or output directory before it connects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from learner.cli.startup_checks import check_output_directory, check_server_address
from learner.model.errors import UsageError

REPO = Path(__file__).resolve().parents[3]


def learn(tmp_path: Path, server: str, output: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "learner.cli", "learn", "--server", server,
         "--state", str(tmp_path / "state.db"), "-o", str(output),
         "--timeout", "1s", "--max-reconnects", "1", "--reconnect-backoff", "10ms"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_an_empty_port_is_refused_before_dialling(tmp_path: Path) -> None:
    done = learn(tmp_path, "127.0.0.1:", tmp_path / "out")
    assert done.returncode == 2, done.stderr
    assert "--server '127.0.0.1:'" in done.stderr
    assert "port" in done.stderr
    assert not (tmp_path / "state.db").exists()


def test_an_output_path_that_is_a_file_is_refused_at_start(tmp_path: Path) -> None:
    occupied = tmp_path / "proposal"
    occupied.write_text("not a directory\n")
    done = learn(tmp_path, "127.0.0.1:1", occupied)
    assert done.returncode == 2, done.stderr
    assert "not a directory" in done.stderr
    assert not (tmp_path / "state.db").exists()


@pytest.mark.parametrize(
    "server",
    ["localhost:4245", "tls://relay.kube-system.svc:443", "relay", "[::1]:4245", "[::1]",
     "unix:///var/run/cilium/hubble.sock", "127.0.0.1:65535"],
)  # fmt: skip
def test_good_addresses_pass(server: str) -> None:
    check_server_address(server)


@pytest.mark.parametrize(
    "server",
    ["127.0.0.1:", ":4245", "127.0.0.1:0", "127.0.0.1:70000", "127.0.0.1:http",
     "http://relay:80", "unix://", "[::1", "[::1]4245", "::1:4245", "tls://"],
)  # fmt: skip
def test_bad_addresses_are_usage_errors(server: str) -> None:
    with pytest.raises(UsageError, match="--server"):
        check_server_address(server)


def test_a_missing_output_directory_is_created(tmp_path: Path) -> None:
    check_output_directory(str(tmp_path / "a" / "b"))
    assert (tmp_path / "a" / "b").is_dir()
