"""Renders simulated connection events as Calico Enterprise/Cloud ``flows.log`` lines.

Felix aggregates connections per flush interval (``flowLogsFlushInterval``, 5 minutes) and
writes one JSON object per aggregate and reporter, with the field set and key order of its
``JSONOutput`` (formats.md §3.1, the real line in ``shared/samples/calico/``). One connection is
counted

* at its source (``reporter: src``) when the client is a pod, and at its destination
  (``reporter: dst``) when the server is a pod: a pod-to-pod connection appears twice;
* for a denied event only where the policy denied it (as the Hubble writer does; Calico would
  also log the other end's ``allow`` - :attr:`CalicoOptions.report_both_ends_of_denied`).

Aggregation follows ``flowLogsFileAggregationKindForAllowed``/``ForDenied``: level 0 keeps the
5-tuple, 1 drops the source port, 2 (the default for allowed flows) also drops addresses and
pod names: pods are named by their GenerateName plus ``*`` (``api-6b4f9c7d8b-*``; StatefulSet
and bare pods by their own name) with the labels all aggregated pods share; addresses Calico
knows nothing about become ``pub``/``pvt``. Nodes are host endpoints (``hep``, as with
``flowLogsEnableHostEndpoint``), DNS names of outside addresses go to ``dest_domains``, and
Calico's own labels (``projectcalico.org/namespace`` ...) are added as Calico does.
"""

from __future__ import annotations

import gzip as gzip_module
import ipaddress
import os
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import orjson

from learner.model.flow import Direction, EndpointKind, Verdict
from learner.simulate import SimulationResult
from learner.simulate.calico_dns_writer import CalicoDnsWriter
from learner.simulate.calico_names import calico_labels, generate_name
from learner.simulate.cluster import Cluster, Pod
from learner.simulate.connection_events import ConnectionEvent, Peer
from learner.simulate.hubble_writer import ByteSink

FLUSH_SECONDS = 300
DOMAINS_LIMIT = 5
"""``flowLogsFileDomainsLimit``."""
PROTOCOL_NAMES = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp", "ICMPv4": "icmp", "ICMPv6": "icmp6"}
_PRIVATE = (
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("192.168.0.0/16"),
)
# The tail every record carries when process and TCP statistics are not collected.
_TAIL: dict[str, Any] = {
    "http_requests_allowed_in": 0,
    "http_requests_denied_in": 0,
    "process_name": "-",
    "num_process_names": 0,
    "process_id": "-",
    "num_process_ids": 0,
    "process_args": ["-"],
    "num_process_args": 0,
    "original_source_ips": None,
    "num_original_source_ips": 0,
    "tcp_mean_send_congestion_window": 0,
    "tcp_min_send_congestion_window": 0,
    "tcp_mean_smooth_rtt": 0,
    "tcp_max_smooth_rtt": 0,
    "tcp_mean_min_rtt": 0,
    "tcp_max_min_rtt": 0,
    "tcp_mean_mss": 0,
    "tcp_min_mss": 0,
    "tcp_total_retransmissions": 0,
    "tcp_lost_packets": 0,
    "tcp_unrecovered_to": 0,
}


@dataclass(frozen=True, slots=True)
class CalicoOptions:
    aggregation_allowed: int = 2
    """``flowLogsFileAggregationKindForAllowed``: 0, 1 or 2."""
    aggregation_denied: int = 1
    """``flowLogsFileAggregationKindForDenied``: 0, 1, 2 or 3 (3 also drops the port)."""
    flush_seconds: int = FLUSH_SECONDS
    include_labels: bool = True
    """``flowLogsFileIncludeLabels`` (off: ``source_labels``/``dest_labels`` are null)."""
    include_policies: bool = True
    include_service: bool = True
    report_both_ends_of_denied: bool = False
    """Also log ``allow`` at the end whose policy let a denied connection through."""


def network_name(ip: str) -> str:
    """``pvt`` for RFC 1918 IPv4, ``pub`` for everything else (all IPv6 included)."""
    address = ipaddress.ip_address(ip)
    if address.version == 4 and any(address in network for network in _PRIVATE):
        return "pvt"
    return "pub"


@dataclass(frozen=True, slots=True)
class _End:
    """One end of a record before aggregation decides what to show of it."""

    type: str
    namespace: str
    name: str
    aggregated_name: str
    ip: str
    pod: Pod | None


@dataclass(slots=True)
class _Aggregate:
    start: int
    flows: int = 0
    source_pods: dict[int, Pod] = field(default_factory=dict)
    dest_pods: dict[int, Pod] = field(default_factory=dict)
    domains: list[str] = field(default_factory=list)


