"""``generate --save-edges`` then ``--from-edges``: the same bundle without re-reading logs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from learner.app.console import Env
from learner.cli.program import main
from tests.outputs.report.test_proposal_report import real_samples

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "flows"
SPARK = ["--engine", "spark", "--spark-master", "local[2]"]


def tree(path: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


def generate(args: list[str]) -> None:
    err = io.StringIO()
    status = main(["generate", *args], env=Env(io.StringIO(), err))
    assert status == 0, err.getvalue()


@pytest.mark.parametrize("engine", ["local", "spark"])
@pytest.mark.parametrize("inputs", [EXAMPLES, real_samples()], ids=["examples", "samples"])
def test_learning_from_saved_edges_writes_the_same_bundle(
    tmp_path: Path, engine: str, inputs: Path
) -> None:
    engine_flags = ["-j", "2"] if engine == "local" else SPARK
    if engine == "spark":
        pytest.importorskip("pyspark")
    saved = tmp_path / "edges.jsonl"
    direct, again = tmp_path / "direct", tmp_path / "again"
    generate([str(inputs), "--output-dir", str(direct), "--save-edges", str(saved), *engine_flags])
    generate(["--from-edges", str(saved), "--output-dir", str(again)])

    assert tree(again) == tree(direct)
    report = "report.json"
    assert (tmp_path / "again-report" / report).read_bytes() == (
        tmp_path / "direct-report" / report
    ).read_bytes()
