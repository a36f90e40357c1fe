"""-o names a format, --output-dir a directory (- for stdout); the old spellings still work."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
import yaml

from learner.app.console import Env
from learner.cli.program import main
from learner.model.errors import ExitStatus
from tests.outputs.report.test_proposal_report import real_samples


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), env=Env(out, err))
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "policies"
    status, _, err = run_cli("generate", str(real_samples()), "--output-dir", str(out))
    assert status == 0, err
    return out


def test_o_with_a_directory_still_works_with_a_deprecation_warning(tmp_path: Path) -> None:
    out = tmp_path / "policies"
    status, stdout, err = run_cli("generate", str(real_samples()), "-o", str(out))
    assert status == ExitStatus.SUCCESS
    assert f"use --output-dir {out}" in err and "deprecated" not in stdout
    assert (out / "kustomization.yaml").is_file()


def test_output_dir_dash_writes_one_yaml_stream_and_no_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policies: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    status, stdout, err = run_cli("generate", str(real_samples()), "--output-dir", "-")
    assert status == ExitStatus.SUCCESS
    assert not os.path.exists(tmp_path / "-")
    documents = [doc for doc in yaml.safe_load_all(stdout) if doc is not None]
    assert documents and all({"apiVersion", "kind", "metadata"} <= set(doc) for doc in documents)
    assert all(doc["kind"] != "Kustomization" for doc in documents)
    written = {
        (doc["kind"], doc["metadata"]["namespace"], doc["metadata"]["name"])
        for path in policies.rglob("*.yaml")
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    }
    streamed = {
        (doc["kind"], doc["metadata"]["namespace"], doc["metadata"]["name"]) for doc in documents
    }
    assert streamed == written
    assert "learned" in err  # the summary went to stderr, stdout is only YAML


def test_o_yaml_is_the_format_and_a_non_format_with_output_dir_is_refused(tmp_path: Path) -> None:
    out = str(tmp_path / "p")
    ok = run_cli("generate", str(real_samples()), "--output-dir", out, "-o", "yaml")
    assert ok[0] == ExitStatus.SUCCESS and "-o/--output" not in ok[2]
    status, _, err = run_cli("generate", str(real_samples()), "--output-dir", out, "-o", "json")
    assert status == ExitStatus.USAGE and "not a format (yaml)" in err


def test_learn_and_simulate_refuse_stdout(tmp_path: Path) -> None:
    status, _, err = run_cli("simulate", "--lines", "100", "--output-dir", "-")
    assert status == ExitStatus.USAGE and "writes a directory, not a stream" in err


def test_diff_o_json_prints_the_report_json_alone(policies: Path) -> None:
    status, stdout, err = run_cli(
        "diff", "--current", str(policies), "--proposed", str(policies),
        str(real_samples()), "-o", "json", "--cni", "generic",
    )  # fmt: skip
    assert status == ExitStatus.SUCCESS, err
    document = json.loads(stdout)
    assert document["kind"] == "diff" and document["diff"]["newly_blocked"] == []
    assert "observed connections" in err


def test_verify_and_diff_take_flows_as_inputs_and_warn_on_the_old_flag(policies: Path) -> None:
    new = run_cli("verify", "--policies", str(policies), str(real_samples()), "-o", "json")
    old = run_cli(
        "verify", "--policies", str(policies), "--flows", str(real_samples()), "-o", "json"
    )
    assert new[0] == old[0] == ExitStatus.SUCCESS
    assert new[1] == old[1] and "deprecated" not in new[2]
    assert "--flows is deprecated" in old[2]


def test_verify_takes_n_and_it_narrows_the_check(policies: Path) -> None:
    everything = json.loads(
        run_cli("verify", "--policies", str(policies), str(real_samples()), "-o", "json")[1]
    )
    one = run_cli(
        "verify", "--policies", str(policies), str(real_samples()), "-o", "json", "-n", "jaeger"
    )
    assert one[0] == ExitStatus.SUCCESS, one[2]
    assert 0 < json.loads(one[1])["flows"] < everything["flows"]
    nowhere = run_cli(
        "verify", "--policies", str(policies), str(real_samples()), "-o", "json", "-n", "nowhere"
    )
    assert nowhere[0] == ExitStatus.USAGE  # narrowed to nothing: nothing was checked
    assert "no flow to check" in nowhere[2]


@pytest.mark.parametrize("command", ["generate", "verify", "diff"])
def test_n_and_all_namespaces_exclude_each_other(command: str, policies: Path) -> None:
    extra = {
        "generate": ["--output-dir", "unused"],
        "verify": ["--policies", str(policies)],
        "diff": ["--current", str(policies), "--proposed", str(policies)],
    }[command]
    status, _, err = run_cli(command, str(real_samples()), *extra, "-n", "shop", "-A")
    assert status == ExitStatus.USAGE and "-A/--all-namespaces and -n/--namespace" in err


def test_o_with_an_unknown_format_is_a_usage_error(policies: Path) -> None:
    status, _, err = run_cli(
        "verify", "--policies", str(policies), str(real_samples()), "-o", "xml"
    )
    assert status == ExitStatus.USAGE and "choose one of text|json" in err
