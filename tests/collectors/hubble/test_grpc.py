"""The Hubble gRPC collector against a real in-process grpcio server (tests/hubble_server.py)."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import suppress
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from collectors._proto.observer import observer_pb2, observer_pb2_grpc
from collectors.grpc_stream import TLSMaterial, is_retryable
from collectors.grpc_wire import WireCall, WireError
from collectors.hubble.grpc import FlowQuery, HubbleStream, StreamPosition, build_request
from collectors.stream_options import ReconnectPolicy, ServerOptions, TLSOptions
from learner.ingest.normalize import normalize
from learner.model.config import NormalizeOptions
from learner.model.edges import EdgeStore
from learner.model.errors import SourceUnavailableError
from learner.model.flow import Flow, Verdict
from learner.model.run_stats import NormalizeStats
from tests.hubble_server import (
    REAL_CAPTURE,
    HubbleTestServer,
    RecordedObserver,
    ServerTLS,
    load_responses,
    response_time_ns,
)

FAST = ReconnectPolicy(initial_backoff=0.05, max_backoff=0.2, max_attempts=20, seed=7)


@pytest.fixture(scope="module")
def responses() -> list[observer_pb2.GetFlowsResponse]:
    return load_responses(sorted(REAL_CAPTURE.glob("basic-sample-*.jsonl")))


def aggregate(flows: Iterator[Flow]) -> EdgeStore:
    store = EdgeStore()
    for flow in normalize(flows, NormalizeOptions(), NormalizeStats()):
        store.add(flow)
    return store


def options(address: str, **kwargs: Any) -> ServerOptions:
    settings: dict[str, Any] = {"dial_timeout": 2.0, "request_timeout": 2.0, **kwargs}
    return ServerOptions(server=address, **settings)


def test_streams_every_recorded_flow(responses: list[observer_pb2.GetFlowsResponse]) -> None:
    lost = observer_pb2.GetFlowsResponse()
    lost.lost_events.num_events_lost = 7
    observer = RecordedObserver(responses, extra=[lost])
    with HubbleTestServer(observer) as server:
        stream = HubbleStream(options(server.address), FlowQuery(follow=False), reconnect=FAST)
        flows = list(stream.flows())
    assert len(flows) == stream.stats.flows
    assert stream.stats.flows + sum(stream.stats.non_flow.values()) - 1 == len(responses)
    assert stream.stats.lost_events == 7
    assert stream.counters.server_version == "netpol-learner-test"
    assert stream.position == StreamPosition(
        response_time_ns(responses[-1]),
        stream.position.boundary if stream.position else frozenset(),
    )
    assert observer.requests[0].follow is False
    assert not observer.requests[0].HasField("since")


def test_a_server_restart_mid_stream_resumes_without_loss_or_double_counting(
    responses: list[observer_pb2.GetFlowsResponse],
) -> None:
    with HubbleTestServer(RecordedObserver(responses)) as server:
        uninterrupted = aggregate(
            HubbleStream(options(server.address), FlowQuery(follow=False), reconnect=FAST).flows()
        )
    # Cut between two flows with the same timestamp: the resume point's boundary must hold both.
    cut = 701
    assert response_time_ns(responses[cut - 1]) == response_time_ns(responses[cut])
    observer = RecordedObserver(responses, stop_after=cut)
    server = HubbleTestServer(observer).start()
    stream = HubbleStream(options(server.address), FlowQuery(follow=False), reconnect=FAST)
    result: dict[str, EdgeStore] = {}
    consumer = threading.Thread(target=lambda: result.update(store=aggregate(stream.flows())))
    consumer.start()
    try:
        assert observer.paused.wait(10)
        server.stop()  # a crash: the stream breaks mid-way
        observer.stop_after = None
        server.start()  # same port
        consumer.join(20)
        assert not consumer.is_alive()
    finally:
        stream.close()
        server.stop()
    assert stream.counters.reconnects == 1
    assert stream.counters.duplicates >= 1  # the flow at the resume point came again
    resumed = observer.requests[-1]
    assert resumed.HasField("since")
    assert resumed.since.seconds * 1_000_000_000 + resumed.since.nanos == response_time_ns(
        responses[cut - 1]
    )
    assert stream.stats.flows == len(responses)
    assert result["store"].edges == uninterrupted.edges
    assert result["store"].workloads == uninterrupted.workloads


def test_a_saved_position_skips_what_was_already_counted(
    responses: list[observer_pb2.GetFlowsResponse],
) -> None:
    at = response_time_ns(responses[700])
    with HubbleTestServer(RecordedObserver(responses[:701])) as server:
        first = HubbleStream(options(server.address), FlowQuery(follow=False), reconnect=FAST)
        head = list(first.flows())
        saved = first.position
    assert saved is not None and saved.time_ns == at and len(saved.boundary) == 1
    with HubbleTestServer(RecordedObserver(responses)) as server:
        rest = HubbleStream(
            options(server.address), FlowQuery(follow=False), reconnect=FAST, position=saved
        )
        tail = list(rest.flows())
    assert len(head) + len(tail) == len(responses)
    assert rest.counters.duplicates == 1


def test_server_side_filters_keep_unwanted_flows_off_the_wire(
    responses: list[observer_pb2.GetFlowsResponse],
) -> None:
    observer = RecordedObserver(responses)
    query = FlowQuery(namespaces=("kube-system",), verdicts=(Verdict.FORWARDED,), follow=False)
    with HubbleTestServer(observer) as server:
        flows = list(HubbleStream(options(server.address), query, reconnect=FAST).flows())
    assert flows and len(flows) < len(responses) // 2
    for flow in flows:
        assert flow.verdict is Verdict.FORWARDED
        assert "kube-system" in (flow.source.namespace, flow.destination.namespace)
    request = observer.requests[0]
    assert [list(f.source_pod) for f in request.whitelist] == [["kube-system/"], []]
    assert [list(f.destination_pod) for f in request.whitelist] == [[], ["kube-system/"]]


def test_build_request_resumes_from_a_nanosecond_position() -> None:
    request = build_request(FlowQuery(verdicts=(Verdict.DROPPED,)), 1_700_000_000_123456789)
    assert (request.since.seconds, request.since.nanos) == (1_700_000_000, 123456789)
    assert request.follow
    assert [list(f.verdict) for f in request.whitelist] == [[2]]


def test_reconnect_delays_grow_are_capped_and_reproducible() -> None:
    policy = ReconnectPolicy(initial_backoff=1, max_backoff=8, jitter=0.25, seed=3)
    delays = policy.delays()
    first = [next(delays) for _ in range(8)]
    again = ReconnectPolicy(initial_backoff=1, max_backoff=8, jitter=0.25, seed=3).delays()
    assert first == [next(again) for _ in range(8)]
    assert 0.75 <= first[0] <= 1.25 and 1.5 <= first[1] <= 2.5
    assert all(d <= 8 for d in first) and first[-1] >= 6


def test_gives_up_after_the_configured_attempts() -> None:
    policy = ReconnectPolicy(initial_backoff=0.01, max_backoff=0.02, max_attempts=2, seed=1)
    stream = HubbleStream(options("127.0.0.1:1", dial_timeout=0.2), reconnect=policy)
    with pytest.raises(SourceUnavailableError, match=r"127\.0\.0\.1:1: UNAVAILABLE: .*2 attempts"):
        list(stream.flows())
    assert stream.counters.reconnects == 2


class _Denying(RecordedObserver):
    def GetFlows(self, request: Any, context: Any) -> Iterator[Any]:  # noqa: N802
        context.abort(grpc.StatusCode.PERMISSION_DENIED, "not allowed to observe")
        yield from ()


def test_permission_denied_is_not_retried() -> None:
    with HubbleTestServer(_Denying([])) as server:
        stream = HubbleStream(options(server.address), reconnect=FAST)
        with pytest.raises(SourceUnavailableError, match="PERMISSION_DENIED: not allowed"):
            list(stream.flows())
    assert stream.counters.reconnects == 0


def test_close_from_another_thread_ends_a_follow_stream(
    responses: list[observer_pb2.GetFlowsResponse],
) -> None:
    with HubbleTestServer(RecordedObserver(responses[:10])) as server:
        stream = HubbleStream(options(server.address), FlowQuery(follow=True), reconnect=FAST)
        received: list[Flow] = []

        def consume() -> None:
            for flow in stream.flows():
                received.append(flow)

        consumer = threading.Thread(target=consume)
        consumer.start()
        for _ in range(200):
            if len(received) == 10:
                break
            consumer.join(0.02)
        stream.close()
        consumer.join(5)
    assert not consumer.is_alive()
    assert len(received) == 10


def test_a_server_that_wants_fewer_pings_is_pinged_half_as_often_after_each_goaway(
    responses: list[observer_pb2.GetFlowsResponse],
) -> None:
    """grpc-go (hubble-relay) allows one ping in 5 minutes by default and sends GOAWAY
    too_many_pings past it; grpcio's client doubles its keepalive interval then, and so must
    the stream, or it reconnects every few minutes on a quiet cluster."""
    strict = [
        ("grpc.http2.min_ping_interval_without_data_ms", 60_000),
        ("grpc.http2.max_ping_strikes", 1),
    ]
    with HubbleTestServer(RecordedObserver(responses[:3]), options=strict) as server:
        settings = options(server.address, keepalive_time=0.05, keepalive_timeout=2.0)
        stream = HubbleStream(settings, FlowQuery(follow=True), reconnect=FAST)
        consumer = threading.Thread(target=lambda: list(stream.flows()))
        consumer.start()
        for _ in range(300):
            if stream._keepalive >= 0.2:
                break
            consumer.join(0.05)
        stream.close()
        consumer.join(5)
    assert stream._keepalive >= 0.2
    assert "too many pings" in stream.counters.last_error.lower()
    assert not consumer.is_alive()


def test_unix_socket(tmp_path: Path, responses: list[observer_pb2.GetFlowsResponse]) -> None:
    socket_path = tmp_path / "hubble.sock"
    server = grpc.server(futures.ThreadPoolExecutor(2))
    observer_pb2_grpc.add_ObserverServicer_to_server(RecordedObserver(responses[:5]), server)
    server.add_insecure_port(f"unix://{socket_path}")
    server.start()
    try:
        stream = HubbleStream(
            options(f"unix://{socket_path}"), FlowQuery(follow=False), reconnect=FAST
        )
        assert len(list(stream.flows())) == 5
    finally:
        server.stop(None)


# --- TLS ---------------------------------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    names: tuple[str, ...] = (),
) -> bytes:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer if issuer else (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names:
        alternatives: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
        alternatives.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
        builder = builder.add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
    return builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class PKI:
    def __init__(self, directory: Path) -> None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = _certificate("test hubble ca", ca_key, None, ca=True)
        server_key = ec.generate_private_key(ec.SECP256R1())
        self.server = ServerTLS(
            _certificate(
                "relay", server_key, ("test hubble ca", ca_key),
                names=("instance.hubble-relay.cilium.io", "localhost"),
            ),
            _key_pem(server_key),
        )  # fmt: skip
        client_key = ec.generate_private_key(ec.SECP256R1())
        self.client_cert = directory / "client.crt"
        self.client_cert.write_bytes(
            _certificate("learner", client_key, ("test hubble ca", ca_key))
        )
        self.client_key = directory / "client.key"
        self.client_key.write_bytes(_key_pem(client_key))
        self.ca_file = directory / "ca.crt"
        self.ca_file.write_bytes(self.ca)
        other_key = ec.generate_private_key(ec.SECP256R1())
        self.other_ca_file = directory / "other-ca.crt"
        self.other_ca_file.write_bytes(_certificate("someone else", other_key, None, ca=True))
        self_signed_key = ec.generate_private_key(ec.SECP256R1())
        self.self_signed = ServerTLS(
            _certificate("hubble", self_signed_key, None, names=("hubble.test",)),
            _key_pem(self_signed_key),
        )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return PKI(tmp_path_factory.mktemp("pki"))


def test_a_tls_server_that_does_not_speak_http2_is_a_tls_failure(pki: PKI, tmp_path: Path) -> None:
    """Pointed at an HTTPS endpoint (an ingress, a dashboard), the stream must stop with a
    reason, not retry an HTTP/2 conversation the server will never hold."""
    (tmp_path / "server.crt").write_bytes(pki.server.certificate_chain)
    (tmp_path / "server.key").write_bytes(pki.server.private_key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    context.set_alpn_protocols(["http/1.1"])
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = listener.accept()
        with suppress(OSError), context.wrap_socket(connection, server_side=True) as tls:
            tls.recv(1024)
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    address = f"localhost:{listener.getsockname()[1]}"
    material = TLSMaterial(pki.ca, "localhost")
    with pytest.raises(WireError) as raised:
        WireCall(options(f"tls://{address}"), material, "/observer.Observer/GetFlows", b"")
    assert "ALPN h2" in raised.value.details()
    assert not is_retryable(raised.value)


def test_tls_with_a_ca_and_server_name(
    pki: PKI, responses: list[observer_pb2.GetFlowsResponse]
) -> None:
    with HubbleTestServer(RecordedObserver(responses[:20]), tls=pki.server) as server:
        tls = TLSOptions(
            ca_cert_files=(str(pki.ca_file),), server_name="instance.hubble-relay.cilium.io"
        )
        stream = HubbleStream(
            options(f"tls://{server.address}", tls=tls), FlowQuery(follow=False), reconnect=FAST
        )
        assert len(list(stream.flows())) == 20


def test_mtls_requires_the_client_certificate(
    pki: PKI, responses: list[observer_pb2.GetFlowsResponse]
) -> None:
    server_tls = ServerTLS(pki.server.certificate_chain, pki.server.private_key, client_ca=pki.ca)
    with HubbleTestServer(RecordedObserver(responses[:20]), tls=server_tls) as server:
        mutual = TLSOptions(
            enabled=True,
            ca_cert_files=(str(pki.ca_file),),
            client_cert_file=str(pki.client_cert),
            client_key_file=str(pki.client_key),
            server_name="instance.hubble-relay.cilium.io",
        )
        stream = HubbleStream(
            options(server.address, tls=mutual), FlowQuery(follow=False), reconnect=FAST
        )
        assert len(list(stream.flows())) == 20
        anonymous = TLSOptions(
            enabled=True, ca_cert_files=(str(pki.ca_file),), server_name="localhost"
        )
        policy = ReconnectPolicy(initial_backoff=0.01, max_attempts=1, seed=1)
        refused = HubbleStream(options(server.address, tls=anonymous), reconnect=policy)
        with pytest.raises(SourceUnavailableError):
            list(refused.flows())


def test_an_untrusted_server_is_a_tls_failure_without_retries(
    pki: PKI, responses: list[observer_pb2.GetFlowsResponse]
) -> None:
    with HubbleTestServer(RecordedObserver(responses[:20]), tls=pki.server) as server:
        tls = TLSOptions(
            enabled=True, ca_cert_files=(str(pki.other_ca_file),), server_name="localhost"
        )
        stream = HubbleStream(options(server.address, tls=tls), reconnect=FAST)
        with pytest.raises(SourceUnavailableError, match="TLS failure"):
            list(stream.flows())
    assert stream.counters.reconnects == 0


def test_allow_insecure_trusts_a_self_signed_server(
    pki: PKI, responses: list[observer_pb2.GetFlowsResponse]
) -> None:
    with HubbleTestServer(RecordedObserver(responses[:20]), tls=pki.self_signed) as server:
        tls = TLSOptions(enabled=True, allow_insecure=True)
        stream = HubbleStream(
            options(f"tls://{server.address}", tls=tls), FlowQuery(follow=False), reconnect=FAST
        )
        assert len(list(stream.flows())) == 20
