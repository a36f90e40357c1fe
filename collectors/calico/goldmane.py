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

import hashlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc

from collectors._proto.goldmane import api_pb2, api_pb2_grpc
from collectors.calico.goldmane_address import DEFAULT_SERVER, goldmane_options
from collectors.calico.model import (
    ENDPOINT_TYPES,
    WARN_NAME_LABEL,
    EndpointMapper,
    RawEndpoint,
    clean,
    direction_of,
    protocol_of,
    verdict_of,
)
from collectors.grpc_stream import ReconnectingStream, channel_for, is_tls_failure
from collectors.k8snames import InvalidName, drain_label_warnings
from collectors.stream_options import LiveRequest, ReconnectPolicy, ServerOptions
from learner.model.errors import InputError, SourceUnavailableError
from learner.model.flow import Endpoint, Flow, Origin
from learner.model.run_stats import CollectorStats

__all__ = [
    "DEFAULT_SERVER",
    "GoldmanePosition",
    "GoldmaneQuery",
    "GoldmaneStream",
    "flow_from_goldmane",
    "goldmane_options",
    "iter_flows",
]

log = logging.getLogger(__name__)

AGGREGATION_INTERVAL = 15
"""Seconds per window; the only interval Goldmane streams."""
REMEMBERED_WINDOWS = 4
"""Windows (before the newest) whose results are remembered to drop replays."""
END_OF_TIER = api_pb2.PolicyKind.Value("EndOfTier")
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


class GoldmaneStream(ReconnectingStream[StreamCounters]):
    """Flows from Goldmane across reconnects; iterate ``flows()`` from one thread.

    :attr:`position` can be saved and passed back to resume a later run. It covers the results
    *committed*: a consumer that saves its aggregate elsewhere calls :meth:`commit` after it has
    taken each flow in, under the same lock as it reads :attr:`position` for saving, so the
    saved position and the saved aggregate always agree. Otherwise a result is committed when
    the consumer asks for the next flow. :meth:`close` may be called from any thread; the
    iteration then ends.
    """

    LOG_ATTEMPTS = False

    def __init__(
        self,
        options: ServerOptions,
        query: GoldmaneQuery = GoldmaneQuery(),
        *,
        reconnect: ReconnectPolicy = DEFAULT_RECONNECT,
        position: GoldmanePosition | None = None,
        stats: CollectorStats | None = None,
    ) -> None:
        super().__init__(options, reconnect, stats, StreamCounters())
        self.query = query
        self.endpoints = EndpointMapper()
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

    def _commit(self) -> None:
        pending = self._pending
        if pending is None:
            return
        self._pending = None
        self._take(*pending)

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
            drain_label_warnings(self.stats.warnings)
            if self.endpoints.named_only:
                self.stats.warnings[WARN_NAME_LABEL] += self.endpoints.named_only
                self.endpoints.named_only = 0

    def _attempts(self) -> Iterator[Flow]:
        yield from self._reconnecting(self._attempt, self.query.follow)

    def _attempt(self) -> Iterator[Flow]:
        # A fresh channel per attempt: a new name lookup and handshake after a restart.
        channel = channel_for(self.options)
        try:
            self._wait_until_ready(channel)
            stub = api_pb2_grpc.FlowsStub(channel)  # type: ignore[no-untyped-call]
            results = self._stream(stub) if self.query.follow else self._pages(stub)
            yield from self._receive(results)
        finally:
            channel.close()

    def _progress(self) -> int:
        return self.counters.results

    def _unavailable(self, error: grpc.RpcError, reason: str = "") -> SourceUnavailableError:
        detail = error.details() or ""
        if is_tls_failure(error):
            detail = f"TLS failure: {detail}"
        elif "socket closed" in detail.lower() and not self.options.tls.client_cert_file:
            # A server that demands a client certificate just drops the handshake without one.
            reason += CLIENT_CERT_HINT
        return SourceUnavailableError(self.options.server, error.code().name, f"{detail}{reason}")

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
        self._hold_call(call)
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
            except InvalidName as error:
                stats.bad_record(InputError(server, counters.results, str(error)), strict=False)
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


def open_live(request: LiveRequest) -> GoldmaneStream:
    """``learn --source goldmane``: Allow and Deny results, namespaces filtered by the learner.

    Deny always, so that a connection allowed at one end and denied at the other stays
    contested; namespaces are not sent, because Goldmane's filter ANDs source and destination
    namespaces.
    """
    start = request.since_ns // 1_000_000_000 if request.since_ns is not None else 0
    resume = request.resume
    return GoldmaneStream(
        request.server,
        GoldmaneQuery(actions=("Allow", "Deny"), start_time_gte=start, follow=True),
        reconnect=request.reconnect,
        position=GoldmanePosition.from_saved(*resume) if resume else None,
        stats=request.stats,
    )
