"""The manifest directory holds only what ``kubectl apply -R -f``, ``kubectl kustomize`` and
Argo CD/Flux directory apps accept: Kubernetes objects and the kustomization. The report (and
learn's status.json) goes beside it, in ``--report-dir``."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from learner.app.console import Env
from learner.cli.program import main
from outputs.base import FORMATS

ROOT = Path(__file__).parents[3]
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def generate(*argv: str) -> None:
    env = Env(io.StringIO(), io.StringIO())
    assert main(["generate", *argv], env=env) == 0, env.stderr.getvalue()  # type: ignore[attr-defined]


def documents(path: Path) -> list[object]:
    text = path.read_text()
    if path.suffix == ".json":
        return [json.loads(text)]
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def assert_only_manifests(directory: Path) -> None:
    files = [p for p in directory.rglob("*") if p.is_file() and p.suffix in MANIFEST_SUFFIXES]
    assert files
    for path in files:
        for doc in documents(path):
            assert isinstance(doc, dict), path
            assert doc.get("apiVersion") and doc.get("kind"), f"{path} is not a Kubernetes object"
            if path.name == "kustomization.yaml":
                assert doc["kind"] == "Kustomization"
            else:
                assert doc["metadata"]["name"], path


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_manifest_directory_holds_only_kubernetes_objects(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    out = tmp_path / "policies"
    generate("examples/flows", "--inventory", "examples/inventory", "-o", str(out), "--format", fmt)
    assert_only_manifests(out)
    report = tmp_path / "policies-report"
    assert sorted(p.name for p in report.iterdir()) == [
        ".netpol-learner",
        "report.json",
        "report.md",
    ]


def test_report_dir_flag_puts_the_report_where_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    out, report = tmp_path / "repo" / "policies", tmp_path / "pr"
    generate("examples/flows", "-o", str(out), "--report-dir", str(report))
    assert (report / "report.md").read_text().startswith("#")
    assert not (tmp_path / "repo" / "policies-report").exists()
    assert_only_manifests(out)


def test_report_dir_inside_the_manifest_directory_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    env = Env(io.StringIO(), io.StringIO())
    out = tmp_path / "policies"
    argv = ["generate", "examples/flows", "-o", str(out), "--report-dir", str(out / "report")]
    assert main(argv, env=env) == 2
    assert "inside the manifest directory" in env.stderr.getvalue()  # type: ignore[attr-defined]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_kubectl_kustomize_builds_the_manifest_directory(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    out = tmp_path / "policies"
    generate("examples/flows", "--inventory", "examples/inventory", "-o", str(out), "--format", fmt)
    built = subprocess.run(
        ["kubectl", "kustomize", str(out)], capture_output=True, text=True, check=False
    )
    assert built.returncode == 0, built.stderr
    kinds = [doc["kind"] for doc in yaml.safe_load_all(built.stdout) if doc]
    written = sum(len(documents(p)) for p in out.rglob("*.yaml") if p.name != "kustomization.yaml")
    assert len(kinds) == written > 0
