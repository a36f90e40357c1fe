"""Realistic simulated clusters, their traffic as CNI flow logs, and the ground truth.

>>> from learner import simulate
>>> result = simulate.simulate("shop", seed=1, lines=5_000)
>>> simulate.write_hubble(result, "flows.jsonl")                # both windows, in time order
>>> simulate.write_hubble(result, "learn.jsonl", window="learning")
>>> simulate.write_manifests(result, "inventory/")
>>> truth = simulate.ground_truth(result)
>>> truth.allows("shop/frontend", "shop/api", "TCP", 8080)
True

The pieces: :mod:`~learner.simulate.scenario` (named topologies and their connections),
:mod:`~learner.simulate.traffic_generator` (when connections happen),
:mod:`~learner.simulate.connection_events` (the CNI-neutral event a writer consumes),
:mod:`~learner.simulate.hubble_writer`, :mod:`~learner.simulate.manifests` and
:mod:`~learner.simulate.truth`.
"""

from __future__ import annotations

import gzip as gzip_module
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from learner.simulate.cluster import Cluster
from learner.simulate.connection_events import ConnectionEvent
from learner.simulate.hubble_writer import HubbleOptions, HubbleWriter, lines_per_connection
from learner.simulate.manifests import HEADER, render_manifests, write_manifest_files
from learner.simulate.scenario import DEFAULT_SCENARIO, SCENARIOS, Scenario, build_scenario
from learner.simulate.traffic_generator import TrafficGenerator, Window
from learner.simulate.truth import GroundTruth, allowed_keys, count_events

__all__ = [
    "DEFAULT_SCENARIO",
    "SCENARIOS",
    "GroundTruth",
    "HubbleOptions",
    "Scenario",
    "SimulationResult",
    "ground_truth",
    "simulate",
    "write_hubble",
    "write_manifests",
]


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """A built scenario and how densely to sample its traffic. Events are generated on demand
    (never held in memory), identically every time."""

    scenario: Scenario
    seed: int
    scale: float
    """Multiplier on every rate (1.0 = the scenario's natural volume)."""

    @property
    def cluster(self) -> Cluster:
        return self.scenario.cluster

    @property
    def windows(self) -> tuple[Window, Window]:
        return self.scenario.windows

    def window(self, name: str) -> Window:
        for window in self.windows:
            if window.name == name:
                return window
        names = ", ".join(w.name for w in self.windows)
        raise KeyError(f"no window {name!r} (windows: {names})")

    def generator(self) -> TrafficGenerator:
        return TrafficGenerator(
            self.cluster,
            self.scenario.connections,
            seed=self.seed,
            scale=self.scale,
            first_day_ns=self.scenario.learning.start_ns,
        )

    def events(self, window: str | None = None) -> Iterator[ConnectionEvent]:
        """Events of one window, or of both in time order."""
        generator = self.generator()
        chosen = [self.window(window)] if window else list(self.windows)
        for current in chosen:
            yield from generator.events(current)


def expected_lines(scenario: Scenario, generator: TrafficGenerator, scale: float) -> float:
    """About how many Hubble lines ``scenario`` makes at ``scale``."""
    return sum(
        generator.expected_occurrences(spec, window, scale) * lines_per_connection(spec)
        for spec in scenario.connections
        for window in scenario.windows
    )


def calibrate_scale(scenario: Scenario, seed: int, lines: int) -> float:
    """The rate multiplier that makes the Hubble output about ``lines`` lines long.

    Expected volume is not linear in the scale (every connection happens at least once, job
    runs are whole), so the multiplier is refined a few times.
    """
    generator = TrafficGenerator(scenario.cluster, scenario.connections, seed=seed)
    scale = 1.0
    for _ in range(8):
        expected = expected_lines(scenario, generator, scale)
        if expected <= 0:
            break
        scale *= lines / expected
    return scale


def simulate(
    scenario: str = DEFAULT_SCENARIO,
    *,
    seed: int = 1,
    lines: int | None = None,
    hours: float = 24.0,
    next_day: bool = False,
) -> SimulationResult:
    """Build ``scenario`` over ``hours`` of simulated time (the first 75 % is the learning
    window, the rest the held-out window). With ``next_day``, the learning window is all of
    ``hours`` and the held-out window the next ``hours``, after a change window in which every
    controller rolls out, role-labelled databases fail over and declared address pools rotate.
    With ``lines``, rates are scaled so the Hubble output (both windows) has about that many
    lines; otherwise the scenario's natural rates apply.

    Raises ``KeyError`` for an unknown scenario name (see :data:`SCENARIOS`).
    """
    built = build_scenario(scenario, seed=seed, hours=hours, next_day=next_day)
    scale = calibrate_scale(built, seed, lines) if lines else 1.0
    return SimulationResult(built, seed, scale)


def write_hubble(
    result: SimulationResult,
    path: str,
    *,
    window: str | None = None,
    gzip: bool = False,
    options: HubbleOptions | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the events of ``window`` (default: both) as ``hubble observe -o jsonpb`` lines
    to ``path`` (gzip-compressed, with a fixed header, when ``gzip``). Returns the line count."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    # The writer's random stream is seeded per window so each file is reproducible on its own.
    writer = HubbleWriter(result.cluster, options, seed=f"{result.seed}|{window or 'all'}")
    with open(path, "wb") as raw:
        if gzip:
            with gzip_module.GzipFile(fileobj=raw, mode="wb", filename="", mtime=0) as zipped:
                return writer.write(result.events(window), zipped, progress)
        return writer.write(result.events(window), raw, progress)


def write_manifests(result: SimulationResult, directory: str) -> list[str]:
    """Write ``<namespace>.yaml`` for every namespace into ``directory``; returns the paths."""
    header = HEADER.format(scenario=result.scenario.name, seed=result.seed)
    return write_manifest_files(render_manifests(result.cluster, header), directory)


def ground_truth(result: SimulationResult) -> GroundTruth:
    """What the scenario allows, with how many events each connection has per window."""
    generator = result.generator()
    events = count_events((w, generator.events(w)) for w in result.windows)
    return GroundTruth(
        scenario=result.scenario.name,
        seed=result.seed,
        cluster=result.cluster,
        connections=result.scenario.connections,
        windows=result.windows,
        events=events,
        allowed=allowed_keys(result.scenario.connections),
    )
