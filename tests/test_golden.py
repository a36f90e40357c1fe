"""Golden output: ``generate`` on every bundled example, in every format, byte for byte.

The files under ``tests/golden/`` were written by the code before it was restructured; a
change of layout must not change one byte of them. When a change of output is *meant*, write
the goldens anew and review their diff like code:

    GOLDEN_UPDATE=1 python -m pytest tests/test_golden.py

Each case is one ``tests/golden/<example>-<format>[-<variant>]/`` directory holding exactly the
bundle ``generate`` writes: the manifest directory (policies, kustomization) and, beside the
policies, the files of ``--report-dir`` (report.md, report.json).
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest

from learner.app.console import Env
from learner.cli.program import main
from outputs.base import FORMATS, MARKER

ROOT = Path(__file__).parents[1]
GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("GOLDEN_UPDATE") == "1"

EXAMPLES: dict[str, tuple[str, ...]] = {
    # the simulated shop cluster, as the README's first example runs it
    "shop": ("examples/flows", "--inventory", "examples/inventory"),
    # the real bookinfo capture, with its inventory and the deployed policies to diff against
    "bookinfo": (
        "tests/fixtures/hubble/files/real",
        "--inventory",
        "tests/fixtures/bookinfo/inventory.yaml",
        "--current",
        "tests/fixtures/bookinfo/policies",
    ),
}
VARIANTS: dict[str, tuple[str, ...]] = {"": (), "-l7-deny": ("--l7", "--default-deny")}
CASES = [
    (example, fmt, variant)
    for example in EXAMPLES
    for fmt in FORMATS
    for variant in VARIANTS
    if not variant or fmt == "cilium" or fmt == "calico"
]


def tree(path: Path) -> dict[str, bytes]:
    return {
        p.relative_to(path).as_posix(): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize(("example", "fmt", "variant"), CASES)
def test_generate_output_matches_golden(
    example: str, fmt: str, variant: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    out, report = tmp_path / "out", tmp_path / "report"
    inputs, *options = EXAMPLES[example]
    argv = ["generate", inputs, "--output-dir", str(out), "--report-dir", str(report)]
    argv += ["--format", fmt, *options, *VARIANTS[variant]]
    status = main(argv, env=Env(io.StringIO(), io.StringIO()))
    assert status == 0
    golden = GOLDEN / f"{example}-{fmt}{variant}"
    manifests, reports = tree(out), tree(report)
    assert not manifests.keys() & reports.keys() - {MARKER}
    written = {**manifests, **reports}
    if UPDATE:
        shutil.rmtree(golden, ignore_errors=True)
        for name, content in written.items():
            (golden / name).parent.mkdir(parents=True, exist_ok=True)
            (golden / name).write_bytes(content)
    expected = tree(golden)
    assert sorted(written) == sorted(expected), f"files differ from {golden}"
    for name, content in expected.items():
        assert written[name] == content, f"{name} differs from {golden / name}"
