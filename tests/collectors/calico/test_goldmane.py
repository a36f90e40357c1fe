from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from collectors._proto.goldmane import api_pb2, api_pb2_grpc
from collectors.calico.goldmane import (
    GoldmanePosition,
    GoldmaneQuery,
    GoldmaneStream,
    goldmane_options,
    iter_flows,
)
from collectors.calico.model import AGGREGATED_NAME_LABEL, WARN_NAME_LABEL
from collectors.stream_options import ReconnectPolicy, ServerOptions, TLSOptions
from learner.model.errors import SourceUnavailableError
from learner.model.flow import Direction, EndpointKind, Flow, Protocol, Verdict
from learner.model.run_stats import CollectorStats

T0 = 1767225600
FAST = ReconnectPolicy(initial_backoff=0.01, max_backoff=0.05, jitter=0.0, max_attempts=3)
SERVER_NAME = "goldmane.calico-system.svc"


def flow_result(
    index: int,
    start: int,
    *,
    source: str = "web-7c9d8f5b4d-*",
    port: int = 8080,
    proto: str = "tcp",
    reporter: str = "Src",
    action: str = "Allow",
) -> api_pb2.FlowResult:
    key = api_pb2.FlowKey(
        source_name=source,
        source_namespace="shop",
        source_type=api_pb2.WorkloadEndpoint,
        dest_name="api-6b4f9c7d8b-*",
        dest_namespace="shop",
        dest_type=api_pb2.WorkloadEndpoint,
        dest_port=port,
        proto=proto,
        reporter=api_pb2.Reporter.Value(reporter),
        action=api_pb2.Action.Value(action),
    )
    message = api_pb2.Flow(
        Key=key,
        start_time=start,
        end_time=start + 15,
        source_labels=[
            "app=web",
            "pod-template-hash=7c9d8f5b4d",
            "projectcalico.org/namespace=shop",
        ],
        dest_labels=["app=api"],
        num_connections_started=index + 1,
    )
    return api_pb2.FlowResult(id=index, flow=message)


def windows() -> list[api_pb2.FlowResult]:
    """Three 15-second windows with two flow keys each, in the order Goldmane sends them."""
    out: list[api_pb2.FlowResult] = []
    for window in range(3):
        start = T0 + 15 * window
        out.append(flow_result(len(out), start, port=8080))
        out.append(flow_result(len(out), start, port=9090))
    return out


