"""What the gRPC collectors share: dialling, and when and how to reconnect.

Hubble (:mod:`collectors.hubble.grpc`) and Goldmane (:mod:`collectors.calico.goldmane`) dial
the same way (the hubble CLI's flags), retry the same failures with the same capped, jittered
backoff, and close, commit and resume through :class:`ReconnectingStream`.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import grpc
import grpc.experimental

from collectors.stream_options import UNIX_PREFIX, ReconnectPolicy, ServerOptions
from learner.model.errors import SourceUnavailableError, UsageError
from learner.model.flow import Flow
from learner.model.run_stats import CollectorStats

log = logging.getLogger(__name__)

DEFAULT_RECONNECT = ReconnectPolicy()
MAX_MESSAGE = 16 << 20
"""The largest message a stream accepts (bytes)."""


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


def split_host_port(target: str) -> tuple[str, int]:
    host, _, port = target.rpartition(":")
    return host.strip("[]"), int(port)


@dataclass(frozen=True, slots=True)
class TLSMaterial:
    """What a TLS connection to the server trusts and presents, read and checked once."""

    roots: bytes | None
    """PEM roots to verify the server with; None: the system's."""
    server_name: str
    """Name to check the certificate against; empty: the host dialled."""
    client_cert_file: str = ""
    client_key_file: str = ""


def tls_material(options: ServerOptions) -> TLSMaterial | None:
    """The TLS settings of ``options`` (None: plaintext). Raises UsageError,
    SourceUnavailableError (``--tls-allow-insecure`` could not fetch the certificate)."""
    if not options.use_tls:
        return None
    tls = options.tls
    if bool(tls.client_cert_file) != bool(tls.client_key_file):
        raise UsageError("--tls-client-cert-file and --tls-client-key-file go together")
    roots = b"".join(_read(path, "--tls-ca-cert-files") for path in tls.ca_cert_files) or None
    server_name = tls.server_name
    if tls.allow_insecure and roots is None and not options.target.startswith(UNIX_PREFIX):
        host, port = split_host_port(options.target)
        try:
            roots = _presented_certificate(host, port, server_name, options.dial_timeout)
        except (OSError, ssl.SSLError) as error:
            raise SourceUnavailableError(options.server, "UNAVAILABLE", str(error)) from error
        server_name = server_name or _certificate_name(roots)
    return TLSMaterial(roots, server_name, tls.client_cert_file, tls.client_key_file)


def channel_for(
    options: ServerOptions,
    reconnect: ReconnectPolicy = DEFAULT_RECONNECT,
    material: TLSMaterial | None = None,
) -> grpc.Channel:
    """A channel to the server, with TLS and keepalive as configured (``material``: the TLS
    settings already read by :func:`tls_material`). Raises UsageError."""
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
        ("grpc.max_receive_message_length", MAX_MESSAGE),
    ]
    if material is None:
        material = tls_material(options)
    if material is None:
        return grpc.insecure_channel(options.target, options=channel_options)
    key_file, cert_file = material.client_key_file, material.client_cert_file
    credentials = grpc.ssl_channel_credentials(
        root_certificates=material.roots,
        private_key=_read(key_file, "--tls-client-key-file") if key_file else None,
        certificate_chain=_read(cert_file, "--tls-client-cert-file") if cert_file else None,
    )
    if material.server_name:
        channel_options.append(("grpc.ssl_target_name_override", material.server_name))
    return grpc.secure_channel(options.target, credentials, options=channel_options)


def is_tls_failure(error: grpc.RpcError) -> bool:
    details = (error.details() or "").lower()
    return any(marker in details for marker in _TLS_FAILURE_MARKERS)


def is_retryable(error: grpc.RpcError) -> bool:
    code = error.code()
    return code not in FATAL_CODES and not is_tls_failure(error)


class StreamCounters(Protocol):
    reconnects: int
    last_error: str


CountersT = TypeVar("CountersT", bound=StreamCounters)


class ReconnectingStream(ABC, Generic[CountersT]):
    """Close, commit and reconnect for a flow stream; a subclass says how one attempt reads.

    Iterate from one consumer thread. :meth:`close` may be called from any thread; the
    iteration then ends. A consumer that saves its aggregate elsewhere calls :meth:`commit`
    after it has taken each flow in, under the lock it reads the subclass's ``position`` with;
    otherwise a flow is committed when the consumer asks for the next one.
    """

    LOG_ATTEMPTS = True
    """Name the attempt number in the reconnect warning."""

    def __init__(
        self,
        options: ServerOptions,
        reconnect: ReconnectPolicy,
        stats: CollectorStats | None,
        counters: CountersT,
    ) -> None:
        self.options = options
        self.reconnect = reconnect
        self.stats = stats if stats is not None else CollectorStats()
        self.counters = counters
        self.connected = False
        self._closed = threading.Event()
        self._call_lock = threading.Lock()
        self._position_lock = threading.Lock()
        self._call: Any = None
        self._pending: object | None = None
        """What was handed out last, until committed."""
        self._log = logging.getLogger(type(self).__module__)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        self._closed.set()
        with self._call_lock:
            call = self._call
        if call is not None:
            call.cancel()

    def commit(self) -> None:
        """Count the flow handed out last as taken in: the position moves past it."""
        if self._pending is None:
            return
        with self._position_lock:
            self._commit()

    @abstractmethod
    def _commit(self) -> None:
        """Move the position past ``_pending`` (called with the position lock held)."""

    @abstractmethod
    def _progress(self) -> int:
        """A count that grows while the server sends: an attempt that moved it resets backoff."""

    @abstractmethod
    def _unavailable(self, error: grpc.RpcError, reason: str = "") -> SourceUnavailableError:
        """The error to stop with when ``error`` cannot be retried."""

    def _hold_call(self, call: Any) -> None:
        """Remember the running call, so that :meth:`close` can cancel it."""
        with self._call_lock:
            self._call = call
        if self.closed:
            call.cancel()

    def _reconnecting(self, attempt: Callable[[], Iterator[Flow]], follow: bool) -> Iterator[Flow]:
        """Flows of ``attempt()`` after ``attempt()``, with capped, jittered backoff between
        failures, until closed (or, without ``follow``, until one attempt ends)."""
        delays = self.reconnect.delays()
        failures = 0
        attempts = 0
        while not self.closed:
            if attempts:
                self.counters.reconnects += 1
            attempts += 1
            before = self._progress()
            try:
                yield from attempt()
                if not follow:
                    return
                self._log.warning("%s ended the flow stream; reconnecting", self.options.server)
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
                    raise self._unavailable(error) from error
                if self._progress() > before:
                    failures = 0
                    delays = self.reconnect.delays()
                failures += 1
                limit = self.reconnect.max_attempts
                if limit and failures > limit:
                    raise self._unavailable(error, f" (gave up after {limit} attempts)") from error
                delay = next(delays)
                if self.LOG_ATTEMPTS:
                    self._log.warning(
                        "%s: %s; reconnecting in %.2fs (attempt %d%s)",
                        self.options.server,
                        self.counters.last_error,
                        delay,
                        failures,
                        f" of {limit}" if limit else "",
                    )
                else:
                    self._log.warning(
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
