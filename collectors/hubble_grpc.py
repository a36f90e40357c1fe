"""Live flows from Hubble over gRPC: hubble-relay, a node's Hubble server or its unix socket.

:class:`HubbleStream` calls ``observer.Observer/GetFlows`` with ``follow`` and server-side
whitelist filters (namespaces as ``source_pod``/``destination_pod`` ``"ns/"`` prefixes, verdicts),
so flows the learner would skip anyway never cross the wire. It reconnects with capped, jittered
exponential backoff and resumes from the last flow it handed out (``since``), dropping the
replayed flows it already counted: those before the resume point, and those exactly at it whose
key (uuid, else a hash of the message) it remembers. Flags follow the hubble CLI (``--server``,
``--tls*``, ``--timeout``, ``--request-timeout``).

Flows come out as :class:`learner.model.Flow` via :func:`collectors.hubble_proto.flow_from_proto`,
to go through the same :func:`learner.normalize.normalize` as files.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import random
import socket
import ssl
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

# gRPC's C core prints its own INFO lines (e.g. "Got goaway" on every server restart) straight
# to stderr, which would break --log-format json; it reads this once, when grpc is first imported.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import grpc
import grpc.experimental

from collectors._proto.flow import flow_pb2
from collectors._proto.observer import observer_pb2, observer_pb2_grpc
from collectors._proto.relay import relay_pb2
from collectors.base import CollectorStats
from collectors.grpc_flags import DEFAULT_SERVER, add_server_arguments
from collectors.hubble_proto import UnsupportedFlow, flow_from_proto, timestamp_ns
from learner.durations import parse_duration, parse_time
from learner.errors import InputError, SourceUnavailableError, UsageError
from learner.model import Flow, Origin, Verdict

__all__ = [
    "DEFAULT_SERVER",
    "FlowQuery",
    "HubbleStream",
    "ReconnectPolicy",
    "ServerOptions",
    "StreamPosition",
    "TLSOptions",
    "add_server_arguments",
    "build_request",
    "iter_flows",
    "reconnect_policy_from_args",
    "server_options_from_args",
]

log = logging.getLogger(__name__)

DEFAULT_PORT = 4245
TLS_PREFIX = "tls://"
UNIX_PREFIX = "unix://"
BOUNDARY_LIMIT = 1024
"""Keys remembered for flows sharing the newest timestamp (more is pathological)."""

# Codes that a later attempt may not see again. Everything else (UNAVAILABLE, a server going
# away mid-stream, deadlines, resource exhaustion ...) is retried.
FATAL_CODES = frozenset(
    {
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.OUT_OF_RANGE,
    }
)
_TLS_FAILURE_MARKERS = ("ssl", "tls", "handshake", "certificate")


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
        address = self.server.removeprefix(TLS_PREFIX)
        if address.startswith(UNIX_PREFIX):
            return address
        host_end = address.rfind("]") if address.startswith("[") else -1
        if address.find(":", host_end + 1) == -1:
            address = f"{address}:{DEFAULT_PORT}"
        return address

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


def _read(path: str, flag: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise UsageError(f"{flag}: {path}: {error.strerror or error}") from error


def _presented_certificate(host: str, port: int, server_name: str, timeout: float) -> bytes:
    """The PEM certificate the server presents, fetched without verifying it."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((host, port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=server_name or host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise ssl.SSLError("the server presented no certificate")
    return ssl.DER_cert_to_PEM_cert(der).encode()


def _certificate_name(pem: bytes) -> str:
    """A DNS name the certificate is valid for (so the name check passes), or ``""``."""
    # The standard library decodes certificates only through this (long-standing) private helper.
    decode: Callable[[str], dict[str, Any]] | None = getattr(
        getattr(ssl, "_ssl", None), "_test_decode_cert", None
    )
    if decode is None:
        return ""
    with tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False) as handle:
        handle.write(pem)
    try:
        decoded = decode(handle.name)
    finally:
        os.unlink(handle.name)
    names = [value for kind, value in decoded.get("subjectAltName", ()) if kind == "DNS"]
    if names:
        return str(names[0]).replace("*", "wildcard")
    for rdn in decoded.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return ""


def _split_host_port(target: str) -> tuple[str, int]:
    host, _, port = target.rpartition(":")
    return host.strip("[]"), int(port)


