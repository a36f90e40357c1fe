from __future__ import annotations

import io
from pathlib import Path

from learner.app.console import Env
from learner.cli.program import main
from learner.ingest.state import StateStore, load_store
from tests.hubble_server import REAL_CAPTURE

TCP = str(REAL_CAPTURE / "basic-sample-400-tcp-flows.jsonl")
DNS = str(REAL_CAPTURE / "basic-sample-330-dns-flows.jsonl")


def run(*argv: str) -> tuple[int, str, str]:
    env = Env(io.StringIO(), io.StringIO())
    code = main(list(argv), env=env)
    return code, env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]


def test_ingest_adds_files_once_and_accumulates(tmp_path: Path) -> None:
    state = str(tmp_path / "learn.db")
    code, out, err = run("ingest", TCP, "--state", state)
    assert (code, err) == (0, "")
    assert out.startswith("ingested 1 of 1 inputs (0 already ingested): 400 flows")
    after_tcp = load_store(state)
    code, out, err = run("ingest", TCP, DNS, "--state", state)
    assert code == 0
    assert err == (
        f"netpol-learner: warning: {TCP}: already ingested (as {TCP}); skipped (use --force)\n"
    )
    assert "ingested 1 of 2 inputs (1 already ingested): 330 flows" in out
    both = load_store(state)
    assert set(after_tcp.edges) < set(both.edges)
    with StateStore(state) as saved:
        assert saved.counters()["collector.flows"] == 730


def test_forcing_a_second_ingest_counts_its_flows_again(tmp_path: Path) -> None:
    state = str(tmp_path / "learn.db")
    run("ingest", TCP, "--state", state)
    once = load_store(state)
    code, _, _ = run("ingest", TCP, "--state", state, "--force")
    assert code == 0
    twice = load_store(state)
    assert set(twice.edges) == set(once.edges)
    for key, stats in once.edges.items():
        assert twice.edges[key].count == 2 * stats.count


def test_a_missing_input_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run("ingest", str(tmp_path / "nope.jsonl"), "--state", str(tmp_path / "s.db"))
    assert code == 2
    assert err == f"netpol-learner: error: {tmp_path / 'nope.jsonl'}: no such file or directory\n"
