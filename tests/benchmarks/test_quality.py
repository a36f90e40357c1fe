"""The quality benchmark on one small simulated scenario: the learner's targets hold."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

QUALITY = Path(__file__).resolve().parents[2] / "benchmarks" / "quality.py"


def load_quality() -> ModuleType:
    spec = importlib.util.spec_from_file_location("quality_benchmark", QUALITY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def test_least_privilege_meets_its_targets_next_to_the_baseline() -> None:
    quality = load_quality()
    scores = {s.learner: s for s in quality.evaluate("rollout", seed=4, lines=8_000, hours=12)}
    ours, baseline = scores["least-privilege"], scores["baseline"]
    assert ours.held_out_connections > 100
    assert ours.false_deny_rate <= 0.005
    assert ours.yaml_lines < baseline.yaml_lines
    # Nothing forbidden is allowed beyond the deliberate cluster-DNS rule.
    assert ours.forbidden_allowed == ours.forbidden_dns
    assert baseline.forbidden_allowed == 0


def test_table_has_a_row_per_score() -> None:
    quality = load_quality()
    score = quality.Score("s", "l", 200, 1, 1, 3, 2, 4, 5, 60, 0.1)
    text = quality.table([score])
    assert text.splitlines()[2] == "| s | l | 0.50 % (1/200) | 1 | 3 (2) | 4 | 5 | 60 |"