def channel_for(
    options: ServerOptions, reconnect: ReconnectPolicy = ReconnectPolicy()
) -> grpc.Channel:
    """A channel to the server, with TLS and keepalive as configured. Raises UsageError."""
    channel_options: list[tuple[str, Any]] = [
        # Read the flow stream on the consumer's own thread: several times the messages per
        # second of grpcio's default, which hands every message over from a polling thread.
        (grpc.experimental.ChannelOptions.SingleThreadedUnaryStream, 1),
        # The channel's own reconnection must not wait longer than our backoff would.
        ("grpc.initial_reconnect_backoff_ms", max(1, int(reconnect.initial_backoff * 1000))),
        ("grpc.max_reconnect_backoff_ms", max(1, int(reconnect.max_backoff * 1000))),
        ("grpc.keepalive_time_ms", int(options.keepalive_time * 1000)),
        ("grpc.keepalive_timeout_ms", int(options.keepalive_timeout * 1000)),
        ("grpc.keepalive_permit_without_calls", 0),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.max_receive_message_length", 16 << 20),
    ]
    if not options.use_tls:
        return grpc.insecure_channel(options.target, options=channel_options)
    tls = options.tls
    if bool(tls.client_cert_file) != bool(tls.client_key_file):
        raise UsageError("--tls-client-cert-file and --tls-client-key-file go together")
    roots = b"".join(_read(path, "--tls-ca-cert-files") for path in tls.ca_cert_files) or None
    server_name = tls.server_name
    if tls.allow_insecure and roots is None and not options.target.startswith(UNIX_PREFIX):
        host, port = _split_host_port(options.target)
        try:
            roots = _presented_certificate(host, port, server_name, options.dial_timeout)
        except (OSError, ssl.SSLError) as error:
            raise SourceUnavailableError(options.server, "UNAVAILABLE", str(error)) from error
        server_name = server_name or _certificate_name(roots)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=roots,
        private_key=_read(tls.client_key_file, "--tls-client-key-file")
        if tls.client_key_file
        else None,
        certificate_chain=_read(tls.client_cert_file, "--tls-client-cert-file")
        if tls.client_cert_file
        else None,
    )
    if server_name:
        channel_options.append(("grpc.ssl_target_name_override", server_name))
    return grpc.secure_channel(options.target, credentials, options=channel_options)


def is_tls_failure(error: grpc.RpcError) -> bool:
    details = (error.details() or "").lower()
    return any(marker in details for marker in _TLS_FAILURE_MARKERS)


def is_retryable(error: grpc.RpcError) -> bool:
    code = error.code()
    return code not in FATAL_CODES and not is_tls_failure(error)


def _unavailable(server: str, error: grpc.RpcError, reason: str = "") -> SourceUnavailableError:
    code = error.code()
    detail = error.details() or ""
    if is_tls_failure(error):
        detail = f"TLS failure: {detail}"
    return SourceUnavailableError(server, code.name, f"{detail}{reason}")


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


