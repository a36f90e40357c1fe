"""``--max-external-peers``: a flood of distinct outside addresses is folded, the same way in
``generate`` (one process and ``-j``), ``ingest`` (real SQLite) and ``export``; the policy still
covers every observed connection (the self-check runs) and the report says what was folded."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

from learner.app.console import Env
from learner.cli.program import main
from learner.model.errors import ExitStatus
from tests.hubble_records import pod_endpoint, record, reserved_endpoint, tcp, write_lines

CLIENT = pod_endpoint("shop", "client", identity=30001)
WORLD = reserved_endpoint("world", 2)


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), env=Env(out, err))
    return status, out.getvalue(), err.getvalue()


def flood(path: Path, count: int, first: int = 0) -> Path:
    """``count`` egress flows from one pod to distinct public addresses 11.0.x.y on 443."""
    lines = []
    for i in range(first, first + count):
        address = f"11.0.{i // 256}.{i % 256}"
        lines.append(record(CLIENT, WORLD, tcp(40000, 443, SYN=True), destination_ip=address))
    return write_lines(path, lines)


def policies(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*.yaml"))
        if p.is_file()
    }


def stored_edges(state: Path) -> list[str]:
    with sqlite3.connect(state) as db:
        return sorted(json.loads(row[0])[3] for row in db.execute("SELECT destination FROM edges"))


def test_generate_folds_a_flood_and_reports_it(tmp_path: Path) -> None:
    flows = flood(tmp_path / "flows.jsonl", 600)
    out = tmp_path / "out"
    status, _, err = run_cli(
        "generate", str(flows), "--output-dir", str(out), "--max-external-peers", "100"
    )
    assert status == ExitStatus.SUCCESS, err  # the self-check judged both ends of every block
    text = "".join(p.decode() for p in policies(out).values())
    assert "cidr: 11.0.0.0/23" in text and "cidr: 11.0.2.0/24" in text
    assert "11.0.0.7/32" not in text
    report = json.loads((tmp_path / "out-report" / "report.json").read_text())
    folded = [r for r in report["risks"] if r["kind"] == "folded-addresses"]
    assert len(folded) == 1
    assert "distinct addresses folded into 11.0.0.0/23, 11.0.2.0/24" in folded[0]["detail"]
    assert "raise --max-external-peers" in folded[0]["detail"]


def test_below_the_cap_nothing_changes(tmp_path: Path) -> None:
    flows = flood(tmp_path / "flows.jsonl", 50)
    for cap in ("0", "100"):
        status, _, err = run_cli(
            "generate", str(flows), "--output-dir", str(tmp_path / cap), "--max-external-peers", cap
        )
        assert status == ExitStatus.SUCCESS, err
    assert policies(tmp_path / "0") == policies(tmp_path / "100")
    report = json.loads((tmp_path / "100-report" / "report.json").read_text())
    assert not [r for r in report["risks"] if r["kind"] == "folded-addresses"]


def test_ingest_stores_the_folded_edges_and_export_matches_generate(tmp_path: Path) -> None:
    first = flood(tmp_path / "a.jsonl", 300)
    second = flood(tmp_path / "b.jsonl", 300, first=300)
    state = tmp_path / "s.db"
    for part in (first, second):
        status, _, err = run_cli(
            "ingest", str(part), "--state", str(state), "--max-external-peers", "100"
        )
        assert status == ExitStatus.SUCCESS, err
    assert stored_edges(state) == ["11.0.0.0/24", "11.0.1.0/24", "11.0.2.0/24"]
    exported, generated = tmp_path / "exp", tmp_path / "gen"
    status, _, err = run_cli(
        "export", "--state", str(state), "--output-dir", str(exported),
        "--max-external-peers", "100",
    )  # fmt: skip
    assert status == ExitStatus.SUCCESS, err
    status, _, err = run_cli(
        "generate", str(first), str(second), "--output-dir", str(generated),
        "--max-external-peers", "100", "-j", "2",
    )  # fmt: skip
    assert status == ExitStatus.SUCCESS, err
    assert policies(exported) == policies(generated)


def test_a_lower_cap_on_reload_folds_and_deletes_the_stored_rows(tmp_path: Path) -> None:
    state = tmp_path / "s.db"
    flows = flood(tmp_path / "a.jsonl", 300)
    status, _, err = run_cli("ingest", str(flows), "--state", str(state))  # default cap: no fold
    assert status == ExitStatus.SUCCESS, err
    assert len(stored_edges(state)) == 300
    more = flood(tmp_path / "b.jsonl", 10, first=300)
    status, _, err = run_cli(
        "ingest", str(more), "--state", str(state), "--max-external-peers", "100"
    )
    assert status == ExitStatus.SUCCESS, err
    assert stored_edges(state) == ["11.0.0.0/24", "11.0.1.0/24"]
    with sqlite3.connect(state) as db:
        flows_kept = db.execute("SELECT sum(egress_count) FROM edges").fetchone()[0]
    assert flows_kept == 310


def test_negative_cap_is_a_usage_error(tmp_path: Path) -> None:
    flows = flood(tmp_path / "flows.jsonl", 3)
    status, _, err = run_cli(
        "generate", str(flows), "--output-dir", str(tmp_path / "o"), "--max-external-peers", "-1"
    )
    assert status == ExitStatus.USAGE
    assert "--max-external-peers must be a whole number >= 0" in err


def test_too_many_prefixes_allow_any_public_address_and_say_so(tmp_path: Path) -> None:
    lines = [
        record(CLIENT, WORLD, tcp(40000, 443, SYN=True), destination_ip=f"11.0.{i}.9")
        for i in range(30)  # 30 distinct /24s, all in one /16 (no "internet" widening)
    ]
    flows = write_lines(tmp_path / "flows.jsonl", lines)
    out = tmp_path / "out"
    status, _, err = run_cli(
        "generate", str(flows), "--output-dir", str(out), "--max-external-peers", "10"
    )
    assert status == ExitStatus.SUCCESS, err
    text = "".join(p.decode() for p in policies(out).values())
    assert "cidr: 0.0.0.0/0" in text and "- 10.0.0.0/8" in text
    report = (tmp_path / "out-report" / "report.md").read_text()
    assert "more than 10 distinct addresses folded into any public address" in report
    assert "folded into a whole address class" in report


def test_a_diff_against_open_policies_blocks_no_folded_traffic(tmp_path: Path) -> None:
    """With no policy in force everything is allowed today; the proposal allows every folded
    block, so the diff must not call the folded traffic newly blocked."""
    flows = flood(tmp_path / "flows.jsonl", 300)
    current = tmp_path / "current"
    current.mkdir()
    (current / "README.md").write_text("no policies yet\n")
    out = tmp_path / "out"
    status, _, err = run_cli(
        "generate", str(flows), "--output-dir", str(out), "--max-external-peers", "100",
        "--current", str(current),
    )  # fmt: skip
    assert status == ExitStatus.SUCCESS, err
    report = json.loads((tmp_path / "out-report" / "report.json").read_text())
    assert not [r for r in report["risks"] if r["kind"] == "newly-blocked"], report["risks"]
