"""The report renders a finished result: no module of it reads a file or a cluster (issue 12)."""

from __future__ import annotations

import ast
from pathlib import Path

REPORT = Path(__file__).resolve().parents[3] / "outputs" / "report"
READERS = {"os", "io", "pathlib", "shutil", "subprocess", "socket", "urllib", "kubernetes", "grpc"}


def reads(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in READERS]
        elif isinstance(node, ast.ImportFrom) and node.module:
            top = node.module.split(".")[0]
            if top in READERS or node.module.startswith(("learner.ingest", "learner.app")):
                found.append(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "open":
            found.append(f"open() at line {node.lineno}")
    return found


def test_no_report_module_reads_files_or_clusters() -> None:
    modules = sorted(REPORT.glob("*.py"))
    assert {p.stem for p in modules} >= {"markdown", "json_report", "mermaid", "names", "risks"}
    assert {p.name: reads(p) for p in modules} == {p.name: [] for p in modules}
