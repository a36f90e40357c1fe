"""Live flows from Hubble over gRPC: hubble-relay, a node's Hubble server or its unix socket.

:class:`HubbleStream` calls ``observer.Observer/GetFlows`` with ``follow`` and server-side
whitelist filters (namespaces as ``source_pod``/``destination_pod`` ``"ns/"`` prefixes, verdicts),
so flows the learner would skip anyway never cross the wire. It reconnects with capped, jittered
exponential backoff and resumes from the last flow it handed out (``since``), dropping the
replayed flows it already counted: those before the resume point, and those exactly at it whose
key (uuid, else a hash of the message) it remembers. Flags follow the hubble CLI (``--server``,
``--tls*``, ``--timeout``, ``--request-timeout``).

Responses are decoded narrowly (:mod:`collectors.hubble.narrow`: only the fields learning reads)
and come out as :class:`learner.model.Flow` via :func:`collectors.hubble.proto.flow_from_narrow`,
to go through the same :func:`learner.normalize.normalize` as files.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.experimental
from google.protobuf.message import DecodeError

from collectors._proto.flow import flow_pb2
from collectors._proto.observer import observer_pb2, observer_pb2_grpc
from collectors._proto.relay import relay_pb2
from collectors.grpc_stream import (
    ReconnectingStream,
    TLSMaterial,
    channel_for,
    is_tls_failure,
    tls_material,
)
from collectors.grpc_wire import WireCall, WireError
from collectors.hubble.narrow import NarrowResponse
from collectors.hubble.narrow_key import narrow_repeat_key
from collectors.hubble.proto import UnsupportedFlow, flow_from_narrow
from collectors.hubble.wire_key import BUILT as WIRE_KEY_BUILT
from collectors.hubble.wire_key import flow_key
from collectors.k8snames import drain_label_warnings
from collectors.stream_options import DEFAULT_SERVER, LiveRequest, ReconnectPolicy, ServerOptions
from learner.model.errors import InputError, SourceUnavailableError
from learner.model.flow import Flow, Origin, Verdict
from learner.model.repeats import PROGRESS_EVERY, Repeats, Tally
from learner.model.run_stats import CollectorStats

__all__ = [
    "DEFAULT_SERVER",
    "FlowQuery",
    "HubbleStream",
    "StreamPosition",
    "build_request",
    "iter_flows",
]

log = logging.getLogger(__name__)

DEFAULT_RECONNECT = ReconnectPolicy()
GET_FLOWS = "/observer.Observer/GetFlows"
BOUNDARY_LIMIT = 1024
"""Keys remembered for flows sharing the newest timestamp (more is pathological)."""

# Codes that a later attempt may not see again. Everything else (UNAVAILABLE, a server going
# away mid-stream, deadlines, resource exhaustion ...) is retried.


@dataclass(frozen=True, slots=True)
class FlowQuery:
    namespaces: tuple[str, ...] = ()
    """Only flows with a source or destination pod in these namespaces (server-side)."""
    verdicts: tuple[Verdict, ...] = ()
    """Only flows with these verdicts (server-side); empty: all."""
    follow: bool = True
    """Keep streaming new flows; False ends when the server has sent what it has."""
    since_ns: int | None = None
    """Where the first connection starts when there is no saved position."""


@dataclass(frozen=True, slots=True)
class StreamPosition:
    """The newest flow committed: its time and the keys of every flow at exactly that time."""

    time_ns: int
    boundary: tuple[str, ...] = ()
    """Sorted, with repeats: real captures hold byte-identical flows, and each copy counts."""


def build_request(query: FlowQuery, since_ns: int | None) -> observer_pb2.GetFlowsRequest:
    request = observer_pb2.GetFlowsRequest(follow=query.follow)
    if since_ns is not None:
        request.since.seconds, request.since.nanos = divmod(since_ns, 1_000_000_000)
    verdicts = [flow_pb2.Verdict.Value(str(v)) for v in query.verdicts]
    prefixes = [f"{namespace}/" for namespace in query.namespaces]
    if prefixes:
        # Filters are ORed; fields inside one filter are ANDed.
        request.whitelist.add(source_pod=prefixes, verdict=verdicts)
        request.whitelist.add(destination_pod=prefixes, verdict=verdicts)
    elif verdicts:
        request.whitelist.add(verdict=verdicts)
    return request


@dataclass
class StreamCounters:
    responses: int = 0
    duplicates: int = 0
    """Replayed flows dropped after a resume because they were already counted."""
    reconnects: int = 0
    node_status: int = 0
    server_version: str = ""
    last_error: str = ""
    server_flow_filters: int = 0
    unsupported: dict[str, int] = field(default_factory=dict)


class HubbleStream(ReconnectingStream[StreamCounters]):
    """An endless (or, without ``follow``, finite) iterator of flows with reconnects.

    Iterate from one consumer thread: ``for flow in stream.flows(): ...``. :attr:`position` is
    the newest flow *committed*: a consumer that saves its aggregate elsewhere calls
    :meth:`commit` after it has taken each flow in, under the same lock as it reads
    :attr:`position` for saving, so the saved position and the saved aggregate always agree.
    Otherwise a flow is committed when the consumer asks for the next one. :meth:`close` may be
    called from any thread; the iteration then ends.
    """

    def __init__(
        self,
        options: ServerOptions,
        query: FlowQuery = FlowQuery(),
        *,
        reconnect: ReconnectPolicy = DEFAULT_RECONNECT,
        position: StreamPosition | None = None,
        stats: CollectorStats | None = None,
    ) -> None:
        super().__init__(options, reconnect, stats, StreamCounters())
        self.query = query
        self._position_ns = position.time_ns if position else -1
        self._boundary: Counter[str] = Counter(position.boundary if position else ())
        self._newest: bytes | None = None
        """The committed response (its wire bytes) at ``_position_ns`` whose key is not
        computed yet."""
        self._pending: tuple[bytes, int] | None = None
        self._repeats: Repeats | None = None
        self._tally_lock: threading.Lock | None = None
        self._keepalive = options.keepalive_time
        """Seconds of silence before the server is pinged: doubled each time the server says
        we ping too often (as grpcio does; grpc-go's default allows one ping in 5 minutes)."""

    def tally_repeats(self, repeats: Repeats, lock: threading.Lock) -> None:
        """Tally flows that repeat an earlier one in all but time in ``repeats`` instead of
        handing them out (:mod:`learner.model.repeats`). The consumer settles each flow it
        adds, and applies the tallies, under ``lock``: a tallied flow is counted and committed
        under it too, so a position saved under that lock matches the tallies applied."""
        self._repeats = repeats
        self._tally_lock = lock

    # -- position -------------------------------------------------------------------------

    @property
    def position(self) -> StreamPosition | None:
        with self._position_lock:
            if self._position_ns < 0:
                return None
            self._settle_newest()
            return StreamPosition(self._position_ns, tuple(sorted(self._boundary.elements())))

    def _commit(self) -> None:
        pending = self._pending
        if pending is None:
            return
        self._pending = None
        self._advance(*pending)

    def _advance(self, body: bytes, time_ns: int) -> None:
        """Move the position past the response ``body`` at ``time_ns`` (position lock held)."""
        if time_ns > self._position_ns:
            self._position_ns = time_ns
            if self._boundary:
                self._boundary.clear()
            self._newest = body  # its key is computed only if it is ever needed
        elif time_ns == self._position_ns:
            self._settle_newest()
            if self._boundary.total() < BOUNDARY_LIMIT:
                self._boundary[self._key(body)] += 1

    @staticmethod
    def _key(body: bytes) -> str:
        """The flow's uuid, else a hash of the whole response as the full schema serialises
        it (``body``: the response's wire bytes)."""
        try:
            full = observer_pb2.GetFlowsResponse.FromString(body)
        except DecodeError:  # a field learning never reads is corrupt (say, not UTF-8)
            return "sha:" + hashlib.blake2b(body, digest_size=12).hexdigest()
        uuid: str = full.flow.uuid
        if uuid:
            return uuid
        digest = hashlib.blake2b(full.SerializeToString(deterministic=True), digest_size=12)
        return "sha:" + digest.hexdigest()

    def _settle_newest(self) -> None:
        newest = self._newest
        if newest is not None:
            self._newest = None
            if self._boundary.total() < BOUNDARY_LIMIT:
                self._boundary[self._key(newest)] += 1

    # -- lifecycle ------------------------------------------------------------------------

    def _connect(self, stub: observer_pb2_grpc.ObserverStub) -> None:
        """Ask for the server's status: it connects, and proves the server answers.

        Without ``wait_for_ready`` the call fails at once with the channel's own reason when the
        connection fails (refused, TLS ...), which tells a retryable failure from a fatal one;
        while connecting it waits, at most the dial timeout plus the request timeout.
        """
        try:
            status = stub.ServerStatus(
                observer_pb2.ServerStatusRequest(),
                timeout=self.options.dial_timeout + self.options.request_timeout,
                wait_for_ready=False,
            )
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise
            return
        self.counters.server_version = status.version
        log.info(
            "connected to %s (version %s, %d flows buffered, %s nodes connected)",
            self.options.server,
            status.version or "unknown",
            status.num_flows,
            status.num_connected_nodes.value if status.HasField("num_connected_nodes") else "?",
        )

    def flows(self) -> Iterator[Flow]:
        """Flows as they arrive, across reconnects. Raises SourceUnavailableError."""
        material = tls_material(self.options)
        channel = channel_for(self.options, self.reconnect, material)
        try:
            yield from self._attempts(channel, material)
        finally:
            self.connected = False
            channel.close()

    def _attempts(self, channel: grpc.Channel, material: TLSMaterial | None) -> Iterator[Flow]:
        stub = observer_pb2_grpc.ObserverStub(channel)  # type: ignore[no-untyped-call]

        def attempt() -> Iterator[Flow]:
            self._connect(stub)
            resume_ns, already_counted = self._resume_point()
            since = resume_ns if resume_ns >= 0 else self.query.since_ns
            # The flow stream is read off its own connection, in large chunks (grpc_wire.py):
            # several times the messages per second of grpcio's one read per message.
            request = build_request(self.query, since).SerializeToString()
            call = WireCall(
                self.options, material, GET_FLOWS, request, keepalive_time=self._keepalive
            )
            self._hold_call(call)
            self.connected = True
            try:
                yield from self._receive(call, resume_ns, already_counted)
            except WireError as error:
                if error.too_many_pings:
                    self._keepalive *= 2
                    log.warning(
                        "%s: the server wants fewer keepalive pings; now every %gs",
                        self.options.server,
                        self._keepalive,
                    )
                raise

        yield from self._reconnecting(attempt, self.query.follow)

    def _progress(self) -> int:
        return self.stats.records

    def _unavailable(self, error: grpc.RpcError, reason: str = "") -> SourceUnavailableError:
        code = error.code()
        detail = error.details() or ""
        if is_tls_failure(error):
            detail = f"TLS failure: {detail}"
        return SourceUnavailableError(self.options.server, code.name, f"{detail}{reason}")

    def _resume_point(self) -> tuple[int, Counter[str]]:
        """The committed position (-1: none) and the keys already counted at exactly it."""
        with self._position_lock:
            self._commit()
            self._settle_newest()
            return self._position_ns, Counter(self._boundary)

    def _receive(self, call: Any, resume_ns: int, already_counted: Counter[str]) -> Iterator[Flow]:
        stats = self.stats
        counters = self.counters
        # One origin for the stream: a live flow cannot be found again by position, and a new
        # Origin per flow would cost more than mapping it. Errors name the response number.
        origin = Origin(self.options.server)
        # After a resume, flows up to the saved position are replays of counted ones; the
        # server sends them in time order, so the check ends at the first newer flow.
        checking = resume_ns >= 0
        repeats = self._repeats
        entries = repeats.entries if repeats is not None else {}
        aliases = repeats.aliases if repeats is not None else {}
        wire_key = flow_key if repeats is not None and WIRE_KEY_BUILT else None
        lock = self._tally_lock or threading.Lock()
        decode = NarrowResponse.FromString
        for body in call:
            stats.records += 1
            counters.responses += 1
            alias: bytes | None = None
            if wire_key is not None and not checking:
                # A flow seen before in all but its time is counted off its wire bytes.
                found = wire_key(body)
                if found is not None:
                    alias, seconds, nanos = found
                    tally = aliases.get(alias)
                    if tally is not None:
                        self._tally(tally, seconds, nanos, body, lock)
                        continue
            try:
                response = decode(body)
            except DecodeError as error:
                where = f"{origin.source} response {counters.responses}"
                stats.bad_record(
                    InputError(where, 0, f"undecodable response: {error}"), strict=False
                )
                continue
            kind = response.WhichOneof("response_types")
            if kind != "flow":
                self._count_other(response, kind)
                continue
            message = response.flow
            if message.HasField("time"):
                stamp, fallback = message.time, None
            else:
                stamp = fallback = response.time
            seconds, nanos = stamp.seconds, stamp.nanos
            time_ns = seconds * 1_000_000_000 + nanos
            if checking:
                if time_ns < resume_ns:
                    counters.duplicates += 1
                    continue
                if time_ns == resume_ns:
                    key = self._key(body)
                    if already_counted[key] > 0:
                        already_counted[key] -= 1
                        counters.duplicates += 1
                        continue
                else:
                    checking = False
            shape: tuple[object, ...] | None = None
            if repeats is not None:
                shape = narrow_repeat_key(message)
                if shape is not None:
                    tally = entries.get(shape)
                    if tally is not None:
                        if alias is not None:
                            repeats.alias(alias, tally)
                        self._tally(tally, seconds, nanos, body, lock)
                        continue
            try:
                flow = flow_from_narrow(
                    message,
                    origin,
                    fallback_time=fallback,
                    fallback_node=response.node_name,
                    stamp=stamp if fallback is None else None,
                )
            except UnsupportedFlow as skipped:
                stats.non_flow[skipped.kind] += 1
                continue
            except InputError as error:
                where = f"{error.path} response {counters.responses}"
                stats.bad_record(InputError(where, 0, error.reason), strict=False)
                continue
            except DecodeError as error:
                # The narrow decode leaves endpoints and addresses as bytes, parsed here: a
                # corrupt one is one bad record, not the end of the stream.
                where = f"{origin.source} response {counters.responses}"
                stats.bad_record(InputError(where, 0, f"undecodable flow: {error}"), strict=False)
                continue
            stats.flows += 1
            drain_label_warnings(stats.warnings)
            self._pending = (body, time_ns)
            if shape is not None and repeats is not None:
                with lock:
                    repeats.first_of(shape, flow)
                    if alias is not None and repeats.latest is not None:
                        repeats.alias(alias, repeats.latest)
            yield flow
            # The consumer asks for more, so it is done with this flow (normally it committed it).
            self.commit()
            if repeats is not None:
                repeats.resume()  # a first flow the consumer did not settle was set aside

    def _tally(
        self, tally: Tally, seconds: int, nanos: int, body: bytes, lock: threading.Lock
    ) -> None:
        """Count a flow that repeats the first of ``tally`` in all but its time, and commit it."""
        repeats = self._repeats
        assert repeats is not None
        with lock:
            tally.add(seconds + nanos / 1e9 if nanos else float(seconds))
            repeats.tallied += 1
            self.stats.flows += 1
            with self._position_lock:
                self._advance(body, seconds * 1_000_000_000 + nanos)
        if repeats.tallied & PROGRESS_EVERY == 0 and repeats.on_progress:
            repeats.on_progress()

    def _count_other(self, response: Any, kind: str | None) -> None:
        if kind == "lost_events":
            self.stats.lost_events += response.lost_events.num_events_lost
            self.stats.non_flow["lost_events"] += 1
        elif kind == "node_status":
            self.counters.node_status += 1
            self.stats.non_flow["node_status"] += 1
            try:
                status = relay_pb2.NodeStatusEvent.FromString(response.node_status)
            except DecodeError as error:
                where = f"{self.options.server} response {self.counters.responses}"
                reason = f"undecodable node status: {error}"
                self.stats.bad_record(InputError(where, 0, reason), strict=False)
                return
            if status.state_change in _NODE_TROUBLE:
                log.warning(
                    "hubble node status: %s %s %s",
                    relay_pb2.NodeState.Name(status.state_change),
                    ",".join(status.node_names),
                    status.message,
                )
        else:
            self.stats.non_flow[kind or "unknown"] += 1


_NODE_TROUBLE = frozenset({relay_pb2.NODE_UNAVAILABLE, relay_pb2.NODE_GONE, relay_pb2.NODE_ERROR})


def iter_flows(
    options: ServerOptions,
    *,
    query: FlowQuery = FlowQuery(),
    reconnect: ReconnectPolicy = DEFAULT_RECONNECT,
    stats: CollectorStats,
) -> Iterator[Flow]:
    """Flows from a Hubble server; see :class:`HubbleStream` for position and closing."""
    yield from HubbleStream(options, query, reconnect=reconnect, stats=stats).flows()


def open_live(request: LiveRequest) -> HubbleStream:
    """``learn --source hubble``: namespaces and verdicts filtered on the server."""
    query = FlowQuery(
        namespaces=request.namespaces,
        verdicts=request.verdicts,
        follow=True,
        since_ns=request.since_ns,
    )
    resume = request.resume
    return HubbleStream(
        request.server,
        query,
        reconnect=request.reconnect,
        position=StreamPosition(resume[0], tuple(resume[1])) if resume else None,
        stats=request.stats,
    )