class HubbleStream:
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
        reconnect: ReconnectPolicy = ReconnectPolicy(),
        position: StreamPosition | None = None,
        stats: CollectorStats | None = None,
    ) -> None:
        self.options = options
        self.query = query
        self.reconnect = reconnect
        self.stats = stats if stats is not None else CollectorStats()
        self.counters = StreamCounters()
        self.connected = False
        self._closed = threading.Event()
        self._call_lock = threading.Lock()
        self._position_lock = threading.Lock()
        self._call: Any = None
        self._position_ns = position.time_ns if position else -1
        self._boundary: Counter[str] = Counter(position.boundary if position else ())
        self._newest: observer_pb2.GetFlowsResponse | None = None
        """The committed response at ``_position_ns`` whose key is not computed yet."""
        self._pending: tuple[observer_pb2.GetFlowsResponse, int] | None = None
        """The flow handed out last, until committed."""

    # -- position -------------------------------------------------------------------------

    @property
    def position(self) -> StreamPosition | None:
        with self._position_lock:
            if self._position_ns < 0:
                return None
            self._settle_newest()
            return StreamPosition(self._position_ns, tuple(sorted(self._boundary.elements())))

    def commit(self) -> None:
        """Count the flow handed out last as taken in: the position moves past it."""
        if self._pending is None:
            return
        with self._position_lock:
            self._commit()

    def _commit(self) -> None:
        pending = self._pending
        if pending is None:
            return
        self._pending = None
        response, time_ns = pending
        if time_ns > self._position_ns:
            self._position_ns = time_ns
            self._boundary.clear()
            self._newest = response  # its key is computed only if it is ever needed
        elif time_ns == self._position_ns:
            self._settle_newest()
            if self._boundary.total() < BOUNDARY_LIMIT:
                self._boundary[self._key(response)] += 1

    @staticmethod
    def _key(response: observer_pb2.GetFlowsResponse) -> str:
        uuid = response.flow.uuid
        if uuid:
            return uuid
        digest = hashlib.blake2b(response.SerializeToString(deterministic=True), digest_size=12)
        return "sha:" + digest.hexdigest()

    def _settle_newest(self) -> None:
        newest = self._newest
        if newest is not None:
            self._newest = None
            if self._boundary.total() < BOUNDARY_LIMIT:
                self._boundary[self._key(newest)] += 1

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        self._closed.set()
        with self._call_lock:
            call = self._call
        if call is not None:
            call.cancel()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

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
        channel = channel_for(self.options, self.reconnect)
        try:
            yield from self._attempts(channel)
        finally:
            self.connected = False
            channel.close()

    def _attempts(self, channel: grpc.Channel) -> Iterator[Flow]:
        stub = observer_pb2_grpc.ObserverStub(channel)  # type: ignore[no-untyped-call]
        delays = self.reconnect.delays()
        failures = 0
        attempt = 0
        while not self.closed:
            if attempt:
                self.counters.reconnects += 1
            attempt += 1
            received = self.stats.records
            try:
                self._connect(stub)
                resume_ns, already_counted = self._resume_point()
                since = resume_ns if resume_ns >= 0 else self.query.since_ns
                call = stub.GetFlows(build_request(self.query, since))
                with self._call_lock:
                    self._call = call
                if self.closed:
                    call.cancel()
                self.connected = True
                yield from self._receive(call, resume_ns, already_counted)
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
                self.connected = False
                self.counters.last_error = f"{error.code().name}: {error.details()}"
                if not is_retryable(error):
                    raise _unavailable(self.options.server, error) from error
                if self.stats.records > received:
                    failures = 0
                    delays = self.reconnect.delays()
                failures += 1
                limit = self.reconnect.max_attempts
                if limit and failures > limit:
                    raise _unavailable(
                        self.options.server, error, f" (gave up after {limit} attempts)"
                    ) from error
                delay = next(delays)
                log.warning(
                    "%s: %s; reconnecting in %.2fs (attempt %d%s)",
                    self.options.server,
                    self.counters.last_error,
                    delay,
                    failures,
                    f" of {limit}" if limit else "",
                )
                if self._closed.wait(delay):
                    return
            finally:
                self.connected = False
                with self._call_lock:
                    self._call = None

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
        for response in call:
            stats.records += 1
            counters.responses += 1
            kind = response.WhichOneof("response_types")
            if kind != "flow":
                self._count_other(response, kind)
                continue
            message = response.flow
            time_ns = timestamp_ns(message.time if message.HasField("time") else response.time)
            if checking:
                if time_ns < resume_ns:
                    counters.duplicates += 1
                    continue
                if time_ns == resume_ns:
                    key = self._key(response)
                    if already_counted[key] > 0:
                        already_counted[key] -= 1
                        counters.duplicates += 1
                        continue
                else:
                    checking = False
            try:
                flow = flow_from_proto(
                    message, origin, fallback_time=response.time, fallback_node=response.node_name
                )
            except UnsupportedFlow as skipped:
                stats.non_flow[skipped.kind] += 1
                continue
            except InputError as error:
                where = f"{error.path} response {counters.responses}"
                stats.bad_record(InputError(where, 0, error.reason), strict=False)
                continue
            stats.flows += 1
            self._pending = (response, time_ns)
            yield flow
            # The consumer asks for more, so it is done with this flow (normally it committed it).
            self.commit()

    def _count_other(self, response: observer_pb2.GetFlowsResponse, kind: str | None) -> None:
        if kind == "lost_events":
            self.stats.lost_events += response.lost_events.num_events_lost
            self.stats.non_flow["lost_events"] += 1
        elif kind == "node_status":
            self.counters.node_status += 1
            self.stats.non_flow["node_status"] += 1
            status = response.node_status
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
    reconnect: ReconnectPolicy = ReconnectPolicy(),
    stats: CollectorStats,
) -> Iterator[Flow]:
    """Flows from a Hubble server; see :class:`HubbleStream` for position and closing."""
    yield from HubbleStream(options, query, reconnect=reconnect, stats=stats).flows()


# --- command line ------------------------------------------------------------------------------


def server_options_from_args(args: argparse.Namespace) -> ServerOptions:
    ca_files = tuple(
        part for item in args.tls_ca_cert_files for part in item.split(",") if part.strip()
    )
    return ServerOptions(
        server=args.server,
        tls=TLSOptions(
            enabled=bool(
                args.tls or args.tls_allow_insecure or ca_files or args.tls_client_cert_file
            ),
            allow_insecure=args.tls_allow_insecure,
            ca_cert_files=ca_files,
            client_cert_file=args.tls_client_cert_file,
            client_key_file=args.tls_client_key_file,
            server_name=args.tls_server_name,
        ),
        dial_timeout=parse_duration(args.timeout, "--timeout"),
        request_timeout=parse_duration(args.request_timeout, "--request-timeout"),
    )


def reconnect_policy_from_args(args: argparse.Namespace) -> ReconnectPolicy:
    if args.max_reconnects < 0:
        raise UsageError("--max-reconnects must be 0 (never give up) or more")
    return ReconnectPolicy(
        initial_backoff=parse_duration(args.reconnect_backoff, "--reconnect-backoff"),
        max_backoff=parse_duration(args.reconnect_backoff_max, "--reconnect-backoff-max"),
        max_attempts=args.max_reconnects,
    )


def since_from_args(args: argparse.Namespace, now: float) -> int | None:
    """``--since`` as integer nanoseconds, or None."""
    text = args.since.strip()
    if not text:
        return None
    if text[:1].isdigit() and ("T" in text or "-" in text[1:]):
        seconds = parse_time(text, "--since")
    else:
        seconds = now - parse_duration(text, "--since")
    return int(seconds * 1e9)
