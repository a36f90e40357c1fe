"""What a live stream is asked for: server, TLS and reconnect options, and the request.

These are plain values, read from the flags when the command line is parsed; grpc itself is
imported only by :mod:`collectors.grpc_stream`, when a stream is opened.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from learner.model.flow import Verdict
from learner.model.run_stats import CollectorStats

DEFAULT_SERVER = "localhost:4245"
"""The hubble CLI's default server (hubble-relay through a port-forward)."""
DEFAULT_PORT = 4245
TLS_PREFIX = "tls://"
UNIX_PREFIX = "unix://"


def with_default_port(server: str, port: int) -> str:
    """``server`` without ``tls://``, with ``port`` when it names none (unix sockets as given)."""
    address = server.removeprefix(TLS_PREFIX)
    if address.startswith(UNIX_PREFIX):
        return address
    host_end = address.rfind("]") if address.startswith("[") else -1
    if address.find(":", host_end + 1) == -1:
        address = f"{address}:{port}"
    return address


@dataclass(frozen=True, slots=True)
class TLSOptions:
    enabled: bool = False
    allow_insecure: bool = False
    """Trust whatever certificate the server presents (it must be self-signed)."""
    ca_cert_files: tuple[str, ...] = ()
    """PEM bundles to verify the server with; empty: the system roots."""
    client_cert_file: str = ""
    client_key_file: str = ""
    server_name: str = ""
    """Name to verify the server certificate against, e.g. ``instance.hubble-relay.cilium.io``."""


@dataclass(frozen=True, slots=True)
class ServerOptions:
    server: str = DEFAULT_SERVER
    """``host:port``, ``tls://host:port`` or ``unix:///path``."""
    tls: TLSOptions = TLSOptions()
    dial_timeout: float = 5.0
    """Seconds to wait for a connection (``--timeout``)."""
    request_timeout: float = 12.0
    """Seconds for unary calls such as ServerStatus (``--request-timeout``)."""
    keepalive_time: float = 60.0
    """Seconds between keepalive pings on an open stream (detects half-dead connections)."""
    keepalive_timeout: float = 20.0

    @property
    def target(self) -> str:
        """The gRPC target: without ``tls://``, with the default port when none is given."""
        return with_default_port(self.server, DEFAULT_PORT)

    @property
    def use_tls(self) -> bool:
        return self.tls.enabled or self.server.startswith(TLS_PREFIX)


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    initial_backoff: float = 1.0
    max_backoff: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.2
    """Each delay is scaled by a random factor in ``[1 - jitter, 1 + jitter]``."""
    max_attempts: int = 10
    """Consecutive failed attempts before giving up; 0: never give up."""
    seed: int | None = None
    """Seed for the jitter, for reproducible delays (tests)."""

    def delays(self) -> Iterator[float]:
        rng = random.Random(self.seed)
        base = self.initial_backoff
        while True:
            factor = 1.0 + self.jitter * (2.0 * rng.random() - 1.0)
            yield min(self.max_backoff, base * factor)
            base = min(self.max_backoff, base * self.multiplier)


@dataclass(frozen=True, slots=True)
class LiveRequest:
    """What to stream and from where a saved run left off."""

    server: ServerOptions
    reconnect: ReconnectPolicy
    stats: CollectorStats
    since_ns: int | None = None
    """Where the first connection starts when nothing was saved; None: new flows only."""
    resume: tuple[int, Sequence[str]] | None = None
    """A saved position: the time (ns) and the keys already counted at exactly that time."""
    namespaces: tuple[str, ...] = ()
    """Only flows with a pod end in these (a source that can filters on the server)."""
    verdicts: tuple[Verdict, ...] = ()
    """Verdicts to ask for, where the source can filter by verdict."""
