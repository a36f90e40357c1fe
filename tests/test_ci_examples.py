"""examples/ci/: the workflows are valid, and every netpol-learner command in them works.

The GitHub workflows are checked against the GitHub Actions workflow schema that
check-jsonschema ships (offline); the GitLab file is parsed and its jobs checked for shape.
Each ``netpol-learner`` command line is taken out of the scripts, its variables filled in, and
run through our parser; the diff gate is run for real on the bundled capture.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator

from learner.app.console import Env
from learner.cli.program import build_parser, main
from learner.model.errors import ExitStatus
from tests.outputs.report.test_proposal_report import real_samples

CI = Path(__file__).resolve().parent.parent / "examples" / "ci"
GITHUB = sorted((CI / "github").glob("*.yml"))
GITLAB = CI / "gitlab" / ".gitlab-ci.yml"


def load(path: Path) -> dict[str, object]:
    # YAML 1.1 reads the key `on` as True; GitHub reads it as the string "on"
    document: dict[object, object] = yaml.load(path.read_text(), Loader=yaml.BaseLoader)
    return {str(key): value for key, value in document.items()}


def scripts() -> Iterator[tuple[str, str]]:
    for path in GITHUB:
        for job in load(path)["jobs"].values():  # type: ignore[attr-defined]
            for step in job["steps"]:
                if "run" in step:
                    yield path.name, step["run"]
    for name, job in load(GITLAB).items():
        if isinstance(job, dict) and "script" in job:
            for line in job["script"]:
                assert isinstance(line, str), f"{name}: a script line YAML reads as {line!r}"
                yield f".gitlab-ci.yml {name}", line


def commands() -> list[tuple[str, str]]:
    found = []
    for where, script in scripts():
        joined = script.replace("\\\n", " ")
        for line in joined.splitlines():
            match = re.search(r"(?:^|[;&|]\s*)(netpol-learner\s[^;&|]*)", line.strip())
            if match:
                found.append((where, match[1].strip()))
    return found


VARIABLES = {
    "POLICY_DIR": "policies",
    "RUNNER_TEMP": "/tmp/runner",
}


def argv_of(command: str) -> list[str]:
    expanded = re.sub(r"\$\{?(\w+)\}?", lambda m: VARIABLES.get(m[1], m[0]), command)
    return shlex.split(expanded)[1:]


def test_there_are_the_two_workflows_for_each_forge() -> None:
    assert [p.name for p in GITHUB] == ["netpol-diff.yml", "netpol-proposal.yml"]
    subcommands = {argv_of(command)[0] for _, command in commands()}
    assert subcommands == {"generate", "diff"}
    assert {where.split()[0] for where, _ in commands()} == {
        "netpol-diff.yml", "netpol-proposal.yml", ".gitlab-ci.yml",
    }  # fmt: skip


@pytest.mark.parametrize("path", GITHUB, ids=lambda p: p.name)
def test_github_workflows_match_the_workflow_schema(path: Path) -> None:
    pytest.importorskip("check_jsonschema", reason="the workflow schema ships with it")
    schema_file = (
        resources.files("check_jsonschema") / "builtin_schemas/vendor/github-workflows.json"
    )
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    document = yaml.safe_load(path.read_text())
    document["on"] = document.pop(True)  # see load()
    errors = sorted(Draft7Validator(schema).iter_errors(document), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def test_gitlab_jobs_have_rules_and_scripts() -> None:
    document = load(GITLAB)
    jobs = {name: job for name, job in document.items() if name not in {"variables", "default"}}
    assert set(jobs) == {"propose", "diff"}
    for job in jobs.values():
        assert isinstance(job, dict) and job["script"] and job["rules"]
    assert "schedule" in str(jobs["propose"]["rules"])  # type: ignore[index]
    assert "merge_request_event" in str(jobs["diff"]["rules"])  # type: ignore[index]


@pytest.mark.parametrize(("where", "command"), commands(), ids=lambda x: x[:40])
def test_every_command_parses_with_current_non_deprecated_flags(where: str, command: str) -> None:
    argv = argv_of(command)
    args = build_parser().parse_args(argv)  # argparse exits on an unknown flag
    assert getattr(args, "legacy_flows", None) is None, where
    assert getattr(args, "output", None) in (None, "yaml", "json", "text"), where


def run(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    return main(list(argv), env=Env(io.StringIO(), err)), err.getvalue()


def diff_gate(where: str) -> list[str]:
    return next(argv_of(c) for w, c in commands() if w.startswith(where) and " diff " in c)


@pytest.mark.parametrize("where", ["netpol-diff.yml", ".gitlab-ci.yml"])
def test_the_diff_gate_exits_as_the_workflows_expect(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = diff_gate(where)
    current = argv[argv.index("--current") + 1]
    proposed = argv[argv.index("--proposed") + 1]
    flows = [a for a in argv[1:] if not a.startswith("-") and a in ("flows/", "flows")][0]
    shutil.copytree(real_samples(), tmp_path / flows)
    status, err = run("generate", flows, "--output-dir", proposed, "--cni", "generic")
    assert status == ExitStatus.SUCCESS, err
    os.makedirs(current, exist_ok=True)
    shutil.rmtree(current)
    shutil.copytree(proposed, current)

    same, err = run(*argv, "--cni", "generic")
    assert same == 0 and (tmp_path / "review" / "report.md").is_file(), err

    (tmp_path / current / "kustomization.yaml").unlink()  # the base admits everything...
    for manifest in (tmp_path / current).rglob("*.yaml"):
        manifest.unlink()
    shutil.rmtree(proposed)  # ...and the PR brings a default deny with nothing allowed
    os.makedirs(proposed)
    (tmp_path / proposed / "deny.yaml").write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: deny, namespace: bookinfo}\n"
        "spec: {podSelector: {}, policyTypes: [Ingress, Egress]}\n"
    )
    blocked, err = run(*argv, "--cni", "generic")
    assert blocked == 1 == ExitStatus.FINDINGS, err


@pytest.mark.parametrize("path", [CI / "github" / "netpol-proposal.yml", GITLAB], ids=str)
def test_the_proposal_reads_the_report_where_generate_writes_it(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    if path == GITLAB:  # the propose job only: the diff job writes its own review/report.md
        text = "\n".join(load(GITLAB)["propose"]["script"])  # type: ignore[index]
    else:
        text = re.sub(r"\$\{\{ env\.(\w+) \}\}", r"${\1}", path.read_text())
    reports = {
        argv_of("x " + m)[0] for m in re.findall(r"[\"']?[$\w{}./-]*report\.md[\"']?", text)
    } - {"report.md"}
    assert reports, f"{path.name} names no report.md path"
    shutil.copytree(real_samples(), tmp_path / "flows")
    status, err = run(
        "generate", "flows", "--output-dir", VARIABLES["POLICY_DIR"], "--cni", "generic"
    )
    assert status == ExitStatus.SUCCESS, err
    for report in reports:
        assert (tmp_path / report).is_file(), (
            f"{path.name} reads {report}, which generate does not write"
        )
