"""The report's graphs rendered by Mermaid in a real headless Chromium: they must render, and
at 75 % of their natural size or more in an 880 px pull-request column.

Skipped unless Chromium is installed and ``MERMAID_JS`` names a ``mermaid.min.js`` (for
example from ``npm install mermaid`` in a scratch directory): neither ships with the project.
"""

from __future__ import annotations

import html
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from learner.app.console import Env
from learner.cli.program import main
from tests.outputs.report.mermaid_syntax import blocks

ROOT = Path(__file__).parents[3]
COLUMN = 880
BROWSER = next(
    (b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None
)
MERMAID_JS = os.environ.get("MERMAID_JS", "")

pytestmark = pytest.mark.skipif(
    BROWSER is None or not Path(MERMAID_JS).is_file(),
    reason="needs chromium and MERMAID_JS=/path/to/mermaid.min.js",
)

PAGE = """<!doctype html><html><body style="margin:0">
<div id="column" style="width:{column}px"><pre class="mermaid">{chart}</pre></div>
<pre id="result"></pre>
<script src="{script}"></script>
<script>
mermaid.initialize({{startOnLoad: false}});
mermaid.run().then(() => {{
  const svg = document.querySelector('#column svg');
  const shown = svg.getBoundingClientRect().width;
  document.getElementById('result').textContent =
    'RESULT ' + JSON.stringify({{natural: svg.viewBox.baseVal.width, shown: shown}});
}}).catch(e => {{
  document.getElementById('result').textContent = 'RESULT ' + JSON.stringify({{error: String(e)}});
}});
</script></body></html>"""


def rendered(chart: str, tmp_path: Path) -> dict[str, float | str]:
    page = tmp_path / "chart.html"
    script = Path(MERMAID_JS).resolve().as_uri()
    page.write_text(PAGE.format(column=COLUMN, chart=html.escape(chart), script=script))
    assert BROWSER is not None
    dom = subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
         "--virtual-time-budget=15000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    ).stdout  # fmt: skip
    found = re.search(r"RESULT (\{.*?\})", html.unescape(dom))
    assert found, "the page did not finish rendering"
    result: dict[str, float | str] = json.loads(found.group(1))
    return result


@pytest.mark.parametrize(
    "inputs",
    [
        ("examples/flows", "--inventory", "examples/inventory"),
        (
            "tests/fixtures/hubble/files/real",
            "--inventory",
            "tests/fixtures/bookinfo/inventory.yaml",
            "--current",
            "tests/fixtures/bookinfo/policies",
        ),
    ],
    ids=["demo", "bookinfo"],
)
def test_graphs_render_at_three_quarters_or_more_in_a_pr_column(
    inputs: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    env = Env(io.StringIO(), io.StringIO())
    assert main(["generate", *inputs, "-o", str(tmp_path / "out")], env=env) == 0
    markdown = (tmp_path / "out-report" / "report.md").read_text()
    for chart in blocks(markdown):
        result = rendered(chart, tmp_path)
        assert "error" not in result, result
        scale = min(1.0, COLUMN / float(result["natural"]))
        assert scale >= 0.75, f"rendered at {scale:.0%} of natural size: {result}"
