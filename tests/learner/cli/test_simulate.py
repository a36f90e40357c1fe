from __future__ import annotations

import gzip
import io
import json
import shlex
from pathlib import Path

import pytest

from learner.app.console import Env
from learner.cli.program import main
from learner.model.errors import ExitStatus

EXAMPLES = Path(__file__).parents[3] / "examples"
EXAMPLE_COMMAND = (
    "netpol-learner simulate --scenario shop --seed 1 --lines 1300 --output-dir examples"
)
"""How ``examples/`` was made; examples/README.md must say exactly this."""


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), env=Env(out, err))
    return status, out.getvalue(), err.getvalue()


def tree(path: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


def test_examples_are_what_the_command_writes(tmp_path: Path) -> None:
    assert EXAMPLE_COMMAND in (EXAMPLES / "README.md").read_text()
    argv = shlex.split(EXAMPLE_COMMAND)[1:-1] + [str(tmp_path)]
    status, out, err = run_cli(*argv)
    assert (status, err) == (ExitStatus.SUCCESS, "")
    written = tree(tmp_path)
    shipped = {
        name: data
        for name, data in tree(EXAMPLES).items()
        if name != "README.md" and not name.startswith("ci/")  # examples/ci: the CI workflows
    }
    assert sorted(written) == sorted(shipped)
    for name, data in written.items():
        assert data == shipped[name], f"examples/{name} differs: regenerate with {EXAMPLE_COMMAND}"
    assert sum(len(d) for d in shipped.values()) < 3_200_000


def test_output_layout_and_summary(tmp_path: Path) -> None:
    out_dir = tmp_path / "sim"
    status, out, _ = run_cli(
        "simulate", "--scenario", "cronjobs", "--lines", "600", "--output-dir", str(out_dir)
    )
    assert status == ExitStatus.SUCCESS
    assert sorted(tree(out_dir)) == [
        "flows/.netpol-learner",
        "flows/held-out.jsonl",
        "flows/learning.jsonl",
        "ground-truth.json",
        "inventory/.netpol-learner",
        "inventory/batch.yaml",
        "inventory/cert-manager.yaml",
        "inventory/ingress-nginx.yaml",
        "inventory/kube-system.yaml",
        "inventory/monitoring.yaml",
    ]
    truth = json.loads((out_dir / "ground-truth.json").read_text())
    assert truth["scenario"] == "cronjobs"
    assert truth["windows"]["learning"]["files"] == ["flows/learning.jsonl"]
    lines = len((out_dir / "flows/learning.jsonl").read_bytes().splitlines())
    assert f"wrote {lines:,} lines to {out_dir}/flows/learning.jsonl" in out
    assert "scenario cronjobs (seed 1)" in out


def test_gzip_and_rerun_replaces_what_it_wrote(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    argv = (
        "simulate",
        "--scenario",
        "label-styles",
        "--lines",
        "400",
        "--output-dir",
        str(tmp_path),
    )
    assert run_cli(*argv)[0] == ExitStatus.SUCCESS
    status, _, _ = run_cli(*argv, "--gzip")
    assert status == ExitStatus.SUCCESS
    flows = sorted(p.name for p in (tmp_path / "flows").iterdir())
    assert flows == [".netpol-learner", "held-out.jsonl.gz", "learning.jsonl.gz"]
    first = gzip.decompress((tmp_path / "flows/learning.jsonl.gz").read_bytes()).splitlines()[0]
    assert json.loads(first)["flow"]["verdict"]
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_include_volatile_labels(tmp_path: Path) -> None:
    argv = ["simulate", "--scenario", "shop", "--lines", "300", "--include-volatile-labels"]
    assert run_cli(*argv, "--output-dir", str(tmp_path))[0] == ExitStatus.SUCCESS
    assert b"k8s:pod-template-hash=" in (tmp_path / "flows/learning.jsonl").read_bytes()


@pytest.mark.parametrize("foreign", ["flows/x.jsonl", "inventory/mine.yaml", "ground-truth.json"])
def test_refuses_to_replace_what_it_did_not_write(tmp_path: Path, foreign: str) -> None:
    path = tmp_path / foreign
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")
    status, out, err = run_cli("simulate", "--lines", "100", "--output-dir", str(tmp_path))
    assert status == ExitStatus.USAGE and out == ""
    assert err.startswith("netpol-learner: error: ") and "refusing to replace" in err
    assert path.read_text() == "{}"


def test_usage_errors(tmp_path: Path) -> None:
    status, _, err = run_cli("simulate", "--lines", "100")
    assert status == ExitStatus.USAGE and "--output-dir DIR is required" in err
    status, _, err = run_cli("simulate", "--lines", "-5", "--output-dir", str(tmp_path))
    assert status == ExitStatus.USAGE and "--lines" in err
    with pytest.raises(SystemExit) as exit_info:
        run_cli("simulate", "--scenario", "nope", "--output-dir", str(tmp_path))
    assert exit_info.value.code == 2


def test_list_and_help() -> None:
    status, out, _ = run_cli("simulate", "--list")
    assert status == ExitStatus.SUCCESS
    assert [line.split()[0] for line in out.splitlines()] == sorted(
        ["shop", "many-replicas", "rollout", "cronjobs", "cross-namespace-monitoring",
         "external-ips", "address-pools", "label-styles", "failover", "node-autoscaling", "mixed"]
    )  # fmt: skip
    with pytest.raises(SystemExit):
        run_cli("simulate", "--help")


def test_help_gives_the_command_that_made_the_examples() -> None:
    from learner.cli.simulate import EXAMPLES as HELP_EXAMPLES

    assert EXAMPLE_COMMAND in HELP_EXAMPLES


def test_next_day_learns_a_whole_day_and_holds_out_the_next(tmp_path: Path) -> None:
    argv = ["simulate", "--scenario", "failover", "--lines", "800", "--next-day"]
    status, _, err = run_cli(*argv, "--output-dir", str(tmp_path))
    assert (status, err) == (ExitStatus.SUCCESS, "")
    windows = json.loads((tmp_path / "ground-truth.json").read_text())["windows"]
    assert windows["learning"] == {
        "start": "2026-03-02T00:00:00Z",
        "end": "2026-03-03T00:00:00Z",
        "files": ["flows/learning.jsonl"],
    }
    assert (windows["held_out"]["start"], windows["held_out"]["end"]) == (
        "2026-03-03T00:15:00Z",
        "2026-03-04T00:15:00Z",
    )
