"""A Calico export at the default aggregation (addresses outside the cluster hidden as
``pub``/``pvt``) is learned and written: the self-check does not judge a hidden end by an
address it does not have, and the report says which edges it left to the hidden space."""

from __future__ import annotations

import io
from pathlib import Path

from learner.app.console import Env
from learner.cli.program import main


def run(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    status = main(list(argv), env=Env(io.StringIO(), err))
    return status, err.getvalue()


def test_default_calico_aggregation_is_learned_and_reported(tmp_path: Path) -> None:
    export = tmp_path / "export"
    status, err = run(
        "simulate", "--output-dir", str(export), "--source", "calico", "--lines", "6000"
    )
    assert status == 0, err
    flows = export / "flows" / "learning.jsonl"
    assert '"pvt"' in flows.read_text()
    out = tmp_path / "out"
    status, err = run("generate", str(flows), "--output-dir", str(out))
    assert status == 0, err
    report = (tmp_path / "out-report" / "report.md").read_text()
    assert "whose address (outside the cluster, or a node's) Calico's aggregation hid" in report
    assert "allowed any private address outside the cluster" in report


def test_nodes_whose_address_calico_hid_are_learned_not_a_self_check_failure(
    tmp_path: Path,
) -> None:
    """Prometheus scraping every node, logged at the default aggregation: each node is a host
    endpoint with no address. This used to stop the run with a self-check failure."""
    export = tmp_path / "export"
    status, err = run(
        "simulate", "--output-dir", str(export), "--source", "calico", "--lines", "6000",
        "--scenario", "node-autoscaling",
    )  # fmt: skip
    assert status == 0, err
    flows = export / "flows" / "learning.jsonl"
    assert '"dest_type":"hep"' in flows.read_text()
    status, err = run("generate", str(flows), "--output-dir", str(tmp_path / "out"))
    assert status == 0, err
    report = (tmp_path / "out-report" / "report.md").read_text()
    assert "(nodes): the node network is taken as every RFC 1918 range" in report