class FlowsServer(api_pb2_grpc.FlowsServicer):
    """A Goldmane server holding ``results``; ``abort_after[i]``: the i-th Stream call fails
    with UNAVAILABLE after that many results (None: sends all, then stays open)."""

    def __init__(
        self,
        results: list[api_pb2.FlowResult],
        abort_after: list[int | None] | None = None,
        abort_code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE,
    ) -> None:
        self.results = results
        self.abort_after = list(abort_after or [])
        self.abort_code = abort_code
        self.requests: list[Any] = []
        self.sent_everything = threading.Event()

    def _matching(self, start_time_gte: int) -> list[api_pb2.FlowResult]:
        return [r for r in self.results if r.flow.start_time >= start_time_gte]

    def Stream(self, request: Any, context: Any) -> Iterator[api_pb2.FlowResult]:  # noqa: N802
        self.requests.append(request)
        limit = self.abort_after.pop(0) if self.abort_after else None
        allowed = set(request.filter.actions)
        for sent, result in enumerate(self._matching(request.start_time_gte)):
            if limit is not None and sent == limit:
                context.abort(self.abort_code, "goldmane restarting")
            if allowed and result.flow.Key.action not in allowed:
                continue
            yield result
        self.sent_everything.set()
        while context.is_active():
            time.sleep(0.005)

    def List(self, request: Any, context: Any) -> api_pb2.FlowListResult:  # noqa: N802
        self.requests.append(request)
        matching = self._matching(request.start_time_gte)
        size = request.page_size or len(matching)
        pages = max(1, -(-len(matching) // size))
        page = matching[request.page * size : (request.page + 1) * size]
        return api_pb2.FlowListResult(
            meta=api_pb2.ListMetadata(totalPages=pages, totalResults=len(matching)),
            flows=page,
        )


class Running:
    def __init__(self, servicer: FlowsServer, credentials: Any = None) -> None:
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        api_pb2_grpc.add_FlowsServicer_to_server(servicer, self.server)  # type: ignore[no-untyped-call]
        if credentials is None:
            self.port = self.server.add_insecure_port("127.0.0.1:0")
        else:
            self.port = self.server.add_secure_port("127.0.0.1:0", credentials)
        self.server.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop(grace=None)


@pytest.fixture
def running() -> Iterator[Any]:
    started: list[Running] = []

    def start(servicer: FlowsServer, credentials: Any = None) -> Running:
        server = Running(servicer, credentials)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def plain(address: str) -> ServerOptions:
    return ServerOptions(server=address, dial_timeout=1.0, request_timeout=2.0)


def consume_until(stream: GoldmaneStream, done: threading.Event) -> list[Flow]:
    """Collect flows on a thread until ``done`` is set, then close the stream."""
    collected: list[Flow] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            collected.extend(stream.flows())
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    assert done.wait(10)
    time.sleep(0.05)  # let the last results reach the consumer
    stream.close()
    thread.join(10)
    assert not thread.is_alive()
    if errors:
        raise errors[0]
    return collected


def test_stream_maps_goldmane_flows(running: Any) -> None:
    servicer = FlowsServer(windows())
    server = running(servicer)
    stats = CollectorStats()
    stream = GoldmaneStream(plain(server.address), GoldmaneQuery(start_time_gte=-600), stats=stats)
    flows = consume_until(stream, servicer.sent_everything)
    assert len(flows) == 6 and stats.flows == 6
    first = flows[0]
    assert (first.time, first.port, first.count) == (T0 + 15, 8080, 1)
    assert (first.direction, first.verdict, first.is_reply) == (
        Direction.EGRESS,
        Verdict.FORWARDED,
        False,
    )
    assert first.protocol is Protocol.TCP
    assert first.source.kind is EndpointKind.POD
    assert first.source.labels == (("app", "web"), ("pod-template-hash", "7c9d8f5b4d"))
    assert (first.source.workload_name, first.destination.workload_name) == ("web", "api")
    assert first.origin.source == server.address
    assert servicer.requests[0].start_time_gte == -600
    assert servicer.requests[0].aggregation_interval == 15


def test_a_restart_mid_stream_resumes_without_double_counting(running: Any) -> None:
    servicer = FlowsServer(windows(), abort_after=[3, None])
    server = running(servicer)
    stream = GoldmaneStream(plain(server.address), reconnect=FAST)
    flows = consume_until(stream, servicer.sent_everything)
    ports_and_starts = sorted((f.port, int(f.time)) for f in flows)
    expected = sorted((r.flow.Key.dest_port, r.flow.end_time) for r in windows())
    assert ports_and_starts == expected  # every result exactly once
    assert stream.counters.reconnects == 1
    # Resumed one window before the newest one taken in (T0 + 15), replaying window T0.
    assert servicer.requests[1].start_time_gte == T0
    assert stream.counters.duplicates == 3
    position = stream.position
    assert position is not None and position.newest_start == T0 + 30


def test_a_saved_position_skips_what_was_already_taken_in(running: Any) -> None:
    first = FlowsServer(windows()[:4])
    server = running(first)
    stream = GoldmaneStream(plain(server.address))
    assert len(consume_until(stream, first.sent_everything)) == 4
    saved = stream.position
    assert isinstance(saved, GoldmanePosition)
    second = FlowsServer(windows())
    again = running(second)
    resumed = GoldmaneStream(plain(again.address), position=saved)
    flows = consume_until(resumed, second.sent_everything)
    assert second.requests[0].start_time_gte == T0  # newest start T0+15, one window back
    assert sorted(f.port for f in flows) == [8080, 9090]
    assert all(int(f.time) == T0 + 45 for f in flows)


def test_the_position_moves_on_commit_and_keeps_only_what_a_resume_replays(
    running: Any,
) -> None:
    servicer = FlowsServer(windows())
    server = running(servicer)
    stream = GoldmaneStream(plain(server.address))
    flows = stream.flows()
    try:
        first = next(flows)
        assert first.port == 8080 and stream.position is None  # handed out, not taken in
        stream.commit()
        position = stream.position
        assert position is not None and position.newest_start == T0
        assert len(position.seen) == 1
        rest = [next(flows) for _ in range(5)]
        stream.commit()
    finally:
        stream.close()
    assert list(flows) == []  # closing ends the iteration
    assert [f.port for f in rest] == [9090, 8080, 9090, 8080, 9090]
    position = stream.position
    assert position is not None and position.newest_start == T0 + 30
    # A resume asks from T0 + 15: window T0 is never sent again, so it is not kept.
    assert (
        sorted(key.split(":")[0] for key in position.seen)
        == [str(T0 + 15)] * 2 + [str(T0 + 30)] * 2
    )


def test_a_position_round_trips_through_the_saved_shape() -> None:
    position = GoldmanePosition(T0 + 30, frozenset({f"{T0 + 30}:{T0 + 45}:ab", f"{T0}:x:cd"}))
    assert position.time_ns == (T0 + 30) * 1_000_000_000
    assert position.boundary == tuple(sorted(position.seen))
    assert GoldmanePosition.from_saved(position.time_ns, position.boundary) == position


def test_record_details(running: Any) -> None:
    results = [
        flow_result(0, T0, proto="udp", port=53, reporter="Dst", action="Deny"),
        flow_result(1, T0, proto="ipip", port=0),
    ]
    denied = results[0].flow
    denied.num_connections_started = 0
    denied.num_connections_live = 4
    del denied.source_labels[:]
    hit = denied.Key.policies.enforced_policies.add(
        kind=api_pb2.EndOfTier, tier="default", action=api_pb2.Deny, policy_index=0, rule_index=-1
    )
    hit.trigger.CopyFrom(
        api_pb2.PolicyHit(kind=api_pb2.NetworkPolicy, namespace="shop", name="api-isolation")
    )
    servicer = FlowsServer(results)
    server = running(servicer)
    stats = CollectorStats()
    stream = GoldmaneStream(plain(server.address), stats=stats)
    (flow,) = consume_until(stream, servicer.sent_everything)
    assert (flow.protocol, flow.port, flow.count) == (Protocol.UDP, 53, 4)
    assert (flow.direction, flow.verdict) == (Direction.INGRESS, Verdict.DROPPED)
    assert flow.policies == ("shop/api-isolation",)
    assert flow.source.labels == ((AGGREGATED_NAME_LABEL, "web"),)
    assert stats.warnings[WARN_NAME_LABEL] == 1
    assert stats.non_flow == {"protocol ipip (no policy port)": 1}
    assert stats.records == 2


def test_server_side_action_filter(running: Any) -> None:
    results = [flow_result(0, T0, action="Allow"), flow_result(1, T0, port=1, action="Deny")]
    servicer = FlowsServer(results)
    server = running(servicer)
    stream = GoldmaneStream(plain(server.address), GoldmaneQuery(actions=("Allow",)))
    flows = consume_until(stream, servicer.sent_everything)
    assert [f.verdict for f in flows] == [Verdict.FORWARDED]
    assert list(servicer.requests[0].filter.actions) == [api_pb2.Allow]


def test_list_pages_through_everything_and_ends(running: Any) -> None:
    servicer = FlowsServer(windows())
    server = running(servicer)
    query = GoldmaneQuery(follow=False, page_size=4)
    flows = list(iter_flows(plain(server.address), query=query, stats=CollectorStats()))
    assert len(flows) == 6
    assert [r.page for r in servicer.requests] == [0, 1]
    assert servicer.requests[0].start_time_gte == 0  # the oldest kept


def test_permission_denied_is_not_retried(running: Any) -> None:
    servicer = FlowsServer(windows(), abort_after=[0], abort_code=grpc.StatusCode.PERMISSION_DENIED)
    server = running(servicer)
    stream = GoldmaneStream(plain(server.address), reconnect=FAST)
    with pytest.raises(SourceUnavailableError, match="PERMISSION_DENIED: goldmane restarting"):
        list(stream.flows())
    assert len(servicer.requests) == 1


def test_gives_up_on_an_unreachable_server() -> None:
    options = ServerOptions(server="127.0.0.1:1", dial_timeout=0.1)
    policy = ReconnectPolicy(initial_backoff=0.01, jitter=0.0, max_attempts=2)
    with pytest.raises(SourceUnavailableError, match="gave up after 2 attempts") as raised:
        list(iter_flows(options, reconnect=policy, stats=CollectorStats()))
    assert raised.value.code == "UNAVAILABLE"


def test_default_address_port_and_tls() -> None:
    options = goldmane_options()
    assert options.target == "goldmane.calico-system.svc:7443" and options.use_tls
    assert goldmane_options("127.0.0.1").target == "127.0.0.1:7443"
    assert goldmane_options("tls://[::1]:9443").target == "[::1]:9443"


# --- mutual TLS ------------------------------------------------------------------------------


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None = None,
    dns_names: tuple[str, ...] = (),
) -> bytes:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if dns_names:
        names = x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names])
        builder = builder.add_extension(names, critical=False)
    return builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_pki(directory: Path) -> dict[str, Any]:
    """A CA, Goldmane's server certificate (its real SANs) and a client certificate: the
    client's files under ``paths`` and the server's credentials under ``server``."""
    ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = _certificate("calico-ca", ca_key)
    server = _certificate(
        "goldmane",
        server_key,
        ("calico-ca", ca_key),
        ("goldmane", "goldmane.calico-system", SERVER_NAME, f"{SERVER_NAME}.cluster.local"),
    )
    client = _certificate("netpol-learner", client_key, ("calico-ca", ca_key))
    files = {"ca": ca, "client": client, "client-key": _key_pem(client_key)}
    paths = {}
    for name, data in files.items():
        path = directory / f"{name}.pem"
        path.write_bytes(data)
        paths[name] = str(path)
    credentials = grpc.ssl_server_credentials(
        [(_key_pem(server_key), server)], root_certificates=ca, require_client_auth=True
    )
    return {"paths": paths, "server": credentials}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return write_pki(tmp_path_factory.mktemp("pki"))


