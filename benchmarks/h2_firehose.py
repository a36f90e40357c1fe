"""A minimal HTTP/2 server speaking just enough gRPC to stream Hubble flows as fast as a socket
can carry them (a benchmark tool, not a product part).

grpcio's Python server writes one message per operation and waits for each, which caps a stream
at ~20k messages/s, far below hubble-relay (Go). This server packs many length-prefixed gRPC
messages into each HTTP/2 DATA frame, honouring the client's flow-control windows, so the learner
on the other end, not the server, is what the benchmark measures.

Requests are told apart without decoding their HPACK headers: an empty request message is
``ServerStatus`` (its request has no fields), anything else is ``GetFlows``.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Sequence

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
DEFAULT_WINDOW = 65_535


def _literal(name: bytes, value: bytes) -> bytes:
    """HPACK literal header field without indexing, new name, no Huffman (lengths < 127)."""
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


RESPONSE_HEADERS = b"\x88" + _literal(b"content-type", b"application/grpc")  # 0x88 = :status 200
TRAILERS = _literal(b"grpc-status", b"0")


def frame(kind: int, flags: int, stream: int, payload: bytes | memoryview = b"") -> bytes:
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes([kind, flags])
        + struct.pack(">I", stream)
        + payload
    )


def grpc_message(body: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", len(body)) + body


class _Connection:
    def __init__(self, sock: socket.socket, messages: Sequence[bytes], status: bytes) -> None:
        self.sock = sock
        self.messages = messages
        self.status = status
        self.lock = threading.Condition()
        self.send_lock = threading.Lock()
        self.connection_window = DEFAULT_WINDOW
        self.initial_window = DEFAULT_WINDOW
        self.stream_windows: dict[int, int] = {}
        self.max_frame = 16_384
        self.requests: dict[int, bytearray] = {}
        self.closed = False

    def send(self, data: bytes) -> None:
        with self.send_lock:
            self.sock.sendall(data)

    def read_exactly(self, size: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < size:
            chunk = self.sock.recv(size - len(chunks))
            if not chunk:
                raise ConnectionError("closed")
            chunks += chunk
        return bytes(chunks)

    def serve(self) -> None:
        try:
            if self.read_exactly(len(PREFACE)) != PREFACE:
                return
            self.send(frame(SETTINGS, 0, 0))
            while True:
                header = self.read_exactly(9)
                length = int.from_bytes(header[:3], "big")
                kind, flags = header[3], header[4]
                stream = int.from_bytes(header[5:9], "big") & 0x7FFFFFFF
                payload = self.read_exactly(length)
                self.handle(kind, flags, stream, payload)
        except (ConnectionError, OSError):
            pass
        finally:
            with self.lock:
                self.closed = True
                self.lock.notify_all()
            self.sock.close()

    def handle(self, kind: int, flags: int, stream: int, payload: bytes) -> None:
        if kind == SETTINGS and not flags & ACK:
            # New windows and their ACK under the send lock: the client applies its settings
            # when it sees the ACK, so no frame sized for the old window may follow the ACK.
            with self.send_lock:
                with self.lock:
                    for offset in range(0, len(payload), 6):
                        key, value = struct.unpack_from(">HI", payload, offset)
                        if key == 0x4:
                            delta = value - self.initial_window
                            self.initial_window = value
                            for sid in self.stream_windows:
                                self.stream_windows[sid] += delta
                        elif key == 0x5:
                            self.max_frame = value
                    self.lock.notify_all()
                self.sock.sendall(frame(SETTINGS, ACK, 0))
        elif kind == PING and not flags & ACK:
            self.send(frame(PING, ACK, 0, payload))
        elif kind == WINDOW_UPDATE:
            increment = struct.unpack(">I", payload)[0] & 0x7FFFFFFF
            with self.lock:
                if stream == 0:
                    self.connection_window += increment
                elif stream in self.stream_windows:
                    self.stream_windows[stream] += increment
                self.lock.notify_all()
        elif kind == HEADERS:
            self.requests[stream] = bytearray()
            with self.lock:
                self.stream_windows[stream] = self.initial_window
        elif kind == DATA:
            self.requests.setdefault(stream, bytearray()).extend(payload)
            if payload:  # give back what the request used, so the client keeps sending
                self.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", len(payload))))
            if flags & END_STREAM:
                body = bytes(self.requests.pop(stream))[5:]
                target = self.reply_status if not body else self.stream_flows
                threading.Thread(target=target, args=(stream,), daemon=True).start()
        elif kind in (RST_STREAM, GOAWAY):
            with self.lock:
                self.stream_windows.pop(stream, None)
                if kind == GOAWAY:
                    self.closed = True
                self.lock.notify_all()

    def reply_status(self, stream: int) -> None:
        self.send(
            frame(HEADERS, END_HEADERS, stream, RESPONSE_HEADERS)
            + frame(DATA, 0, stream, grpc_message(self.status))
            + frame(HEADERS, END_HEADERS | END_STREAM, stream, TRAILERS)
        )

    def wait_for_window(self, stream: int) -> bool:
        """Wait until the stream may send; False when it never will."""
        with self.lock:
            while (
                not self.closed
                and stream in self.stream_windows
                and (self.connection_window <= 0 or self.stream_windows[stream] <= 0)
            ):
                self.lock.wait()
            return not self.closed and stream in self.stream_windows

    def send_within_window(self, stream: int, data: memoryview) -> int:
        """Send as much of ``data`` as the windows allow in one DATA frame; bytes sent.

        Window and frame are taken and sent under the send lock, so a SETTINGS change cannot
        come between them (see :meth:`handle`).
        """
        with self.send_lock:
            with self.lock:
                if self.closed or stream not in self.stream_windows:
                    return -1
                size = min(
                    len(data), self.connection_window, self.stream_windows[stream], self.max_frame
                )
                if size <= 0:
                    return 0
                self.connection_window -= size
                self.stream_windows[stream] -= size
            try:
                self.sock.sendall(frame(DATA, 0, stream, data[:size]))
            except OSError:  # the client went away
                return -1
            return size

    def stream_flows(self, stream: int) -> None:
        self.send(frame(HEADERS, END_HEADERS, stream, RESPONSE_HEADERS))
        framed = memoryview(b"".join(grpc_message(m) for m in self.messages))
        while True:
            offset = 0
            while offset < len(framed):
                if not self.wait_for_window(stream):
                    return
                sent = self.send_within_window(stream, framed[offset : offset + (1 << 20)])
                if sent < 0:
                    return
                offset += sent


class H2Firehose:
    """Serves ``messages`` (serialised GetFlowsResponse) in an endless loop to every GetFlows."""

    def __init__(self, messages: Sequence[bytes], status: bytes, port: int = 0) -> None:
        self.listener = socket.create_server(("127.0.0.1", port))
        self.port = self.listener.getsockname()[1]
        self.messages = messages
        self.status = status

    def serve_forever(self) -> None:
        while True:
            sock, _ = self.listener.accept()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = _Connection(sock, self.messages, self.status)
            threading.Thread(target=connection.serve, daemon=True).start()
