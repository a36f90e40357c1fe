"""One server-streaming gRPC call read straight off its HTTP/2 connection.

grpcio hands a Python caller one message per operation, about 12 µs each on the benchmark
machine: more than all the rest of live learning costs a repeated flow. A flow stream is one
long call whose messages arrive back to back, so :class:`WireCall` reads its socket in large
chunks, parses the HTTP/2 frames itself and cuts the gRPC messages out of the DATA frames.

It speaks what the client of one call needs (RFC 9113 and gRPC over HTTP/2): its own connection
(TCP, unix socket, TLS negotiating ``h2``), large flow-control windows handed back as messages
are read, HPACK (the ``hpack`` package) for the request and for the server's headers and
trailers, answers to the server's pings and keepalive pings of its own. The call's end is a
:class:`grpc.RpcError` with the code grpcio would give, so the streams retry and give up on
exactly what they did with grpcio.
"""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import Iterator
from contextlib import suppress
from urllib.parse import unquote

import grpc
import hpack

from collectors.grpc_stream import MAX_MESSAGE, TLSMaterial, split_host_port
from collectors.stream_options import UNIX_PREFIX, ServerOptions
from learner.model.errors import UsageError

__all__ = ["WireCall", "WireError"]

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY = 0, 1, 2, 3, 4, 5, 6, 7
WINDOW_UPDATE, CONTINUATION = 8, 9
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
SETTINGS_ENABLE_PUSH, SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_FRAME_SIZE = 0x2, 0x4, 0x5
SETTINGS_MAX_HEADER_LIST_SIZE = 0x6
ENHANCE_YOUR_CALM = 0xB
DEFAULT_WINDOW = 65_535
WINDOW = 8 << 20
"""Bytes the server may send ahead of what has been read (stream and connection)."""
MAX_FRAME = 1 << 20
READ_SIZE = 1 << 18
MAX_HEADER_BLOCK = 1 << 16
"""The largest header block taken (HPACK-encoded): a server sending more is broken."""
STREAM = 1
"""The call's stream: the first and only one the connection opens."""

_FRAME_HEADER = struct.Struct(">HBBBI")
_MESSAGE_PREFIX = struct.Struct(">BI")
_STATUS_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}
_RESET_CODES = {
    0x7: grpc.StatusCode.UNAVAILABLE,  # REFUSED_STREAM: the server did not start it
    0x8: grpc.StatusCode.CANCELLED,
    0xB: grpc.StatusCode.RESOURCE_EXHAUSTED,  # ENHANCE_YOUR_CALM
    0xC: grpc.StatusCode.PERMISSION_DENIED,  # INADEQUATE_SECURITY
}
_HTTP_STATUS_CODES = {
    400: grpc.StatusCode.INTERNAL,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.UNIMPLEMENTED,
    429: grpc.StatusCode.UNAVAILABLE,
    502: grpc.StatusCode.UNAVAILABLE,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.UNAVAILABLE,
}


class WireError(grpc.RpcError):  # type: ignore[misc]  # grpcio ships no types
    """The call ended with a status other than OK, as grpcio's errors report one."""

    def __init__(self, code: grpc.StatusCode, details: str, *, too_many_pings: bool = False):
        super().__init__(f"{code.name}: {details}")
        self._code = code
        self._details = details
        self.too_many_pings = too_many_pings
        """The server went away because we pinged more often than it allows."""

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


def _frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    size = len(payload)
    return _FRAME_HEADER.pack(size >> 8, size & 0xFF, kind, flags, stream) + payload


def _number(text: str) -> int | None:
    """A header's decimal number, or None (``str.isdigit`` takes more than ASCII digits)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None


def _window_update(stream: int, increment: int) -> bytes:
    return _frame(WINDOW_UPDATE, 0, stream, struct.pack(">I", increment))


def _unix_path(target: str) -> str:
    """``unix:///abs/path`` and ``unix:relative`` as gRPC names them."""
    path = target.removeprefix(UNIX_PREFIX[:-2])
    return "/" + path.lstrip("/") if path.startswith("//") else path