class CalicoWriter:
    """Turns :class:`ConnectionEvent` values into ``flows.log`` lines, deterministically."""

    def __init__(self, cluster: Cluster, options: CalicoOptions | None = None) -> None:
        self.cluster = cluster
        self.options = options or CalicoOptions()
        self._pending: dict[tuple[Any, ...], _Aggregate] = {}
        self._interval_start = -1

    # --- what each end looks like ------------------------------------------------------------

    def _end(self, peer: Peer) -> _End:
        pod = peer.pod
        if pod is not None:
            return _End("wep", pod.namespace, pod.name, generate_name(pod), pod.ip, pod)
        if peer.kind in (EndpointKind.HOST, EndpointKind.REMOTE_NODE) and peer.node is not None:
            return _End("hep", "-", peer.node.name, peer.node.name, peer.ip, None)
        return _End("net", "-", "-", network_name(peer.ip), peer.ip, None)

    def _reports(self, event: ConnectionEvent) -> list[tuple[str, str]]:
        """(reporter, action) pairs: who logs this connection, with what verdict."""
        client_pod = event.client.pod is not None
        server_pod = event.server.pod is not None
        if event.verdict is not Verdict.DROPPED:
            return [(r, "allow") for r, on in (("src", client_pod), ("dst", server_pod)) if on]
        at_server = event.dropped_at is Direction.INGRESS and server_pod
        reports = [("dst", "deny")] if at_server else [("src", "deny")]
        if self.options.report_both_ends_of_denied:
            other, present = ("src", client_pod) if at_server else ("dst", server_pod)
            if present:
                reports.append((other, "allow"))
        return reports

    # --- aggregation -------------------------------------------------------------------------

    def _key(
        self, event: ConnectionEvent, reporter: str, action: str, source: _End, dest: _End
    ) -> tuple[Any, ...]:
        level = self.options.aggregation_allowed if action == "allow" else (
            self.options.aggregation_denied
        )  # fmt: skip
        port: int | None = event.port if event.protocol.has_ports else None
        if level >= 3:
            port = None
        key: tuple[Any, ...] = (
            reporter, action, PROTOCOL_NAMES[event.protocol.value], port, event.service,
            source.type, source.namespace, source.aggregated_name,
            dest.type, dest.namespace, dest.aggregated_name,
        )  # fmt: skip
        if level <= 1:
            key += (source.name, source.ip, dest.name, dest.ip)
        if level == 0 and event.protocol.has_ports:
            key += (event.client_port,)
        return key

    def add(self, event: ConnectionEvent) -> list[dict[str, Any]]:
        """Take one event in; returns the records of intervals that ended before it."""
        second = event.time_ns // 1_000_000_000
        flush = self.options.flush_seconds
        start = second - second % flush
        out = self.flush() if start != self._interval_start and self._pending else []
        self._interval_start = start
        source, dest = self._end(event.client), self._end(event.server)
        for reporter, action in self._reports(event):
            key = self._key(event, reporter, action, source, dest)
            aggregate = self._pending.get(key)
            if aggregate is None:
                aggregate = _Aggregate(start)
                self._pending[key] = aggregate
            aggregate.flows += 1
            if source.pod is not None:
                aggregate.source_pods[id(source.pod)] = source.pod
            if dest.pod is not None:
                aggregate.dest_pods[id(dest.pod)] = dest.pod
            for name in event.server.dns_names:
                if name not in aggregate.domains and len(aggregate.domains) < DOMAINS_LIMIT:
                    aggregate.domains.append(name)
        return out

    def flush(self) -> list[dict[str, Any]]:
        """The records of every pending aggregate, in a fixed order."""
        pending, self._pending = self._pending, {}
        ordered = sorted(pending.items(), key=lambda item: _sort_key(item[0]))
        return [self._record(key, aggregate) for key, aggregate in ordered]

    # --- records -----------------------------------------------------------------------------

    def _labels(self, pods: Iterable[Pod]) -> dict[str, list[str]] | None:
        if not self.options.include_labels:
            return None
        shared = calico_labels(pods)
        return None if shared is None else {"labels": shared}

    def _policies(self, action: str, namespace: str) -> dict[str, list[str]] | None:
        if not self.options.include_policies:
            return None
        if action == "allow":
            entry = f"0|__PROFILE__|__PROFILE__.kns.{namespace}|allow|0"
        else:
            entry = f"0|default|{namespace}/default.default-deny|deny|-1"
        return {"all_policies": [entry]}

    def _record(self, key: tuple[Any, ...], aggregate: _Aggregate) -> dict[str, Any]:
        reporter, action, proto, port, service = key[:5]
        source_type, source_namespace, source_aggregated = key[5:8]
        dest_type, dest_namespace, dest_aggregated = key[8:11]
        detailed = len(key) > 11
        source_name, source_ip, dest_name, dest_ip = key[11:15] if detailed else ("-",) * 4
        client_port = key[15] if len(key) > 15 else None
        flows = aggregate.flows
        policy_namespace = dest_namespace if reporter == "dst" else source_namespace
        record: dict[str, Any] = {
            "start_time": aggregate.start,
            "end_time": aggregate.start + self.options.flush_seconds,
            "source_ip": source_ip if detailed else None,
            "source_name": source_name if source_type == "wep" else "-",
            "source_name_aggr": source_aggregated,
            "source_namespace": source_namespace,
            "nat_outgoing_ports": None,
            "source_port": client_port,
            "source_type": source_type,
            "source_labels": self._labels(aggregate.source_pods.values()),
            "dest_ip": dest_ip if detailed else None,
            "dest_name": dest_name if dest_type == "wep" else "-",
            "dest_name_aggr": dest_aggregated,
            "dest_namespace": dest_namespace,
            "dest_port": port,
            "dest_type": dest_type,
            "dest_labels": self._labels(aggregate.dest_pods.values()),
            **self._service(service, port),
            "dest_domains": aggregate.domains or None,
            "proto": proto,
            "action": action,
            "reporter": reporter,
            "policies": self._policies(action, policy_namespace),
            "bytes_in": 420 * flows,
            "bytes_out": 1380 * flows,
            "num_flows": flows,
            "num_flows_started": flows,
            "num_flows_completed": flows,
            "packets_in": 6 * flows,
            "packets_out": 5 * flows,
        }
        record.update(_TAIL)
        return record

    def _service(self, service: str, port: int | None) -> dict[str, Any]:
        if not (self.options.include_service and service):
            return {
                "dest_service_namespace": "-",
                "dest_service_name": "-",
                "dest_service_port": "-",
                "dest_service_port_num": None,
            }
        namespace, name = service.split("/")
        return {
            "dest_service_namespace": namespace,
            "dest_service_name": name,
            "dest_service_port": "-",
            "dest_service_port_num": port,
        }

    def write(
        self,
        events: Iterable[ConnectionEvent],
        stream: ByteSink,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Write every event's records as JSON lines; returns the number of lines."""
        dumps = orjson.dumps
        newline = orjson.OPT_APPEND_NEWLINE
        written = 0
        buffer: list[bytes] = []
        for event in events:
            for record in self.add(event):
                buffer.append(dumps(record, option=newline))
            if len(buffer) >= 4096:
                written += len(buffer)
                stream.write(b"".join(buffer))
                buffer.clear()
                if progress is not None:
                    progress(written)
        buffer.extend(dumps(record, option=newline) for record in self.flush())
        written += len(buffer)
        stream.write(b"".join(buffer))
        return written


def _sort_key(key: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple("" if part is None else str(part) for part in key)


def write_calico(
    result: SimulationResult,
    path: str,
    *,
    window: str | None = None,
    gzip: bool = False,
    options: CalicoOptions | None = None,
    progress: Callable[[int], None] | None = None,
    dns_path: str | None = None,
) -> int:
    """Write the events of ``window`` (default: both) as ``flows.log`` lines to ``path``
    (gzip-compressed, with a fixed header, when ``gzip``) and, given ``dns_path``, their DNS
    lookups as ``dns.log`` lines there (:mod:`learner.simulate.calico_dns_writer`), as a node
    with DNS logs enabled writes both. Returns the ``flows.log`` line count."""
    writer = CalicoWriter(result.cluster, options)
    with ExitStack() as files:
        events: Iterable[ConnectionEvent] = result.events(window)
        if dns_path is not None:
            dns_sink = _open_sink(files, dns_path, gzip)
            chosen = options or CalicoOptions()
            dns = CalicoDnsWriter(chosen.flush_seconds, include_labels=chosen.include_labels)
            events = dns.tee(events, dns_sink)
        return writer.write(events, _open_sink(files, path, gzip), progress)


def _open_sink(files: ExitStack, path: str, gzip: bool) -> ByteSink:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    raw = files.enter_context(open(path, "wb"))  # noqa: SIM115 - closed by the stack
    if not gzip:
        return raw
    return files.enter_context(gzip_module.GzipFile(fileobj=raw, mode="wb", filename="", mtime=0))
