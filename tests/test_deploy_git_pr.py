"""deploy/git-pr: the learning-mode → PR component builds and its flags are ones learn takes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from learner.cli.git_options import git_target_from_args
from learner.cli.program import build_parser

COMPONENT = Path(__file__).resolve().parent.parent / "deploy" / "git-pr"


def learner_container() -> dict[str, object]:
    patch = yaml.safe_load((COMPONENT / "learner-git.yaml").read_text())
    container: dict[str, object] = patch["spec"]["template"]["spec"]["containers"][0]
    return container


def test_the_patched_arguments_parse_and_name_a_valid_git_target() -> None:
    args = build_parser().parse_args(learner_container()["args"])  # type: ignore[arg-type]
    target = git_target_from_args(args)
    assert target is not None and target.branch == "netpol-learner/proposal"
    assert target.workdir.startswith("/data/")  # on the volume, not the read-only root


def test_git_finds_the_mounted_credentials() -> None:
    container = learner_container()
    env = {e["name"]: e["value"] for e in container["env"]}  # type: ignore[attr-defined]
    mount = container["volumeMounts"][0]["mountPath"]  # type: ignore[index]
    assert f"{mount}/ssh-privatekey" in env["GIT_SSH_COMMAND"]
    assert f"{mount}/known_hosts" in env["GIT_SSH_COMMAND"]
    assert env["GIT_CONFIG_VALUE_0"].endswith(f"{mount}/git-credentials")
    secret = yaml.safe_load((COMPONENT / "git-credentials.yaml").read_text())
    assert set(secret["stringData"]) == {"ssh-privatekey", "known_hosts", "git-credentials"}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl for kustomize")
def test_an_overlay_with_the_component_builds(tmp_path: Path) -> None:
    shutil.copytree(COMPONENT.parent, tmp_path / "deploy")  # kustomize wants relative paths
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources: [../deploy]\ncomponents: [../deploy/git-pr]\n"
    )
    built = subprocess.run(
        ["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, check=False
    )
    assert built.returncode == 0, built.stderr
    documents = list(yaml.safe_load_all(built.stdout))
    kinds = {d["kind"] for d in documents}
    assert "Secret" in kinds
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    assert any(a.startswith("--git-repo=") for a in spec["containers"][0]["args"])
    assert {v["name"] for v in spec["volumes"]} >= {"data", "tmp", "git-credentials"}
