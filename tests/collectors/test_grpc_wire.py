"""The HTTP/2 reader of one gRPC stream against a real grpcio server, and against a scripted
socket for what grpcio never sends (padding, split headers, resets, HTTP errors)."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import hpack
import pytest

from collectors.grpc_stream import TLSMaterial, is_retryable
from collectors.grpc_wire import WireCall, WireError
from collectors.stream_options import ServerOptions

METHOD = "/test.Stream/Messages"
Handler = Callable[[bytes, Any], Iterator[bytes]]


class StreamServer:
    """A grpcio server whose one server-streaming method runs ``handler``."""

    def __init__(self, handler: Handler, address: str = "127.0.0.1:0") -> None:
        self.requests: list[bytes] = []

        def stream(request: bytes, context: Any) -> Iterator[bytes]:
            self.requests.append(request)
            yield from handler(request, context)

        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=4),
            options=[
                ("grpc.http2.min_ping_interval_without_data_ms", 50),
                ("grpc.http2.max_ping_strikes", 0),
            ],
        )
        rpc = grpc.unary_stream_rpc_method_handler(stream)
        self.server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("test.Stream", {"Messages": rpc}),)
        )
        port = self.server.add_insecure_port(address)
        self.address = address if address.startswith("unix:") else f"127.0.0.1:{port}"

    def __enter__(self) -> StreamServer:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop(None)


def call(address: str, request: bytes = b"", **settings: Any) -> WireCall:
    max_message = settings.pop("max_message", 16 << 20)
    options = ServerOptions(server=address, dial_timeout=2.0, **settings)
    return WireCall(options, None, METHOD, request, max_message=max_message)


def test_every_message_arrives_whole_and_in_order_through_flow_control() -> None:
    # Far more than the 8 MiB window, and messages smaller and larger than a frame.
    sizes = [0, 1, 5, 100, 16_384, 16_389, 1 << 20, 3 << 20] + [997] * 12_000
    sent = [bytes([i % 251]) * size for i, size in enumerate(sizes)]
    with StreamServer(lambda request, context: iter(sent)) as server:
        received = list(call(server.address, b"ask"))
    assert received == sent
    assert server.requests == [b"ask"]


def test_a_status_other_than_ok_ends_the_stream_with_its_code_and_message() -> None:
    def deny(request: bytes, context: Any) -> Iterator[bytes]:
        yield b"one"
        yield b"two"
        context.abort(grpc.StatusCode.PERMISSION_DENIED, "no access to 100% of it ✓")

    received: list[bytes] = []
    with StreamServer(deny) as server, pytest.raises(WireError) as raised:
        for message in call(server.address):
            received.append(message)
    assert received == [b"one", b"two"]
    assert raised.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert raised.value.details() == "no access to 100% of it ✓"


def test_a_status_before_any_message_is_an_error_too() -> None:
    def missing(request: bytes, context: Any) -> Iterator[bytes]:
        context.abort(grpc.StatusCode.NOT_FOUND, "nothing here")
        yield b""  # pragma: no cover

    with StreamServer(missing) as server, pytest.raises(WireError) as raised:
        list(call(server.address))
    assert raised.value.code() is grpc.StatusCode.NOT_FOUND
    assert isinstance(raised.value, grpc.RpcError)


def test_a_unix_socket_is_dialled_as_grpc_names_it(tmp_path: Path) -> None:
    path = tmp_path / "hubble.sock"
    with StreamServer(lambda request, context: iter([b"a", b"b"]), f"unix:{path}"):
        assert list(call(f"unix://{path}")) == [b"a", b"b"]


def test_cancel_from_another_thread_ends_a_stream_that_never_ends() -> None:
    def forever(request: bytes, context: Any) -> Iterator[bytes]:
        while context.is_active():
            yield b"tick"
            time.sleep(0.01)

    with StreamServer(forever) as server:
        stream = call(server.address)
        threading.Timer(0.2, stream.cancel).start()
        count = 0
        with pytest.raises(WireError) as raised:
            for _ in stream:
                count += 1
    assert count > 0
    assert raised.value.code() is grpc.StatusCode.CANCELLED


def test_a_refused_connection_is_unavailable() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(WireError) as raised:
        call(f"127.0.0.1:{port}")
    assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "refused" in raised.value.details()


@pytest.mark.parametrize("server", ["closes", "resets"])
def test_a_server_closing_during_the_tls_handshake_is_retried_not_a_tls_failure(
    server: str,
) -> None:
    """A relay restarting mid-handshake is a lost connection, not a certificate problem: only
    the latter stops `learn` (is_tls_failure). The host name holds "tls", which must not count."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = listener.accept()
        if server == "resets":
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            connection.recv(1024)
        connection.close()
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    port = listener.getsockname()[1]
    options = ServerOptions(server=f"tls://localhost:{port}", dial_timeout=2.0)
    with pytest.raises(WireError) as raised:
        WireCall(options, TLSMaterial(None, "relay-tls.example"), METHOD, b"")
    assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
    assert is_retryable(raised.value), raised.value.details()


