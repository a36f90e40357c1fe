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
from learner.app.spark_engine import plan_file, quiet_java_options
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


def bundle(inputs: list[str], parent: Path, *flags: str) -> dict[str, bytes]:
    """Policies and report of one ``generate`` run (same directory name for both engines, so
    the report's links to the policies are the same too)."""
    parent.mkdir()
    status, err = generate([*inputs, "--output-dir", str(parent / "out"), *flags])
    assert status == 0, err
    policies, report = tree(parent / "out"), tree(parent / "out-report")
    assert policies and report
    return {**policies, **{f"report/{name}": data for name, data in report.items()}}


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
    local = bundle(inputs, tmp_path / "local")
    assert bundle(inputs, tmp_path / "spark", *SPARK) == local


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


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real command in its own process: its stderr includes what the JVM prints."""
    command = [sys.executable, "-m", "learner.cli", *args]
    return subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )


def test_an_executor_failing_on_a_malformed_gzip_member_prints_one_clear_line(
    tmp_path: Path,
) -> None:
    pytest.importorskip("pyspark")
    good = gzip.compress((EXAMPLES / "held-out.jsonl").read_bytes())
    bad_member = bytearray(gzip.compress((EXAMPLES / "learning.jsonl").read_bytes()))
    bad_member[-8] ^= 0xFF  # the second member's CRC; the first one (the driver's sample) is fine
    export = tmp_path / "export.jsonl.gz"
    export.write_bytes(good + bytes(bad_member))
    done = run_cli("generate", str(export), "--output-dir", str(tmp_path / "out"), *SPARK)
    assert done.returncode == 2, done.stderr
    # The JVM itself announces the incubator module Spark enables; nothing else may be printed.
    lines = [ln for ln in done.stderr.splitlines() if "jdk.incubator.vector" not in ln]
    assert lines == [
        f"netpol-learner: error: {export}: cannot read: "
        "java.io.IOException: gzip stream CRC failure"
    ]
    assert not (tmp_path / "out").exists()


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
    done = run_cli("generate", str(EXAMPLES), "--output-dir", str(out), *SPARK, env=env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "netpol-learner: error: --engine spark needs Java 17 or newer: "
        "install a JRE or set JAVA_HOME"
    ]
    assert not out.exists()


@pytest.fixture(scope="session")
def hubble_2m_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated 2M-line gzipped Hubble export, written once per test session."""
    pytest.importorskip("pyspark")
    export = tmp_path_factory.mktemp("hubble-2m") / "export"
    command = ["simulate", "--output-dir", str(export), "--source", "hubble"]
    command += ["--lines", "2000000", "--gzip"]
    err = io.StringIO()
    assert main(command, env=Env(io.StringIO(), err)) == 0, err.getvalue()
    return export / "flows"


@pytest.mark.slow
def test_spark_matches_the_local_engine_on_a_2m_line_hubble_export(
    tmp_path: Path, hubble_2m_export: Path
) -> None:
    inputs = [str(hubble_2m_export)]
    assert sorted(p.name for p in hubble_2m_export.glob("*.gz")) == [
        "held-out.jsonl.gz",
        "learning.jsonl.gz",
    ]
    local = bundle(inputs, tmp_path / "local")
    assert bundle(inputs, tmp_path / "spark", *SPARK) == local


@pytest.mark.slow
def test_spark_matches_the_local_engine_on_a_simulated_calico_export(tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    export = tmp_path / "export"
    command = ["simulate", "--output-dir", str(export), "--source", "calico", "--lines", "50000"]
    err = io.StringIO()
    assert main(command, env=Env(io.StringIO(), err)) == 0, err.getvalue()
    inputs = [str(export / "flows")]
    local = bundle(inputs, tmp_path / "local")
    assert bundle(inputs, tmp_path / "spark", *SPARK) == local


def test_quiet_logging_never_replaces_the_users_own_log4j_configuration() -> None:
    mine = "-Dlog4j2.configurationFile=file:/etc/spark/log4j2.properties -Xss4m"
    assert quiet_java_options(mine) == mine
    added = quiet_java_options("-Xss4m")
    assert added.startswith("-Xss4m -Dlog4j2.configurationFile=")
