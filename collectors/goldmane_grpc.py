"""Live flows from Calico Goldmane (Calico Open Source 3.30+) over gRPC with mutual TLS.

Goldmane (``goldmane.calico-system.svc:7443``) aggregates every node's flows into 15-second
windows. :class:`GoldmaneStream` calls ``goldmane.Flows/Stream`` (or pages through ``List``
when not following) and maps each ``FlowResult`` onto a :class:`~learner.model.Flow` with the
same Calico vocabulary as the file collector (:mod:`collectors.calico_model`), to go through
the same normalisation.

Reconnects use capped, jittered exponential backoff. A reconnect resumes one window before the
newest window seen (``start_time_gte``) because windows of different flow keys are sent as
they close; results already taken in are recognised by their key and window and dropped, so
nothing is counted twice. Goldmane serves mTLS only: TLS is always on, with the client
certificate and key of a Goldmane client (``--tls-client-cert-file``/``--tls-client-key-file``),
the CA that signed Goldmane's certificate (``--tls-ca-cert-files``) and, when connecting through
a port-forward, the name in that certificate (``--tls-server-name``).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import grpc

from collectors._proto.goldmane import api_pb2, api_pb2_grpc
from collectors.base import CollectorStats
from collectors.calico_model import (
    ENDPOINT_TYPES,
    WARN_NAME_LABEL,
    EndpointMapper,
    RawEndpoint,
    clean,
    direction_of,
    protocol_of,
    verdict_of,
)
from collectors.grpc_flags import GOLDMANE_DEFAULT_SERVER
from collectors.hubble_grpc import (
    ReconnectPolicy,
    ServerOptions,
    TLSOptions,
    channel_for,
    is_retryable,
    is_tls_failure,
    server_options_from_args,
)
from learner.errors import SourceUnavailableError
from learner.model import Endpoint, Flow, Origin

__all__ = [
    "DEFAULT_SERVER",
    "GoldmanePosition",
    "GoldmaneQuery",
    "GoldmaneStream",
    "flow_from_goldmane",
    "goldmane_options",
    "goldmane_options_from_args",
    "iter_flows",
]

log = logging.getLogger(__name__)

DEFAULT_SERVER = GOLDMANE_DEFAULT_SERVER
DEFAULT_PORT = 7443
AGGREGATION_INTERVAL = 15
"""Seconds per window; the only interval Goldmane streams."""
REMEMBERED_WINDOWS = 4
"""Windows (before the newest) whose results are remembered to drop replays."""
HUBBLE_DEFAULT_SERVER = "localhost:4245"
END_OF_TIER = api_pb2.PolicyKind.Value("EndOfTier")
GOLDMANE_TLS = TLSOptions(enabled=True)
DEFAULT_RECONNECT = ReconnectPolicy()


@dataclass(frozen=True, slots=True)
class GoldmaneQuery:
    actions: tuple[str, ...] = ()
    """Only flows with these actions (``Allow``, ``Deny``), filtered by the server; empty: all."""
    start_time_gte: int = 0
    """Where the first connection starts: 0 = now when following (the oldest kept otherwise),
    > 0 = Unix seconds, < 0 = seconds before the server's now."""
    follow: bool = True
    """Stream until closed; False pages through what the server keeps (``List``) and ends."""
    page_size: int = 1000
    """Flows per ``List`` page (without ``follow``)."""