def test_a_quiet_server_is_pinged_and_the_stream_goes_on() -> None:
    def slow(request: bytes, context: Any) -> Iterator[bytes]:
        yield b"before"
        time.sleep(0.8)
        yield b"after"

    with StreamServer(slow) as server:
        received = list(call(server.address, keepalive_time=0.1, keepalive_timeout=0.5))
    assert received == [b"before", b"after"]


def test_a_server_that_stops_answering_is_unavailable_after_the_keepalive_timeout() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(WireError) as raised:
            list(call(f"127.0.0.1:{port}", keepalive_time=0.1, keepalive_timeout=0.1))
    assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "keepalive" in raised.value.details()
    assert time.monotonic() - started < 10  # it gave up, not the test's timeout


def test_a_message_over_the_limit_is_resource_exhausted() -> None:
    with (
        StreamServer(lambda request, context: iter([b"x" * 2000])) as server,
        pytest.raises(WireError) as raised,
    ):
        list(call(server.address, max_message=1000))
    assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


# -- frames grpcio does not send -------------------------------------------------------------


def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return (
        len(payload).to_bytes(3, "big") + bytes([kind, flags]) + struct.pack(">I", stream) + payload
    )


def message(body: bytes, compressed: int = 0) -> bytes:
    return bytes([compressed]) + struct.pack(">I", len(body)) + body


OK_HEADERS = [(":status", "200"), ("content-type", "application/grpc")]


