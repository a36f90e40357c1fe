"""The CLI's copy of the scenario names stays equal to the simulator's registry."""

from __future__ import annotations

from learner.cli.scenario_names import DEFAULT_SCENARIO, SCENARIO_NAMES
from learner.simulate import DEFAULT_SCENARIO as SIMULATOR_DEFAULT
from learner.simulate import SCENARIOS


def test_names_are_the_simulators_scenarios_in_order() -> None:
    assert tuple(sorted(SCENARIOS)) == SCENARIO_NAMES


def test_default_is_the_simulators_default() -> None:
    assert DEFAULT_SCENARIO == SIMULATOR_DEFAULT
