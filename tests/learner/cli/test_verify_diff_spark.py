"""``verify`` and ``diff`` with ``--engine spark`` read flows as the local engine does."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from learner.app.console import Env
from learner.cli.program import main

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "flows"
SPARK = ["--engine", "spark", "--spark-master", "local[2]"]


def run(args: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(args, env=Env(out, err))
    assert status in (0, 1), err.getvalue()
    return status, out.getvalue()


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("policies")
    run(["generate", str(EXAMPLES), "--output-dir", str(root / "all")])
    run(["generate", str(EXAMPLES), "--output-dir", str(root / "shop"), "-n", "shop"])
    return root / "all", root / "shop"


def test_verify_with_spark_reports_what_the_local_engine_reports(
    policies: tuple[Path, Path],
) -> None:
    pytest.importorskip("pyspark")
    command = ["verify", "--policies", str(policies[1]), str(EXAMPLES), "-o", "json"]
    local = run(command)
    assert json.loads(local[1])["flows"] > 0
    assert run([*command, *SPARK]) == local


def test_diff_with_spark_reports_what_the_local_engine_reports(
    policies: tuple[Path, Path],
) -> None:
    pytest.importorskip("pyspark")
    command = ["diff", "--current", str(policies[1]), "--proposed", str(policies[0])]
    local = run([*command, str(EXAMPLES), "-o", "json"])
    assert json.loads(local[1])["edges"] > 0
    assert run([*command, str(EXAMPLES), "-o", "json", *SPARK]) == local