def _dial(options: ServerOptions, material: TLSMaterial | None) -> tuple[socket.socket, str]:
    """A connected (and, with TLS, handshaken) socket and the ``:authority`` to name."""
    target = options.target
    try:
        if target.startswith(UNIX_PREFIX[:-2]):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(options.dial_timeout)
            try:
                sock.connect(_unix_path(target))
            except OSError:
                sock.close()
                raise
            host, authority = "localhost", "localhost"
        else:
            host, port = split_host_port(target)
            sock = socket.create_connection((host, port), timeout=options.dial_timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            authority = target
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        raise WireError(grpc.StatusCode.UNAVAILABLE, f"failed to connect: {reason}") from error
    if material is None:
        return sock, authority
    context = _tls_context(material)
    try:
        secured = context.wrap_socket(sock, server_hostname=material.server_name or host)
    except OSError as error:  # ssl.SSLError among them
        sock.close()
        cut_short = (ssl.SSLEOFError, ssl.SSLZeroReturnError)
        if isinstance(error, ssl.SSLError) and not isinstance(error, cut_short):
            # Certificates, versions, ciphers: fatal (is_tls_failure reads these words).
            raise WireError(
                grpc.StatusCode.UNAVAILABLE, f"TLS handshake failed: {error}"
            ) from error
        # Closed or reset mid-handshake (a server restarting): retried, like any lost link.
        reason = (
            ""
            if isinstance(error, ssl.SSLError)
            else f" ({error.strerror or type(error).__name__})"
        )
        raise WireError(
            grpc.StatusCode.UNAVAILABLE,
            f"the server closed the connection before it was secured{reason}",
        ) from error
    protocol = secured.selected_alpn_protocol()
    if protocol != "h2":  # an HTTPS endpoint, not gRPC (grpcio refuses it too): fatal
        secured.close()
        raise WireError(
            grpc.StatusCode.UNAVAILABLE,
            f"TLS: the server did not agree to HTTP/2 (ALPN h2; it chose {protocol or 'none'})",
        )
    return secured, authority


def _tls_context(material: TLSMaterial) -> ssl.SSLContext:
    roots = material.roots.decode("ascii", "replace") if material.roots is not None else None
    try:
        context = ssl.create_default_context(cadata=roots)
        if material.client_cert_file:
            context.load_cert_chain(material.client_cert_file, material.client_key_file)
    except (ssl.SSLError, OSError) as error:
        raise UsageError(f"TLS settings: {error}") from error
    context.set_alpn_protocols(["h2"])
    return context


class WireCall:
    """A server-streaming call: iterate for the response messages (bytes); :meth:`cancel`
    from any thread ends the iteration. Raises :class:`WireError` (connecting included)."""

    def __init__(
        self,
        options: ServerOptions,
        material: TLSMaterial | None,
        method: str,
        request: bytes,
        *,
        max_message: int = MAX_MESSAGE,
        keepalive_time: float | None = None,
    ) -> None:
        self.options = options
        self.max_message = max_message
        self.keepalive_time = options.keepalive_time if keepalive_time is None else keepalive_time
        """Seconds of silence from the server before it is pinged."""
        self._goaway: tuple[int, str] | None = None
        self._cancelled = False
        self._sock, authority = _dial(options, material)
        self._decoder = hpack.Decoder()
        self._header_block = bytearray()
        self._header_end_stream = False
        self._response_headers: dict[str, str] | None = None
        self._ping_outstanding = False
        headers = hpack.Encoder().encode(
            [
                (":method", "POST"),
                (":scheme", "https" if material is not None else "http"),
                (":path", method),
                (":authority", authority),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
                ("user-agent", "netpol-learner"),
            ]
        )
        settings = struct.pack(
            ">HIHIHIHI",
            SETTINGS_ENABLE_PUSH,
            0,
            SETTINGS_INITIAL_WINDOW_SIZE,
            WINDOW,
            SETTINGS_MAX_FRAME_SIZE,
            MAX_FRAME,
            SETTINGS_MAX_HEADER_LIST_SIZE,
            MAX_HEADER_BLOCK,
        )
        try:
            self._send(
                PREFACE
                + _frame(SETTINGS, 0, 0, settings)
                + _window_update(0, WINDOW - DEFAULT_WINDOW)
                + _frame(HEADERS, END_HEADERS, STREAM, headers)
                + _frame(DATA, END_STREAM, STREAM, _MESSAGE_PREFIX.pack(0, len(request)) + request)
            )
        except WireError:
            self.close()
            raise
        self._sock.settimeout(self.keepalive_time)

    def cancel(self) -> None:
        self._cancelled = True
        # The socket's own shutdown, not TLS's: that would race the reading thread.
        with suppress(OSError):
            socket.socket.shutdown(self._sock, socket.SHUT_RDWR)

    def close(self) -> None:
        with suppress(OSError):
            self._sock.close()

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._messages()
        except WireError as error:
            # However the stream then ends (grpc-go closes, grpcio sends a status), a GOAWAY
            # for pinging too often is what the caller must act on.
            goaway = self._goaway
            if goaway is not None and goaway[0] == ENHANCE_YOUR_CALM:
                error.too_many_pings = "too_many_pings" in goaway[1]
            raise
        finally:
            self.close()

    # -- reading --------------------------------------------------------------------------

    def _messages(self) -> Iterator[bytes]:
        frames = bytearray()
        body = bytearray()
        """The stream's DATA not yet cut into messages."""
        unacknowledged = 0
        unpack_header = _FRAME_HEADER.unpack_from
        unpack_prefix = _MESSAGE_PREFIX.unpack_from
        max_message = self.max_message
        finished = False
        failure: WireError | None = None
        while not finished:
            frames += self._receive()
            offset = 0
            available = len(frames)
            while available - offset >= 9:
                high, low, kind, flags, stream = unpack_header(frames, offset)
                size = high << 8 | low
                if size > MAX_FRAME:
                    raise self._protocol_error(f"a frame of {size} bytes")
                end = offset + 9 + size
                if end > available:
                    break
                start = offset + 9
                offset = end
                if kind == DATA:
                    unacknowledged += size
                    if stream != STREAM:
                        continue
                    if flags & PADDED:
                        if size < 1 or frames[start] >= size:
                            failure = self._protocol_error("padding longer than its frame")
                            break
                        start, end = start + 1, end - frames[start]
                    body += frames[start:end]
                    if flags & END_STREAM:
                        failure = self._protocol_error("the stream ended without a status")
                        break
                else:
                    try:
                        finished = self._control(kind, flags, stream, frames[start:end])
                    except WireError as error:
                        failure = error  # raised once the messages before it are handed out
                        break
                    if finished:
                        break
            del frames[:offset]
            if failure is None and unacknowledged >= WINDOW // 2:
                self._send(
                    _window_update(0, unacknowledged) + _window_update(STREAM, unacknowledged)
                )
                unacknowledged = 0
            taken = 0
            held = len(body)
            with memoryview(body) as view:  # one copy a message, released before body shrinks
                while held - taken >= 5:
                    compressed, length = unpack_prefix(body, taken)
                    if length > max_message:
                        raise WireError(
                            grpc.StatusCode.RESOURCE_EXHAUSTED,
                            f"a message of {length} bytes (more than {max_message})",
                        )
                    if held - taken - 5 < length:
                        break
                    if compressed:
                        raise self._protocol_error("a compressed message, which was not asked for")
                    start = taken + 5
                    taken = start + length
                    yield bytes(view[start:taken])
            del body[:taken]
            if failure is not None:
                raise failure
        if body:
            raise self._protocol_error("the stream ended inside a message")

    def _receive(self) -> bytes:
        """The next bytes off the socket; pings the server when it has been quiet too long."""
        while True:
            try:
                chunk = self._sock.recv(READ_SIZE)
            except TimeoutError:
                if self._cancelled:
                    raise WireError(grpc.StatusCode.CANCELLED, "cancelled") from None
                if self._ping_outstanding:
                    raise WireError(
                        grpc.StatusCode.UNAVAILABLE,
                        f"keepalive ping not answered in {self.options.keepalive_timeout:g}s",
                    ) from None
                self._send(_frame(PING, 0, 0, b"netpol-l"))
                self._ping_outstanding = True
                self._sock.settimeout(self.options.keepalive_timeout)
                continue
            except OSError as error:
                raise self._lost(error) from error
            if not chunk:
                raise self._lost(None)
            if self._ping_outstanding:
                self._ping_outstanding = False
                self._sock.settimeout(self.keepalive_time)
            return chunk

    def _lost(self, error: OSError | None) -> WireError:
        if self._cancelled:
            return WireError(grpc.StatusCode.CANCELLED, "cancelled")
        # An SSL error's text would read as a TLS set-up failure, which is not retried.
        reason = "" if error is None or isinstance(error, ssl.SSLError) else f": {error}"
        if self._goaway is not None:
            code, detail = self._goaway
            reason += f" after the server went away (HTTP/2 error {code:#x}) {detail}".rstrip()
        return WireError(grpc.StatusCode.UNAVAILABLE, f"connection lost{reason}")

    def _control(self, kind: int, flags: int, stream: int, payload: bytes | bytearray) -> bool:
        """Handle a frame other than DATA; True when the call ended with status OK."""
        if kind in (HEADERS, CONTINUATION):
            return self._header_fragment(kind, flags, stream, payload)
        size = len(payload)
        if kind == SETTINGS:
            if size % 6:
                raise self._protocol_error(f"SETTINGS of {size} bytes")
            if not flags & ACK:
                self._send(_frame(SETTINGS, ACK, 0))
        elif kind == PING:
            if size != 8:
                raise self._protocol_error(f"a PING of {size} bytes")
            if not flags & ACK:
                self._send(_frame(PING, ACK, 0, bytes(payload)))
        elif kind == RST_STREAM and stream == STREAM:
            if size != 4:
                raise self._protocol_error(f"RST_STREAM of {size} bytes")
            (reason,) = struct.unpack(">I", payload)
            code = _RESET_CODES.get(reason, grpc.StatusCode.INTERNAL)
            raise WireError(code, f"the server reset the stream (HTTP/2 error {reason:#x})")
        elif kind == GOAWAY:
            if size < 8:
                raise self._protocol_error(f"GOAWAY of {size} bytes")
            last_stream, reason = struct.unpack(">II", payload[:8])
            detail = bytes(payload[8:256]).decode("utf-8", "replace")
            self._goaway = (reason, detail)  # the stream may finish; the reason tells why not
            if last_stream & 0x7FFFFFFF < STREAM:
                raise self._lost(None)
        elif kind == PUSH_PROMISE:
            raise self._protocol_error("a push promise, which was refused")
        return False

    def _header_fragment(
        self, kind: int, flags: int, stream: int, payload: bytes | bytearray
    ) -> bool:
        if kind == HEADERS:
            start, end = 0, len(payload)
            if flags & PADDED:
                if end < 1:
                    raise self._protocol_error("padding longer than its frame")
                start, end = 1, end - payload[0]
            if flags & PRIORITY_FLAG:
                start += 5
            if start > end:
                raise self._protocol_error("padding longer than its frame")
            self._header_block = bytearray(payload[start:end])
            self._header_end_stream = bool(flags & END_STREAM)
        else:
            self._header_block += payload
        if len(self._header_block) > MAX_HEADER_BLOCK:
            raise self._protocol_error(f"a header block over {MAX_HEADER_BLOCK} bytes")
        if not flags & END_HEADERS:
            return False
        try:
            # Every block is decoded, whatever its stream: the table it updates is shared.
            fields = self._decoder.decode(bytes(self._header_block), raw=True)
        except hpack.HPACKError as error:
            raise self._protocol_error(f"undecodable headers ({error})") from error
        if stream != STREAM:
            return False
        headers = {
            bytes(name).decode("latin-1"): bytes(value).decode("latin-1") for name, value in fields
        }
        if self._response_headers is None:
            self._response_headers = headers
            self._check_response(headers)
        if not self._header_end_stream:
            return False
        return self._status(headers)

    def _check_response(self, headers: dict[str, str]) -> None:
        status = headers.get(":status", "")
        if status != "200":
            code = _HTTP_STATUS_CODES.get(_number(status) or 0, grpc.StatusCode.UNKNOWN)
            raise WireError(code, f"HTTP status {status or 'missing'} from the server")
        content_type = headers.get("content-type", "")
        if not content_type.startswith("application/grpc"):
            raise WireError(grpc.StatusCode.UNKNOWN, f"content type {content_type!r} is not gRPC")

    def _status(self, trailers: dict[str, str]) -> bool:
        """True for status OK; raises for any other."""
        raw = trailers.get("grpc-status")
        if raw is None:
            raise self._protocol_error("the stream ended without a status")
        number = _number(raw)
        code = _STATUS_BY_NUMBER.get(-1 if number is None else number, grpc.StatusCode.UNKNOWN)
        if code is grpc.StatusCode.OK:
            return True
        raise WireError(code, unquote(trailers.get("grpc-message", "")))

    def _protocol_error(self, what: str) -> WireError:
        return WireError(grpc.StatusCode.INTERNAL, f"HTTP/2 protocol error: {what}")

    def _send(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as error:
            raise self._lost(error) from error
