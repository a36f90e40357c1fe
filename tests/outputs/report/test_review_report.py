"""report.md as a reviewer reads it: workloads by name, one node per workload, plain Markdown
that GitHub and GitLab render as written, and a diff graph that shows both directions."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest

from learner.app.console import Env
from learner.cli.program import main
from tests.outputs.report.mermaid_syntax import blocks, check

ROOT = Path(__file__).parents[3]
NODE = re.compile(r'^\s*n\d+\["([^"]*)"\]$', re.M)
CODE_SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")


def run(*argv: str) -> None:
    env = Env(io.StringIO(), io.StringIO())
    assert main(list(argv), env=env) == 0, env.stderr.getvalue()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """report.md of the demo and of the real bookinfo capture (diffed against its policies)."""
    base = tmp_path_factory.mktemp("reports")
    cwd = Path.cwd()
    try:
        import os

        os.chdir(ROOT)
        run(
            "generate",
            "examples/flows",
            "--inventory",
            "examples/inventory",
            "-o",
            str(base / "shop"),
        )
        run(
            "generate",
            "tests/fixtures/hubble/files/real",
            "--inventory",
            "tests/fixtures/bookinfo/inventory.yaml",
            "--current",
            "tests/fixtures/bookinfo/policies",
            "-o",
            str(base / "bookinfo"),
        )
    finally:
        os.chdir(cwd)
    return {
        name: (base / f"{name}-report" / "report.md").read_text() for name in ("shop", "bookinfo")
    }


@pytest.mark.parametrize("name", ["shop", "bookinfo"])
def test_every_graph_node_is_drawn_once(reports: dict[str, str], name: str) -> None:
    for block in blocks(reports[name]):
        assert check(block) == []
        labels = NODE.findall(block)
        assert labels and len(labels) == len(set(labels)), block


@pytest.mark.parametrize("name", ["shop", "bookinfo"])
def test_no_html_entities_inside_code_spans(reports: dict[str, str], name: str) -> None:
    spans = CODE_SPAN.findall(reports[name])
    assert spans
    assert not [s for s in spans if re.search(r"&(lt|gt|amp|quot|#\d+);", s)]


@pytest.mark.parametrize("name", ["shop", "bookinfo"])
def test_words_a_reviewer_reads(reports: dict[str, str], name: str) -> None:
    text = reports[name]
    assert "PolicyLearner" not in text
    assert not re.search(r"\b1 (edges|flows|policies|workloads|files)\b", text)
    assert not re.search(r"\[0\]|rule 0\b", text)
    visible = re.sub(r"<details>.*?</details>", "", text, flags=re.S)
    assert "pod:" not in visible  # label sets are for the details


def test_demo_graph_collapses_fan_out_and_names_workloads(reports: dict[str, str]) -> None:
    text = reports["shop"]
    (block,) = blocks(text)
    # prometheus scrapes ten peers and five workloads call the API server: one edge each
    assert len(re.findall(r"\| n\d+$", block, re.M)) < 20
    assert "monitoring/prometheus-k8s → 10:" in text
    assert "kube-apiserver ← 5:" in text
    assert "| shop/api | [api](../shop/shop/api.yaml) |" in text


def test_risks_show_top_items_inline_and_fold_the_rest(reports: dict[str, str]) -> None:
    risks = reports["shop"].split("## Risks")[1].split("## Policies")[0]
    found = re.search(r"\*\*Egress to addresses outside the cluster\*\* \((\d+)\)", risks)
    assert found and int(found[1]) > 4
    total = int(found[1])
    egress = risks[found.end() :].split("- 🟠")[0]
    inline, folded = egress.split(f"<details><summary>+{total - 3} more</summary>")
    assert inline.count("\n  - `") == 3
    assert folded.count("\n  - `") == total - 3


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_diff_graph_shows_a_widened_rule_and_a_removed_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    current = tmp_path / "current"
    run("generate", "examples/flows", "--inventory", "examples/inventory", "-o", str(current))
    proposed = tmp_path / "proposed"
    shutil.copytree(current, proposed)
    # widen: api admits every pod of every namespace on 8080, not just the frontend (the
    # pods of the shop all have egress policies now; kube-system's have none by default)
    edit(
        proposed / "shop" / "api.yaml",
        "  - from:\n    - podSelector:\n        matchLabels:\n          app: frontend\n",
        "  - from:\n    - namespaceSelector: {}\n",
    )
    # remove: the worker may no longer reach the database
    worker = proposed / "shop" / "worker.yaml"
    text = worker.read_text()
    rule = re.search(r"  # observed [^\n]*\n  - to:\n(?:    [^\n]*\n)*?      port: 5432\n", text)
    assert rule is not None
    worker.write_text(text.replace(rule.group(0), ""))
    report = tmp_path / "report"
    env = Env(io.StringIO(), io.StringIO())
    argv = ["diff", "--current", str(current), "--proposed", str(proposed)]
    argv += ["--flows", "examples/flows", "--inventory", "examples/inventory"]
    assert main([*argv, "--report", str(report)], env=env) in (0, 1)
    markdown = (report / "report.md").read_text()
    found = blocks(markdown)
    assert found and all(check(b) == [] for b in found)
    graph = "\n".join(found)
    ids = dict((m.group(2), m.group(1)) for m in re.finditer(r'(n\d+)\["([^"]*)"\]', graph))
    assert re.search(rf'{ids["worker"]} -->\|"- 5432/TCP"\| {ids["db"]}', graph)
    assert re.search(rf'-\.->\|"\+ 8080/TCP"\| {ids["api"]}', graph)
    assert "#cf222e" in graph and "#2da44e" in graph


def test_a_big_cluster_gets_an_overview_and_folded_namespace_graphs(tmp_path: Path) -> None:
    run("simulate", "--scenario", "mixed", "--lines", "6000", "-o", str(tmp_path / "sim"))
    out = tmp_path / "out"
    flows = str(tmp_path / "sim" / "flows" / "learning.jsonl")
    run("generate", flows, "--inventory", str(tmp_path / "sim" / "inventory"), "-o", str(out))
    markdown = (tmp_path / "out-report" / "report.md").read_text()
    overview = markdown.split("### Namespaces")[1].split("<details>")[0]
    (block,) = blocks(overview)
    assert check(block) == []
    assert '["team-payments"]' in block and '["monitoring"]' in block
    folded = re.findall(r"<details><summary>Namespace ([\w-]+)</summary>", markdown)
    assert {"shop", "team-payments", "monitoring"} <= set(folded)
    for chart in blocks(markdown):
        assert check(chart) == []
        labels = NODE.findall(chart)
        assert len(labels) == len(set(labels))
