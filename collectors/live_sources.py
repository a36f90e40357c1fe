"""The registry of live sources that ``learn --source`` offers.

A live source is a stream module (e.g. :mod:`collectors.hubble.grpc`) with
``open_live(request) -> stream``, and one :class:`LiveSource` line in :data:`LIVE_SOURCES`.
The command line reads names, defaults and help from here when it parses flags; grpc and the
generated protobuf modules load only when a stream is opened, so each opener imports its stream
module inside the function.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from collectors.calico import goldmane_address
from collectors.stream_options import DEFAULT_SERVER, LiveRequest, ServerOptions
from learner.model.flow import Flow
from learner.model.repeats import Repeats


class Position(Protocol):
    @property
    def time_ns(self) -> int: ...

    @property
    def boundary(self) -> tuple[str, ...]: ...


class Counters(Protocol):
    @property
    def duplicates(self) -> int: ...

    @property
    def reconnects(self) -> int: ...


class FlowSource(Protocol):
    """What the live learner reads: flows until closed, and the position committed so far."""

    @property
    def connected(self) -> bool: ...

    @property
    def position(self) -> Position | None: ...

    def flows(self) -> Iterator[Flow]: ...

    def commit(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class RepeatTallying(Protocol):
    """A source that can tally flows repeating an earlier one instead of handing them out
    (:meth:`collectors.hubble.grpc.HubbleStream.tally_repeats`)."""

    def tally_repeats(self, repeats: Repeats, lock: threading.Lock) -> None: ...


class LiveStream(FlowSource, Protocol):
    """A running stream, with the counters that metrics and the state's totals read."""

    @property
    def counters(self) -> Counters: ...


@dataclass(frozen=True, slots=True)
class LiveSource:
    name: str
    help: str
    """What it streams from, for ``--source`` help."""
    default_server: str
    server_options: Callable[[ServerOptions], ServerOptions]
    """The ``--server``/``--tls-*`` flags as this source reads them (defaults, ports, TLS)."""
    open: Callable[[LiveRequest], LiveStream]


def _hubble_options(given: ServerOptions) -> ServerOptions:
    return given


def _open_hubble(request: LiveRequest) -> LiveStream:
    from collectors.hubble.grpc import open_live

    return open_live(request)


def _goldmane_options(given: ServerOptions) -> ServerOptions:
    """The Hubble server flags read for Goldmane; ``--server`` left at its default means
    Goldmane's default address."""
    server = given.server
    return goldmane_address.goldmane_options(
        goldmane_address.DEFAULT_SERVER if server == DEFAULT_SERVER else server,
        given.tls,
        dial_timeout=given.dial_timeout,
        request_timeout=given.request_timeout,
    )


def _open_goldmane(request: LiveRequest) -> LiveStream:
    from collectors.calico.goldmane import open_live

    return open_live(request)


LIVE_SOURCES: dict[str, LiveSource] = {
    "hubble": LiveSource(
        "hubble", "hubble-relay or a Hubble server", DEFAULT_SERVER, _hubble_options, _open_hubble
    ),
    "goldmane": LiveSource(
        "goldmane",
        "Calico Goldmane, mTLS",
        goldmane_address.DEFAULT_SERVER,
        _goldmane_options,
        _open_goldmane,
    ),
}
"""Every live source, by its ``learn --source`` name (the first is the default)."""
