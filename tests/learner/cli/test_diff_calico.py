"""``diff`` between hand-written Calico policies and a generated StagedNetworkPolicy set, learned
from Calico flow logs: the staged proposal is judged as if enforced."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from learner.app.console import Env
from learner.cli.program import main
from learner.model.errors import ExitStatus

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "calico"
FLOWS = FIXTURES / "valid" / "handwritten_enterprise-level2-shop.jsonl"
CURRENT = FIXTURES / "policies" / "current-shop.yaml"
FRONTEND = "pod:shop/app=frontend"
API = "pod:shop/app=api,tier=backend"


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), env=Env(out, err))
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("calico") / "staged"
    status, _, err = run_cli(
        "generate",
        str(FLOWS),
        "--output-dir",
        str(out),
        "--format",
        "calico-staged",
        "--source",
        "calico",
    )
    assert status == ExitStatus.SUCCESS, err
    return out


@pytest.fixture(scope="module")
def diff(staged: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    report = tmp_path_factory.mktemp("report")
    status, out, err = run_cli(
        "diff", "--current", str(CURRENT), "--proposed", str(staged),
        str(FLOWS), "--report", str(report),
    )  # fmt: skip
    assert status == ExitStatus.SUCCESS, err
    data: dict[str, Any] = json.loads((report / "report.json").read_text())["diff"]
    return data, out


def test_the_generated_set_is_staged(staged: Path) -> None:
    api = yaml.safe_load((staged / "shop" / "api.yaml").read_text())
    assert api["kind"] == "StagedNetworkPolicy" and api["spec"]["stagedAction"] == "Set"


def test_connections_the_current_policies_deny_become_allowed(
    diff: tuple[dict[str, Any], str],
) -> None:
    data, out = diff
    allowed = {change["edge"]: change for change in data["newly_allowed"]}
    frontend_api = allowed[f"{FRONTEND} -> {API} 8080/TCP"]
    # The hand-written api policy admits only the gateway (its Log rule decides nothing).
    assert "isolated for ingress by shop/api" in frontend_api["current"]
    assert "ingress allowed by shop/api" in frontend_api["proposed"]
    assert frontend_api["flows"] == 13
    assert f"ALLOWED {FRONTEND} -> {API} 8080/TCP" in out


def test_connections_the_proposal_leaves_out_become_blocked(
    diff: tuple[dict[str, Any], str],
) -> None:
    data, out = diff
    blocked = {change["edge"] for change in data["newly_blocked"]}
    # Egress to an address-less network set cannot be learned as a rule; today the egress
    # policy (after the security tier passes) allows it. Egress to Calico's aggregated "pub"
    # is learned as "any public address" and so is not newly blocked.
    assert blocked == {f"{API} -> world 22/TCP"}
    for change in data["newly_blocked"]:
        assert "shop/egress-but-metadata egress rule 2" in change["current"]
    assert f"BLOCKED {API} -> world 22/TCP" in out
    assert f"BLOCKED {API} -> world 443/TCP" not in out


def test_unchanged_connections_are_counted(diff: tuple[dict[str, Any], str]) -> None:
    data, _ = diff
    assert data["unchanged"] >= 1
    assert data["files"]["added"]
