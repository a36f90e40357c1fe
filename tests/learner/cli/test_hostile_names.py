"""Names in flow data never become paths outside the output directory (issue 11, item 1).

Real records from the samples, with the namespace replaced by something hostile, are fed to
``generate``, ``ingest``+``export`` for Hubble and Calico input. The record must be reported as
malformed (file:line, counted; fatal under ``--strict``) and nothing written outside ``-o``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from learner.app.console import Env
from learner.cli.program import main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
HUBBLE = FIXTURES / "hubble" / "files" / "hubble-otel_basic-sample-10-flows.jsonl"
CALICO = FIXTURES / "calico" / "valid" / "handwritten_enterprise-level2-shop.jsonl"


def run(*argv: str) -> tuple[int, str, str]:
    env = Env(io.StringIO(), io.StringIO())
    code = main(list(argv), env=env)
    return code, env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]


def hubble_with_namespace(namespace: str) -> str:
    line = HUBBLE.read_text().splitlines()[0]
    record = json.loads(line)
    source = record["flow"]["source"]
    source["namespace"] = namespace
    source["labels"] = [
        f"k8s:io.kubernetes.pod.namespace={namespace}"
        if label.startswith("k8s:io.kubernetes.pod.namespace=")
        else label
        for label in source["labels"]
    ]
    return json.dumps(record) + "\n"


def calico_with_namespace(namespace: str) -> str:
    record = json.loads(CALICO.read_text().splitlines()[0])
    record["source_namespace"] = record["dest_namespace"] = namespace
    record["source_labels"]["labels"] = [
        label
        for label in record["source_labels"]["labels"]
        if not label.startswith("projectcalico.org/namespace=")
    ]
    return json.dumps(record) + "\n"


HOSTILE = ["{victim}", "../../escaped", "..", "/abs-victim", "UPPER_ns", "a\nb: c", "x" * 300]


def hostile_namespace(template: str, tmp_path: Path) -> str:
    victim = tmp_path / "victim"
    victim.mkdir(exist_ok=True)
    return template.replace("{victim}", str(victim))


def assert_nothing_outside(tmp_path: Path, out: Path) -> None:
    written = {
        path
        for path in tmp_path.rglob("*")
        if path.is_file() and path.suffix == ".yaml" and out not in path.parents
    }
    assert written == set()


@pytest.mark.parametrize("template", HOSTILE)
@pytest.mark.parametrize("make", [hubble_with_namespace, calico_with_namespace])
def test_generate_reports_a_hostile_namespace_and_writes_nothing_outside(
    template: str, make: object, tmp_path: Path
) -> None:
    namespace = hostile_namespace(template, tmp_path)
    flows = tmp_path / "in" / "flows.jsonl"
    flows.parent.mkdir()
    flows.write_text(make(namespace))  # type: ignore[operator]
    out = tmp_path / "deep" / "er" / "out"
    code, _, err = run("generate", str(flows), "-o", str(out))
    assert_nothing_outside(tmp_path, out)
    assert f"{flows}:1: " in err
    assert "namespace" in err
    code, _, err = run("generate", str(flows), "-o", str(out), "--strict")
    assert code == 2
    assert f"{flows}:1: " in err and "namespace" in err
    assert "Traceback" not in err
    assert_nothing_outside(tmp_path, out)


@pytest.mark.parametrize("template", ["{victim}", "../../escaped", "..", "/abs-victim"])
def test_ingest_and_export_never_escape_the_output_directory(template: str, tmp_path: Path) -> None:
    namespace = hostile_namespace(template, tmp_path)
    flows = tmp_path / "flows.jsonl"
    flows.write_text(hubble_with_namespace(namespace) + calico_with_namespace(namespace))
    state, out = str(tmp_path / "learn.db"), tmp_path / "a" / "b" / "out"
    code, _, err = run("ingest", str(flows), "--state", state, "--source", "hubble")
    assert code == 0
    assert f"{flows}:1: " in err
    run("export", "--state", state, "-o", str(out))
    assert_nothing_outside(tmp_path, out)
