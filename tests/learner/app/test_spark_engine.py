"""``--engine spark`` on local[2] against the local engine, on real files."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from learner.app.console import Env
from learner.app.spark_engine import plan_file
from learner.cli.program import main
from tests.outputs.report.test_proposal_report import real_samples

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "flows"
SPARK = [
    "--engine",
    "spark",
    "--spark-master",
    "local[2]",
    "--spark-conf",
    "spark.driver.memory=512m",
]


def tree(path: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


def generate(args: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    status = main(["generate", *args], env=Env(io.StringIO(), err))
    return status, err.getvalue()


def test_a_pretty_printed_file_is_read_whole_and_json_lines_by_line() -> None:
    assert plan_file(0, "a", '[\n {"flow": {}}\n]', "auto").whole
    assert not plan_file(0, "a", '{"flow": {"verdict": "FORWARDED"}}\n', "auto").whole
    assert plan_file(0, "a", '{"proto": "tcp"}\n', "auto").source == "calico"


@pytest.mark.parametrize(
    "inputs", [[str(EXAMPLES)], [str(real_samples())]], ids=["examples", "samples"]
)
def test_spark_writes_the_same_bundle_as_the_local_engine(
    tmp_path: Path, inputs: list[str]
) -> None:
    pytest.importorskip("pyspark")
    status, err = generate([*inputs, "--output-dir", str(tmp_path / "local")])
    assert status == 0, err
    status, err = generate([*inputs, "--output-dir", str(tmp_path / "spark"), *SPARK])
    assert status == 0, err
    assert tree(tmp_path / "spark") == tree(tmp_path / "local")


def test_malformed_lines_are_reported_with_file_and_line(tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    source = EXAMPLES / "held-out.jsonl"
    lines = source.read_text().splitlines()
    bad = tmp_path / "bad.jsonl"
    # enough good lines to stay under --max-malformed (10%)
    bad.write_text("\n".join([lines[0], "{not json", *lines[1:40], "[oops"]) + "\n")
    status, err = generate([str(bad), "--output-dir", str(tmp_path / "out"), *SPARK])
    assert status == 0, err
    assert f"{bad}:2: invalid JSON" in err
    assert f"{bad}:42: invalid JSON" in err
    status, err = generate([str(bad), "--output-dir", str(tmp_path / "strict"), "--strict", *SPARK])
    assert status == 2
    assert f"{bad}:2: invalid JSON" in err


def test_a_corrupt_gzip_member_names_the_file(tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    source = EXAMPLES / "held-out.jsonl"
    data = gzip.compress(source.read_bytes())
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(data[: len(data) // 2])
    status, err = generate([str(broken), "--output-dir", str(tmp_path / "out"), *SPARK])
    assert status == 2, err
    assert str(broken) in err and "cannot read" in err
    assert "Traceback" not in err


def test_an_unreadable_uri_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    status, err = generate(
        ["nosuchfs://bucket/flows/*.gz", "--output-dir", str(tmp_path / "out"), *SPARK]
    )
    assert status == 2, err
    assert "nosuchfs://bucket/flows/*.gz: cannot read" in err
    assert "Traceback" not in err


def test_without_pyspark_the_engine_gives_a_one_line_hint(tmp_path: Path) -> None:
    try:
        import pyspark  # noqa: F401
    except ModuleNotFoundError:
        pass
    else:
        pytest.skip("pyspark is installed")
    status, err = generate(
        [str(EXAMPLES), "--output-dir", str(tmp_path / "out"), "--engine", "spark"]
    )
    assert status == 2
    assert err.strip().splitlines() == [
        "netpol-learner: error: --engine spark needs pyspark: pip install 'netpol-learner[spark]'"
    ]


def test_without_java_the_engine_says_so_in_one_line(tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    no_java = tmp_path / "jdk"
    (no_java / "bin").mkdir(parents=True)
    env = {**os.environ, "JAVA_HOME": str(no_java), "PATH": str(no_java / "bin")}
    env.pop("SPARK_HOME", None)
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "learner.cli",
        "generate",
        str(EXAMPLES),
        "--output-dir",
        str(out),
    ]
    done = subprocess.run(
        [*command, *SPARK], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "netpol-learner: error: --engine spark needs Java 17 or newer: "
        "install a JRE or set JAVA_HOME"
    ]
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "simulated",
    [
        ["--format", "hubble", "--lines", "200000", "--gzip"],
        ["--format", "calico", "--lines", "50000"],
    ],
    ids=["hubble-200k-gz", "calico-50k"],
)
def test_spark_matches_the_local_engine_on_a_simulated_export(
    tmp_path: Path, simulated: list[str]
) -> None:
    pytest.importorskip("pyspark")
    flows = tmp_path / "export"
    err = io.StringIO()
    assert (
        main(["simulate", "--output-dir", str(flows), *simulated], env=Env(io.StringIO(), err)) == 0
    )
    status, err_text = generate([str(flows / "flows"), "--output-dir", str(tmp_path / "local")])
    assert status == 0, err_text
    status, err_text = generate(
        [str(flows / "flows"), "--output-dir", str(tmp_path / "spark"), *SPARK]
    )
    assert status == 0, err_text
    assert tree(tmp_path / "spark") == tree(tmp_path / "local")
