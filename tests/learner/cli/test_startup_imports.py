"""Start-up cost: heavy libraries load only when a run needs them (issue 13).

Each check runs a fresh interpreter, because an import made by another test would hide the
one under test; it asserts on which modules were loaded, never on time.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "tests/fixtures/hubble/files/hubble-otel_basic-sample-10-flows.jsonl"
HEAVY = ("grpc", "google.protobuf", "sklearn", "scipy", "numpy", "kubernetes")
PARSING_ONLY = (*HEAVY, "learner.semantics", "prometheus_client", "concurrent.futures.process")
"""What printing help needs none of: the semantics engine (the self-check and diff/verify need
it), the metrics server, process pools."""

PROBE = """
import sys
from learner.cli.program import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print("LOADED=" + ",".join(heavy))
"""


def loaded_after(*argv: str, watched: tuple[str, ...] = HEAVY) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=watched), *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    marker = [line for line in result.stdout.splitlines() if line.startswith("LOADED=")]
    assert marker, result.stderr
    value = marker[-1].removeprefix("LOADED=")
    return value.split(",") if value else []


def test_help_loads_no_grpc_protobuf_or_sklearn() -> None:
    assert loaded_after("--help", watched=PARSING_ONLY) == []


def test_learn_help_loads_no_grpc() -> None:
    assert loaded_after("learn", "--help", watched=PARSING_ONLY) == []


def test_generate_on_a_small_file_loads_no_grpc(tmp_path: Path) -> None:
    assert loaded_after("generate", str(SAMPLE), "-o", str(tmp_path / "out")) == []


NOT_FOR_A_SHORT_RUN = ("tqdm", "asyncio", "learner.simulate", "concurrent.futures.process")
"""What a short run with no progress bar and the help never use: tqdm (which pulls asyncio) is
only for a progress bar, the simulator only for ``simulate``, process pools only for inputs
big enough to share between cores."""


def test_help_loads_no_progress_bar_or_simulator() -> None:
    assert loaded_after("--help", watched=NOT_FOR_A_SHORT_RUN) == []


def test_generate_on_a_small_file_loads_no_progress_bar_or_simulator(tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    assert loaded_after("generate", str(SAMPLE), "-o", out, watched=NOT_FOR_A_SHORT_RUN) == []