def _tls(paths: dict[str, str], *, with_client: bool = True) -> TLSOptions:
    return TLSOptions(
        ca_cert_files=(paths["ca"],),
        client_cert_file=paths["client"] if with_client else "",
        client_key_file=paths["client-key"] if with_client else "",
        server_name=SERVER_NAME,
    )


def test_mutual_tls(running: Any, pki: dict[str, Any]) -> None:
    servicer = FlowsServer(windows())
    server = running(servicer, pki["server"])
    options = goldmane_options(server.address, _tls(pki["paths"]), dial_timeout=2.0)
    query = GoldmaneQuery(follow=False)
    flows = list(iter_flows(options, query=query, reconnect=FAST, stats=CollectorStats()))
    assert len(flows) == 6


def test_without_a_client_certificate_the_handshake_fails(
    running: Any, pki: dict[str, Any]
) -> None:
    servicer = FlowsServer(windows())
    server = running(servicer, pki["server"])
    tls = _tls(pki["paths"], with_client=False)
    options = goldmane_options(server.address, tls, dial_timeout=0.5)
    once = ReconnectPolicy(initial_backoff=0.01, jitter=0.0, max_attempts=1)
    query = GoldmaneQuery(follow=False)
    with pytest.raises(SourceUnavailableError, match="requires a client certificate"):
        list(iter_flows(options, query=query, reconnect=once, stats=CollectorStats()))
    assert servicer.requests == []  # no call got through
