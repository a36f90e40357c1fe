from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from learner.app.console import Env
from learner.app.run import learn_and_render
from learner.model.config import LearnConfig
from outputs.report.mermaid import GraphEdge, GraphNode, flowchart
from tests.outputs.report.mermaid_syntax import blocks, check

REAL_SAMPLES = Path(__file__).parents[2] / "fixtures" / "hubble" / "files" / "real"
"""The real bookinfo capture (copied from shared/samples/hubble/real, see its SOURCE.md)."""
SCHEMA = json.loads(
    (Path(__file__).parents[3] / "outputs" / "schemas" / "report.schema.json").read_text()
)


def real_samples() -> Path:
    return REAL_SAMPLES


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "out"
    import io

    env = Env(io.StringIO(), io.StringIO())
    learn_and_render(inputs=[str(real_samples())], output=str(out), config=LearnConfig(), env=env)
    return out.parent / "out-report"


def test_report_json_validates_against_its_schema(bundle: Path) -> None:
    data = json.loads((bundle / "report.json").read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["policies"] and data["edges"] > 0


def test_schema_rejects_a_broken_report(bundle: Path) -> None:
    data = json.loads((bundle / "report.json").read_text())
    data["policies"][0]["ingress"] = "nope"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, SCHEMA)


def test_report_md_mermaid_blocks_pass_the_syntax_check(bundle: Path) -> None:
    markdown = (bundle / "report.md").read_text()
    found = blocks(markdown)
    assert found
    for block in found:
        assert check(block) == []


def test_report_md_puts_risks_before_the_policy_table(bundle: Path) -> None:
    markdown = (bundle / "report.md").read_text()
    assert markdown.index("## Risks") < markdown.index("## Policies")
    assert "<details>" in markdown


def test_mermaid_quotes_hostile_labels_and_styles_only_existing_edges() -> None:
    a = GraphNode("ns", 'web "v2" [canary] <b>', "a")
    b = GraphNode("ns (prod)", "db|x", "b")
    chart = flowchart([GraphEdge(a, b, "5432/TCP", "added"), GraphEdge(b, a, "80/TCP", "removed")])
    assert check(chart) == []
    assert "+ 5432/TCP" in chart and "- 80/TCP" in chart


def test_syntax_check_catches_broken_charts() -> None:
    assert check("graph TB\n  n0[unquoted (x)]") != []
    assert check('graph TB\n  n0["a"]\n  n0 -->|"x"| n1') != []
    assert (
        check('graph TB\n  n0["a"]\n  n1["b"]\n  n0 -->|"x"| n1\n  linkStyle 1 stroke:#fff') != []
    )
