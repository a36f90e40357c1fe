"""The package as a user installs it: a wheel in a clean virtualenv, and the kubectl plugin.

These tests build the wheel with the same pip a user has, install it into a new virtualenv
(dependencies come from the package index or pip's cache) and run the installed executables
from outside the checkout, so nothing is imported from the source tree by accident.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_FLOWS = ROOT / "examples" / "flows" / "learning.jsonl"


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{cmd} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the project installed from a freshly built wheel; its bin dir."""
    work = tmp_path_factory.mktemp("wheel")
    wheels = work / "dist"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        cwd=work,
    )
    (wheel,) = wheels.glob("netpol_learner-*.whl")
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    _run([str(bin_dir / "pip"), "install", "--quiet", str(wheel)], cwd=work)
    return bin_dir


def test_wheel_reports_its_version(installed: Path, tmp_path: Path) -> None:
    out = _run([str(installed / "netpol-learner"), "--version"], cwd=tmp_path)
    assert out.startswith("netpol-learner ")
    assert "unknown" not in out


def test_wheel_generates_policies_outside_the_checkout(installed: Path, tmp_path: Path) -> None:
    flows = tmp_path / "flows.jsonl"
    shutil.copy(EXAMPLE_FLOWS, flows)
    _run(
        [str(installed / "netpol-learner"), "generate", str(flows), "--output-dir", "out"],
        cwd=tmp_path,
    )
    written = sorted(p.name for p in (tmp_path / "out").rglob("*.yaml"))
    assert "kustomization.yaml" in written
    assert len(written) > 1


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_runs_the_plugin(installed: Path, tmp_path: Path) -> None:
    env = dict(os.environ, PATH=f"{installed}{os.pathsep}{os.environ.get('PATH', '')}")
    listed = _run(["kubectl", "plugin", "list", "--name-only"], cwd=tmp_path, env=env)
    assert "kubectl-netpol" in listed
    out = _run(["kubectl", "netpol", "--help"], cwd=tmp_path, env=env)
    assert out.startswith("usage: kubectl netpol")
    assert "generate" in out
