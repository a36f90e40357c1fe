"""``ingest --cluster-cidr``: the peer cap knows the cluster's ranges, so private outside
addresses over the cap fold into their /24 (which cannot hold pods) rather than the whole
private class; a bad range is a usage error naming the flag."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from learner.model.errors import ExitStatus
from tests.hubble_records import record, tcp, write_lines
from tests.learner.cli.test_peer_cap import CLIENT, WORLD, run_cli


def private_flood(path: Path, count: int) -> Path:
    lines = [
        record(
            CLIENT,
            WORLD,
            tcp(40000, 443, SYN=True),
            destination_ip=f"10.0.{3 + i // 256}.{i % 256}",
        )
        for i in range(count)
    ]
    return write_lines(path, lines)


def stored_destinations(state: Path) -> list[str]:
    with sqlite3.connect(state) as db:
        return sorted(json.loads(row[0])[3] for row in db.execute("SELECT destination FROM edges"))


def test_ingest_folds_private_addresses_into_prefixes_outside_the_cluster(tmp_path: Path) -> None:
    flows = private_flood(tmp_path / "flows.jsonl", 300)
    known, unknown = tmp_path / "known.db", tmp_path / "unknown.db"
    cap = ("--max-external-peers", "100")
    status, _, err = run_cli(
        "ingest", str(flows), "--state", str(known), *cap, "--cluster-cidr", "10.244.0.0/16"
    )
    assert status == ExitStatus.SUCCESS, err
    status, _, err = run_cli("ingest", str(flows), "--state", str(unknown), *cap)
    assert status == ExitStatus.SUCCESS, err
    assert stored_destinations(known) == ["10.0.3.0/24", "10.0.4.0/24"]
    assert stored_destinations(unknown) == ["folded:pvt"]


def test_a_bad_cluster_range_is_a_usage_error(tmp_path: Path) -> None:
    flows = private_flood(tmp_path / "flows.jsonl", 3)
    status, _, err = run_cli(
        "ingest", str(flows), "--state", str(tmp_path / "s.db"), "--cluster-cidr", "10.0.0.0/99"
    )
    assert status == ExitStatus.USAGE
    assert "--cluster-cidr" in err


def test_ingest_help_documents_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run_cli("ingest", "--help")
    assert "--cluster-cidr CIDR" in capsys.readouterr().out