@dataclass(frozen=True, slots=True)
class GoldmanePosition:
    """How far the stream has got: the newest window start and the results taken in that a
    resume would be sent again (by key and window).

    ``time_ns`` and ``boundary`` give it the shape of every collector's position, so the
    learning state saves and restores it as it does Hubble's (see :meth:`from_saved`).
    """

    newest_start: int
    seen: frozenset[str] = frozenset()

    @property
    def time_ns(self) -> int:
        return self.newest_start * 1_000_000_000

    @property
    def boundary(self) -> tuple[str, ...]:
        return tuple(sorted(self.seen))

    @classmethod
    def from_saved(cls, time_ns: int, boundary: Iterable[str]) -> GoldmanePosition:
        """The position a state saved as ``time_ns`` and ``boundary``."""
        return cls(time_ns // 1_000_000_000, frozenset(boundary))


def goldmane_options(
    server: str = DEFAULT_SERVER,
    tls: TLSOptions = GOLDMANE_TLS,
    *,
    dial_timeout: float = 5.0,
    request_timeout: float = 12.0,
) -> ServerOptions:
    """Server options for Goldmane: port 7443 unless given, TLS always on."""
    address = server.removeprefix("tls://")
    host_end = address.rfind("]") if address.startswith("[") else -1
    if not address.startswith("unix://") and address.find(":", host_end + 1) == -1:
        address = f"{address}:{DEFAULT_PORT}"
    return ServerOptions(
        server=address,
        tls=replace(tls, enabled=True),
        dial_timeout=dial_timeout,
        request_timeout=request_timeout,
    )


def goldmane_options_from_args(args: argparse.Namespace) -> ServerOptions:
    """The Hubble server flags (``--server``, ``--tls-*``, timeouts) read for Goldmane.

    ``--server`` left at Hubble's default means Goldmane's default address.
    """
    options = server_options_from_args(args)
    server = DEFAULT_SERVER if options.server == HUBBLE_DEFAULT_SERVER else options.server
    return goldmane_options(
        server,
        options.tls,
        dial_timeout=options.dial_timeout,
        request_timeout=options.request_timeout,
    )


# --- messages → flows --------------------------------------------------------------------------


class UnsupportedProtocol(Exception):  # noqa: N818 - a classification, not a failure
    """A flow whose protocol no policy port can name (ipip, esp ...)."""


def _endpoint(
    mapper: EndpointMapper, endpoint_type: int, namespace: str, name: str, labels: Any
) -> Endpoint:
    label_tuple = tuple(labels)
    key = ("goldmane", endpoint_type, namespace, name, label_tuple)
    found = mapper.cached(key)
    if found is not None:
        return found
    raw = RawEndpoint(
        ENDPOINT_TYPES.get(str(endpoint_type)),
        clean(namespace),
        "",
        clean(name),
        label_tuple or None,
        "",
    )
    return mapper.add(key, raw)


def _policy_names(trace: api_pb2.PolicyTrace) -> tuple[str, ...]:
    """``namespace/name`` of the enforced hits in evaluation order; end of tier → its trigger."""
    ordered: list[tuple[int, str]] = []
    for hit in trace.enforced_policies:
        shown = hit.trigger if hit.kind == END_OF_TIER and hit.HasField("trigger") else hit
        if shown.name:
            name = f"{shown.namespace}/{shown.name}" if shown.namespace else shown.name
            ordered.append((hit.policy_index, name))
    return tuple(dict.fromkeys(name for _, name in sorted(ordered)))


def flow_from_goldmane(message: api_pb2.Flow, origin: Origin, mapper: EndpointMapper) -> Flow:
    """One Goldmane flow; raises :class:`UnsupportedProtocol` for ipip, esp and the like."""
    key = message.Key
    protocol = protocol_of(key.proto)
    if protocol is None:
        raise UnsupportedProtocol(f"protocol {key.proto or 'unknown'} (no policy port)")
    return Flow(
        time=float(message.end_time or message.start_time),
        source=_endpoint(
            mapper, key.source_type, key.source_namespace, key.source_name, message.source_labels
        ),
        destination=_endpoint(
            mapper, key.dest_type, key.dest_namespace, key.dest_name, message.dest_labels
        ),
        protocol=protocol,
        port=key.dest_port,
        verdict=verdict_of(key.action),
        direction=direction_of(key.reporter),
        is_reply=False,
        origin=origin,
        count=message.num_connections_started or message.num_connections_live or 1,
        policies=_policy_names(key.policies),
    )


def result_key(message: api_pb2.Flow) -> str:
    """Identifies one flow key in one window (what a replay repeats)."""
    digest = hashlib.blake2b(message.Key.SerializeToString(deterministic=True), digest_size=12)
    return f"{message.start_time}:{message.end_time}:{digest.hexdigest()}"


# --- the stream --------------------------------------------------------------------------------


@dataclass
class StreamCounters:
    results: int = 0
    duplicates: int = 0
    """Replayed results dropped after a resume because they were already taken in."""
    reconnects: int = 0
    last_error: str = ""


CLIENT_CERT_HINT = (
    "; Goldmane requires a client certificate (--tls-client-cert-file, --tls-client-key-file)"
)


def _unavailable(
    options: ServerOptions, error: grpc.RpcError, reason: str = ""
) -> SourceUnavailableError:
    detail = error.details() or ""
    if is_tls_failure(error):
        detail = f"TLS failure: {detail}"
    elif "socket closed" in detail.lower() and not options.tls.client_cert_file:
        # A server that demands a client certificate just drops the handshake without one.
        reason += CLIENT_CERT_HINT
    return SourceUnavailableError(options.server, error.code().name, f"{detail}{reason}")


class GoldmaneStream:
    """Flows from Goldmane across reconnects; iterate ``flows()`` from one thread.

    :attr:`position` can be saved and passed back to resume a later run. It covers the results
    *committed*: a consumer that saves its aggregate elsewhere calls :meth:`commit` after it has
    taken each flow in, under the same lock as it reads :attr:`position` for saving, so the
    saved position and the saved aggregate always agree. Otherwise a result is committed when
    the consumer asks for the next flow. :meth:`close` may be called from any thread; the
    iteration then ends.
    """

    def __init__(
        self,
        options: ServerOptions,
        query: GoldmaneQuery = GoldmaneQuery(),
        *,
        reconnect: ReconnectPolicy = DEFAULT_RECONNECT,
        position: GoldmanePosition | None = None,
        stats: CollectorStats | None = None,
    ) -> None:
        self.options = options
        self.query = query
        self.reconnect = reconnect
        self.stats = stats if stats is not None else CollectorStats()
        self.counters = StreamCounters()
        self.endpoints = EndpointMapper()
        self.connected = False
        self._closed = threading.Event()
        self._call_lock = threading.Lock()
        self._position_lock = threading.Lock()
        """Guards ``_seen`` and ``_newest_start`` against :attr:`position` on another thread."""
        self._call: Any = None
        self._pending: tuple[str, int] | None = None
        """The key and window start of the flow handed out last, until committed."""
        self._newest_start = position.newest_start if position else -1
        self._seen: dict[str, int] = {}
        if position:
            self._seen = {key: int(key.split(":", 1)[0]) for key in position.seen}

    @property
    def position(self) -> GoldmanePosition | None:
        with self._position_lock:
            if self._newest_start < 0:
                return None
            # A resume asks from one window back; older results are never sent again.
            replayed_from = self._resume_from()
            seen = frozenset(key for key, start in self._seen.items() if start >= replayed_from)
            return GoldmanePosition(self._newest_start, seen)

    def commit(self) -> None:
        """Count the flow handed out last as taken in: the position moves past it."""
        pending = self._pending
        if pending is None:
            return
        with self._position_lock:
            self._pending = None
            self._take(*pending)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        self._closed.set()
        with self._call_lock:
            call = self._call
        if call is not None:
            call.cancel()

    def _take(self, key: str, start: int) -> None:
        self._seen[key] = start
        if start > self._newest_start:
            self._newest_start = start
            horizon = start - REMEMBERED_WINDOWS * AGGREGATION_INTERVAL
            self._seen = {k: s for k, s in self._seen.items() if s >= horizon}

    def _resume_from(self) -> int:
        if self._newest_start < 0:
            return self.query.start_time_gte
        return max(self._newest_start - AGGREGATION_INTERVAL, 1)

    def _filter(self) -> api_pb2.Filter:
        actions = [api_pb2.Action.Value(a) for a in self.query.actions]
        return api_pb2.Filter(actions=actions)

    def flows(self) -> Iterator[Flow]:
        """Flows as they arrive. Raises :class:`SourceUnavailableError`."""
        try:
            yield from self._attempts()
        finally:
            self.connected = False
            if self.endpoints.named_only:
                self.stats.warnings[WARN_NAME_LABEL] += self.endpoints.named_only
                self.endpoints.named_only = 0

    def _attempts(self) -> Iterator[Flow]:
        delays = self.reconnect.delays()
        failures = 0
        attempt = 0
        while not self.closed:
            if attempt:
                self.counters.reconnects += 1
            attempt += 1
            taken = self.counters.results
            # A fresh channel per attempt: a new name lookup and handshake after a restart.
            channel = channel_for(self.options)
            try:
                self._wait_until_ready(channel)
                stub = api_pb2_grpc.FlowsStub(channel)  # type: ignore[no-untyped-call]
                results = self._stream(stub) if self.query.follow else self._pages(stub)
                yield from self._receive(results)
                if not self.query.follow:
                    return
                log.warning("%s ended the flow stream; reconnecting", self.options.server)
                failures = 0
                delays = self.reconnect.delays()
                if self._closed.wait(self.reconnect.initial_backoff):
                    return
            except grpc.RpcError as error:
                if self.closed:
                    return
                self.counters.last_error = f"{error.code().name}: {error.details()}"
                if not is_retryable(error):
                    raise _unavailable(self.options, error) from error
                if self.counters.results > taken:
                    failures = 0
                    delays = self.reconnect.delays()
                failures += 1
                limit = self.reconnect.max_attempts
                if limit and failures > limit:
                    reason = f" (gave up after {limit} attempts)"
                    raise _unavailable(self.options, error, reason) from error
                delay = next(delays)
                log.warning(
                    "%s: %s; reconnecting in %.2fs",
                    self.options.server,
                    self.counters.last_error,
                    delay,
                )
                if self._closed.wait(delay):
                    return
            finally:
                self.connected = False
                with self._call_lock:
                    self._call = None
                channel.close()

    def _wait_until_ready(self, channel: grpc.Channel) -> None:
        """Wait up to the dial timeout, so a dead server then fails the call with its reason
        (refused, TLS ...) instead of the call waiting for it forever."""
        ready = grpc.channel_ready_future(channel)
        try:
            ready.result(timeout=self.options.dial_timeout)
        except grpc.FutureTimeoutError:
            ready.cancel()

    def _stream(self, stub: api_pb2_grpc.FlowsStub) -> Iterator[api_pb2.FlowResult]:
        request = api_pb2.FlowStreamRequest(
            start_time_gte=self._resume_from(),
            filter=self._filter(),
            aggregation_interval=AGGREGATION_INTERVAL,
        )
        call = stub.Stream(request)
        with self._call_lock:
            self._call = call
        if self.closed:
            call.cancel()
        self.connected = True
        yield from call

    def _pages(self, stub: api_pb2_grpc.FlowsStub) -> Iterator[api_pb2.FlowResult]:
        page = 0
        while not self.closed:
            request = api_pb2.FlowListRequest(
                start_time_gte=self._resume_from() if self._newest_start >= 0 else 0,
                page=page,
                page_size=self.query.page_size,
                filter=self._filter(),
            )
            result = stub.List(request, timeout=self.options.request_timeout)
            self.connected = True
            yield from result.flows
            page += 1
            if page >= result.meta.totalPages or not result.flows:
                return

    def _receive(self, results: Iterator[api_pb2.FlowResult]) -> Iterator[Flow]:
        stats = self.stats
        counters = self.counters
        server = self.options.server
        for result in results:
            stats.records += 1
            counters.results += 1
            message = result.flow
            key = result_key(message)
            if key in self._seen:
                counters.duplicates += 1
                continue
            try:
                flow = flow_from_goldmane(message, Origin(server, counters.results), self.endpoints)
            except UnsupportedProtocol as skipped:
                stats.non_flow[str(skipped)] += 1
                with self._position_lock:
                    self._take(key, message.start_time)
                continue
            stats.flows += 1
            self._pending = (key, message.start_time)
            yield flow
            # The consumer asks for more, so it is done with this flow (normally it committed it).
            self.commit()


def iter_flows(
    options: ServerOptions,
    *,
    query: GoldmaneQuery = GoldmaneQuery(),
    reconnect: ReconnectPolicy = DEFAULT_RECONNECT,
    stats: CollectorStats,
) -> Iterator[Flow]:
    """Flows from Goldmane; see :class:`GoldmaneStream` for positions and closing."""
    yield from GoldmaneStream(options, query, reconnect=reconnect, stats=stats).flows()
