"""The quality benchmark's bar: every legitimate connection of the next day is allowed.

The held-out day follows a rollout of every controller, failovers, address-pool rotation, new
nodes, a new team's namespace and new CronJob runs (``simulate(next_day=True)``); nothing
forbidden may be allowed beyond what Calico's aggregation hid and the stated cost of the
cluster-wide-client rule (a scraper or ingress controller reaching, on its ports, a pod that has
no ingress policy). A weakened learner must fail the same check, or it proves nothing.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest

from learner.infer import least_privilege
from learner.model.config import LearnConfig
from learner.model.infra import EVERY_NAMESPACE_ADMITS

QUALITY = Path(__file__).resolve().parents[2] / "benchmarks" / "quality.py"


def load_quality() -> ModuleType:
    spec = importlib.util.spec_from_file_location("quality_benchmark", QUALITY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


quality = load_quality()
SMALL = {"seed": 4, "lines": 8_000, "hours": 12}


def misses(scores: list[object]) -> list[str]:
    """Rows below the bar, described for the assertion message."""
    found = []
    for score in scores:
        attributed = score.forbidden_hidden + score.forbidden_cluster_wide  # type: ignore[attr-defined]
        if score.denied_connections or score.forbidden_allowed != attributed:  # type: ignore[attr-defined]
            found.append(f"{score.scenario} ({score.variant}): {quality.rows([score])[0]}")  # type: ignore[attr-defined]
    return found


@pytest.mark.parametrize(
    "name",
    [
        "rollout",
        "failover",
        "address-pools",
        "cronjobs",
        "node-autoscaling",
        "cross-namespace-monitoring",
    ],
)
def test_the_next_day_is_fully_allowed_after_its_events(name: str) -> None:
    scores = quality.evaluate(name, learners=("least-privilege",), **SMALL)
    assert scores and all(s.held_out_connections > 500 for s in scores)
    assert misses(scores) == []


@pytest.mark.slow
def test_mixed_meets_the_bar_from_hubble_every_calico_level_and_scoped() -> None:
    """The benchmark's own scale, where a quiet client uses only some of a name's addresses on
    the learning day: Calico's DNS logs, learned with its flow logs, give the rest as Hubble's
    DNS responses do."""
    variants = [quality.Variant("mixed"), quality.Variant("mixed", "calico-0"),
                quality.Variant("mixed", "calico-1"), quality.Variant("mixed", "calico-2"),
                quality.Variant("mixed", namespace="shop")]  # fmt: skip
    scores = quality.evaluate("mixed", seed=1, lines=40_000, hours=24, variants=variants,
                              learners=("least-privilege",))  # fmt: skip
    assert [s.variant for s in scores] == [
        "hubble", "calico agg 0", "calico agg 1", "calico agg 2", "hubble, -n shop"
    ]  # fmt: skip
    assert misses(scores) == []
    assert [s.forbidden_hidden for s in scores[1:3]] == [0, 0]
    hidden = scores[3]
    assert hidden.forbidden_hidden > 0  # the documented cost of hidden addresses


def test_a_cluster_wide_rule_opened_to_every_port_is_not_excused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The benchmark credits a forbidden pair to the cluster-wide-client rule only on that
    rule's own ports: a learner whose every-namespace rule admitted every port must fail."""
    original = least_privilege._RuleBuilder.rule

    def every_port(self, *args):  # type: ignore[no-untyped-def]
        rule = original(self, *args)
        if any(a.startswith(EVERY_NAMESPACE_ADMITS) for a in rule.admits):
            rule = replace(rule, ports=())
        return rule

    monkeypatch.setattr(least_privilege._RuleBuilder, "rule", every_port)
    scores = quality.evaluate("cross-namespace-monitoring", learners=("least-privilege",), **SMALL)
    assert misses(scores)


def test_a_weakened_learner_fails_the_bar() -> None:
    weakened = LearnConfig(include_system=True, min_flows=2)  # holds back edges seen once
    scores = quality.evaluate("rollout", learners=("least-privilege",), base=weakened, **SMALL)
    assert misses(scores) != []


def test_a_scoped_run_that_writes_elsewhere_is_an_error(tmp_path: Path) -> None:
    """-n keeps other namespaces' workloads as peers but must write nothing for them."""
    variant = quality.Variant("mixed", namespace="shop")
    assert variant.label == "hubble, -n shop"
    with pytest.raises(quality.ScopeViolation):
        quality.evaluate(
            "mixed",
            variants=[variant],
            learners=("least-privilege",),
            base=LearnConfig(include_system=True, namespaces=("shop", "batch")),
            **SMALL,
        )


def test_table_has_a_row_per_score() -> None:
    score = quality.Score("s", "hubble", "l", 200, 1, 1, 3, 2, 0, 1, 4, 60, 0.1)
    text = quality.markdown([score])
    assert text.splitlines()[2] == "| s | hubble | l | 99.50 % (1/200) | 3 (2; 0; 1) | 4 | 60 |"
    assert quality.percent(quality.Score("s", "h", "l", 3335, 1, 1, 0, 0, 0, 0, 1, 1, 0.0)) == (
        "99.97 %"
    )
