"""A real, in-process gRPC server implementing our Hubble ``observer.Observer`` service.

It streams recorded flows (sample ``hubble observe -o jsonpb`` lines parsed into our protobuf
messages) the way hubble-relay does: in time order, from ``since`` on, filtered by the request's
whitelist (``source_pod``/``destination_pod`` prefixes and verdicts), then, with ``follow``,
keeps the stream open. Tests use it to stop a server mid-stream and start it again on the same
port; the benchmark uses it as a flow firehose.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format

from collectors._proto.flow import flow_pb2
from collectors._proto.observer import observer_pb2, observer_pb2_grpc

HUBBLE_FIXTURES = Path(__file__).parent / "fixtures" / "hubble" / "files"
"""Copies of the shared Hubble samples (see SOURCE.md there)."""
REAL_CAPTURE = HUBBLE_FIXTURES / "real"
"""The real bookinfo capture."""


def varint(value: int) -> bytes:
    """``value`` as a protobuf varint (tests that write wire bytes by hand)."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, wire_type: int, payload: bytes) -> bytes:
    """A protobuf field: its tag, and for a length-delimited one (wire type 2) its length."""
    length = varint(len(payload)) if wire_type == 2 else b""
    return varint(number << 3 | wire_type) + length + payload


def response_time_ns(response: observer_pb2.GetFlowsResponse) -> int:
    stamp = response.flow.time if response.flow.HasField("time") else response.time
    return int(stamp.seconds) * 1_000_000_000 + int(stamp.nanos)


def parse_line(line: str) -> observer_pb2.GetFlowsResponse | None:
    """A jsonpb line as a GetFlowsResponse (bare legacy flows wrapped), None when not a flow."""
    if '"flow"' in line[:12] or '"lost_events"' in line[:20]:
        return json_format.Parse(line, observer_pb2.GetFlowsResponse(), ignore_unknown_fields=True)
    if '"l4"' in line or '"IP"' in line:
        response = observer_pb2.GetFlowsResponse()
        json_format.Parse(line, response.flow, ignore_unknown_fields=True)
        return response
    return None


def load_responses(
    paths: Iterable[Path], *, sort: bool = True
) -> list[observer_pb2.GetFlowsResponse]:
    responses = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                response = parse_line(line)
                if response is not None and response.WhichOneof("response_types") == "flow":
                    responses.append(response)
    if sort:
        responses.sort(key=response_time_ns)
    return responses


def _pod(endpoint: flow_pb2.Endpoint) -> str:
    return f"{endpoint.namespace}/{endpoint.pod_name}" if endpoint.namespace else ""


def _matches_one(flow_filter: flow_pb2.FlowFilter, flow: flow_pb2.Flow) -> bool:
    if flow_filter.source_pod and not any(
        _pod(flow.source).startswith(p) and _pod(flow.source) for p in flow_filter.source_pod
    ):
        return False
    if flow_filter.destination_pod and not any(
        _pod(flow.destination).startswith(p) and _pod(flow.destination)
        for p in flow_filter.destination_pod
    ):
        return False
    return not flow_filter.verdict or flow.verdict in flow_filter.verdict


def matches(request: observer_pb2.GetFlowsRequest, flow: flow_pb2.Flow) -> bool:
    """Whitelist semantics: any filter matches (all of its set fields match)."""
    return not request.whitelist or any(_matches_one(f, flow) for f in request.whitelist)


class RecordedObserver(observer_pb2_grpc.ObserverServicer):  # type: ignore[misc]
    """Serves ``responses``; shared by every server instance so a restart continues the log.

    ``stop_after``: after streaming that many flows in total, the server stops sending and
    sets :attr:`paused` (the test then stops the server, as a crash would).
    """

    def __init__(
        self,
        responses: Sequence[observer_pb2.GetFlowsResponse],
        *,
        stop_after: int | None = None,
        extra: Sequence[observer_pb2.GetFlowsResponse] = (),
    ) -> None:
        self.responses = list(responses)
        self.extra = list(extra)
        """Non-flow responses (lost events, node status) sent first on every stream."""
        self.stop_after = stop_after
        self.sent = 0
        self.requests: list[observer_pb2.GetFlowsRequest] = []
        self.paused = threading.Event()
        self.release = threading.Event()

    def GetFlows(self, request: Any, context: Any) -> Iterator[observer_pb2.GetFlowsResponse]:  # noqa: N802
        self.requests.append(request)
        since = (
            int(request.since.seconds) * 1_000_000_000 + int(request.since.nanos)
            if request.HasField("since")
            else None
        )
        yield from self.extra
        for response in self.responses:
            if since is not None and response_time_ns(response) < since:
                continue
            if not matches(request, response.flow):
                continue
            if self.stop_after is not None and self.sent >= self.stop_after:
                self.paused.set()
                while context.is_active() and not self.release.wait(0.02):
                    pass
                if not self.release.is_set():
                    return
                self.stop_after = None
            self.sent += 1
            yield response
        while request.follow and context.is_active():
            time.sleep(0.02)

    def ServerStatus(self, request: Any, context: Any) -> observer_pb2.ServerStatusResponse:  # noqa: N802
        response = observer_pb2.ServerStatusResponse(
            num_flows=len(self.responses), max_flows=4095, version="netpol-learner-test"
        )
        response.num_connected_nodes.value = 1
        return response


@dataclass
class ServerTLS:
    certificate_chain: bytes
    private_key: bytes
    client_ca: bytes | None = None
    """When set, clients must present a certificate signed by it (mTLS)."""


class HubbleTestServer:
    """Start, stop and restart (on the same port) a server for one :class:`RecordedObserver`."""

    def __init__(
        self,
        observer: RecordedObserver,
        *,
        tls: ServerTLS | None = None,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        self.observer = observer
        self.tls = tls
        self.options = list(options)
        """grpcio server options (``grpc.http2.*`` ...)."""
        self.port = 0
        self._server: Any = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> HubbleTestServer:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=self.options)
        observer_pb2_grpc.add_ObserverServicer_to_server(self.observer, server)
        bind = f"127.0.0.1:{self.port}"
        if self.tls is None:
            port = server.add_insecure_port(bind)
        else:
            credentials = grpc.ssl_server_credentials(
                [(self.tls.private_key, self.tls.certificate_chain)],
                root_certificates=self.tls.client_ca,
                require_client_auth=self.tls.client_ca is not None,
            )
            port = server.add_secure_port(bind, credentials)
        if port == 0:
            raise RuntimeError(f"cannot bind {bind}")
        self.port = port
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None).wait()
            self._server = None

    def __enter__(self) -> HubbleTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