def scripted(script: Callable[[hpack.Encoder], bytes], *, close: bool = False) -> str:
    """A server that reads the client's preface and request and sends ``script``'s bytes
    (then, with ``close``, closes the connection)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = listener.accept()
        with connection, listener:
            connection.recv(1 << 16)
            connection.sendall(frame(4, 0, 0, b"") + script(hpack.Encoder()))
            if close:
                return
            connection.settimeout(5)
            try:
                while connection.recv(1 << 16):
                    pass
            except OSError:
                pass

    threading.Thread(target=serve, daemon=True).start()
    return f"127.0.0.1:{listener.getsockname()[1]}"


def test_padding_and_headers_split_across_frames_are_read() -> None:
    def script(encoder: hpack.Encoder) -> bytes:
        headers = encoder.encode(OK_HEADERS)
        trailers = encoder.encode([("grpc-status", "0")])
        body = message(b"padded") + message(b"split")
        padded = bytes([3]) + body[:15] + b"\0\0\0"
        return (
            frame(1, 0x8 | 0x20, 1, bytes([2]) + b"\0\0\0\0\x10" + headers[:3] + b"\0\0")
            + frame(9, 0x4, 1, headers[3:])
            + frame(0, 0x8, 1, padded)
            + frame(0, 0, 1, body[15:])
            + frame(1, 0x4 | 0x1, 1, trailers)
        )

    assert list(call(scripted(script))) == [b"padded", b"split"]


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        (lambda e: frame(1, 0x4 | 0x1, 1, e.encode([(":status", "404")])), "UNIMPLEMENTED"),
        (lambda e: frame(1, 0x4 | 0x1, 1, e.encode([(":status", "503")])), "UNAVAILABLE"),
        (lambda e: frame(3, 0, 1, struct.pack(">I", 0x7)), "UNAVAILABLE"),
        (lambda e: frame(3, 0, 1, struct.pack(">I", 0x2)), "INTERNAL"),
        (lambda e: frame(7, 0, 0, struct.pack(">II", 0, 0xB) + b"calm"), "UNAVAILABLE"),
        # Found in review: each of these escaped as IndexError, struct.error or ValueError,
        # which no reconnect catches, and ended `learn`.
        (lambda e: frame(1, 0x4, 1, e.encode(OK_HEADERS)) + frame(0, 0x8, 1, b""), "INTERNAL"),
        (
            lambda e: (
                frame(1, 0x4, 1, e.encode(OK_HEADERS))
                + frame(0, 0x8, 1, bytes([9]) + message(b"x")[:3])
            ),
            "INTERNAL",
        ),
        (lambda e: frame(1, 0x4 | 0x8, 1, b""), "INTERNAL"),
        (lambda e: frame(1, 0x4 | 0x20, 1, b"\0\0"), "INTERNAL"),
        (lambda e: frame(3, 0, 1, b"\0\7"), "INTERNAL"),
        (lambda e: frame(7, 0, 0, b"\0\0\0\0"), "INTERNAL"),
        (lambda e: frame(6, 0, 0, b"short"), "INTERNAL"),
        (
            lambda e: frame(1, 0x4 | 0x1, 1, e.encode([*OK_HEADERS, ("grpc-status", "\xb2")])),
            "UNKNOWN",
        ),
        (lambda e: frame(1, 0x4 | 0x1, 1, e.encode([(":status", "\xb9")])), "UNKNOWN"),
        (
            lambda e: frame(1, 0x4 | 0x1, 1, e.encode([*OK_HEADERS, ("grpc-status", "7" * 5000)])),
            "UNKNOWN",
        ),
        (
            lambda e: (
                frame(1, 0, 1, e.encode(OK_HEADERS))
                + b"".join(frame(9, 0, 1, b"\0" * 16_000) for _ in range(6))
            ),
            "INTERNAL",
        ),
        (
            lambda e: frame(1, 0x4, 1, e.encode(OK_HEADERS)) + frame(0, 0, 1, message(b"z", 1)),
            "INTERNAL",
        ),
        (
            lambda e: (
                frame(1, 0x4, 1, e.encode(OK_HEADERS))
                + frame(0, 0, 1, message(b"cut")[:6])
                + frame(1, 0x4 | 0x1, 1, e.encode([("grpc-status", "0")]))
            ),
            "INTERNAL",
        ),
    ],
    ids=[
        "404",
        "503",
        "refused",
        "reset",
        "goaway",
        "compressed",
        "cut",
        "empty padded data",
        "padding past data",
        "empty padded headers",
        "short priority",
        "short reset",
        "short goaway",
        "short ping",
        "unicode digit status",
        "unicode digit http status",
        "status of 5000 digits",
        "endless continuation",
    ],  # fmt: skip
)
def test_what_ends_a_stream_badly_has_the_code_grpcio_gives(
    frames: Callable[[hpack.Encoder], bytes], code: str
) -> None:
    def script(encoder: hpack.Encoder) -> bytes:
        return frames(encoder)

    with pytest.raises(WireError) as raised:
        list(call(scripted(script), keepalive_time=5.0))
    assert raised.value.code().name == code


def test_a_server_that_closes_the_connection_mid_stream_is_unavailable() -> None:
    def script(encoder: hpack.Encoder) -> bytes:
        return frame(1, 0x4, 1, encoder.encode(OK_HEADERS)) + frame(0, 0, 1, message(b"one"))

    received: list[bytes] = []
    with pytest.raises(WireError) as raised:
        for body in call(scripted(script, close=True), keepalive_time=5.0):
            received.append(body)
    assert received == [b"one"]
    assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "tls" not in raised.value.details().lower()  # a lost connection is retried


def test_messages_read_together_with_a_failing_status_are_handed_out_first() -> None:
    """Found under load: a status arriving in the same read as the last messages was raised
    before they were cut out of the frames, and they were lost (grpcio hands them out)."""

    def script(encoder: hpack.Encoder) -> bytes:
        trailers = encoder.encode([("grpc-status", "14"), ("grpc-message", "going away")])
        return (
            frame(1, 0x4, 1, encoder.encode(OK_HEADERS))
            + frame(0, 0, 1, message(b"one") + message(b"two"))
            + frame(1, 0x4 | 0x1, 1, trailers)
        )

    received: list[bytes] = []
    with pytest.raises(WireError) as raised:
        for body in call(scripted(script), keepalive_time=5.0):
            received.append(body)
    assert received == [b"one", b"two"]
    assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
    assert raised.value.details() == "going away"


def test_a_goaway_for_too_many_pings_is_named_whatever_ends_the_stream() -> None:
    """grpc-go closes the connection after GOAWAY too_many_pings (last stream 1): the error
    must say so, for the stream to ping less often (collectors/hubble/grpc.py)."""

    def script(encoder: hpack.Encoder) -> bytes:
        goaway = frame(7, 0, 0, struct.pack(">II", 1, 0xB) + b"too_many_pings")
        return frame(1, 0x4, 1, encoder.encode(OK_HEADERS)) + goaway

    with pytest.raises(WireError) as raised:
        list(call(scripted(script, close=True), keepalive_time=5.0))
    assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
    assert raised.value.too_many_pings
    assert "too_many_pings" in raised.value.details()
