from __future__ import annotations

import io
import json
from pathlib import Path

import yaml

from learner.app.console import Env
from learner.cli.program import main
from tests.hubble_server import HUBBLE_FIXTURES


def run(*argv: str) -> tuple[int, str, str]:
    env = Env(io.StringIO(), io.StringIO())
    code = main(list(argv), env=env)
    return code, env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]


def test_export_writes_policies_report_and_status_from_a_state_file(tmp_path: Path) -> None:
    state, out = str(tmp_path / "learn.db"), tmp_path / "proposal"
    report_dir = tmp_path / "proposal-report"
    assert run("ingest", str(HUBBLE_FIXTURES), "--state", state)[0] == 0
    code, stdout, stderr = run(
        "export", "--state", state, "--output-dir", str(out), "--stabilization-period", "10m"
    )
    assert (code, stderr) == (0, "")
    assert stdout.startswith("wrote ")
    status = json.loads((report_dir / "status.json").read_text())
    assert status["stabilization_period_seconds"] == 600
    assert sum(status["counts"].values()) == len(status["workloads"]) > 0
    policies = [
        doc
        for path in out.rglob("*.yaml")
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
    ]
    assert policies and all(doc["kind"] == "NetworkPolicy" for doc in policies)
    report = json.loads((report_dir / "report.json").read_text())
    assert set(report["workload_status"].values()) <= {"Learning", "Stabilizing", "Stable"}
    assert report["workload_status"]


def test_export_of_a_missing_state_is_a_usage_error(tmp_path: Path) -> None:
    code, _, stderr = run(
        "export", "--state", str(tmp_path / "none.db"), "--output-dir", str(tmp_path / "o")
    )
    assert code == 2
    assert "no such state file" in stderr
