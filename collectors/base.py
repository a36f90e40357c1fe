"""What every collector is, and the registry of flow-file sources that the command line offers.

A collector is a module exposing ``iter_flows(inputs, *, strict, stats) -> Iterator[Flow]``.
Malformed records are counted in ``stats`` (with the first few as messages naming file and
line) and skipped; with ``strict`` the first one raises :class:`~learner.model.errors.InputError`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from collectors.calico import file as calico_file
from collectors.hubble import file as hubble_file
from learner.model.flow import Flow
from learner.model.run_stats import CollectorStats


class Collector(Protocol):
    def iter_flows(
        self, inputs: Sequence[str], *, strict: bool = False, stats: CollectorStats
    ) -> Iterator[Flow]: ...


FILE_SOURCES: dict[str, Collector] = {
    "hubble": hubble_file,
    "calico": calico_file,
}
"""Every flow-file format, by its ``--source`` name: one line per collector module."""
