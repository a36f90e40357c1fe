"""Prometheus metrics and health endpoints for ``learn``, on one small HTTP server.

``/metrics`` (Prometheus text format), ``/healthz`` (the process is making progress) and
``/readyz`` (connected to the flow source). Values are read from the live objects when scraped,
so the per-flow path does no metric bookkeeping at all.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from learner.model.errors import UsageError

__all__ = ["LearnerMetrics", "MetricsServer", "parse_listen_address", "registry_for"]

log = logging.getLogger(__name__)
PREFIX = "netpol_learner"


@dataclass(frozen=True, slots=True)
class LearnerMetrics:
    """What ``learn`` reports, as of one scrape. Counters count this process's work."""

    flows_received: int = 0
    flows_processed: int = 0
    flows_skipped: Mapping[str, int] = field(default_factory=dict)
    lost_events: int = 0
    malformed_records: int = 0
    duplicate_flows: int = 0
    reconnects: int = 0
    edges: int = 0
    workloads: Mapping[str, int] = field(default_factory=dict)
    """Workloads per learning status, as of the last regeneration."""
    policies: int = 0
    unsaved_edges: int = 0
    connected: bool = False
    last_regeneration: float = 0.0
    regeneration_seconds: float = 0.0
    last_save: float = 0.0
    git_publications: Mapping[str, int] = field(default_factory=dict)
    """Publication attempts to git by result (pushed, unchanged, waiting, failed)."""
    last_git_push: float = 0.0


class _LiveCollector:
    def __init__(self, read: Callable[[], LearnerMetrics]) -> None:
        self._read = read

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        m = self._read()

        def counter(name: str, help_text: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(f"{PREFIX}_{name}", help_text, value=value)

        def gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"{PREFIX}_{name}", help_text, value=value)

        yield counter("flows_received", "Flows received from the source.", m.flows_received)
        yield counter("flows_processed", "Flows that became evidence for rules.", m.flows_processed)
        skipped = CounterMetricFamily(
            f"{PREFIX}_flows_skipped", "Flows set aside, by reason.", labels=["reason"]
        )
        for reason, count in sorted(m.flows_skipped.items()):
            skipped.add_metric([reason], count)
        yield skipped
        yield counter("lost_events", "Events the CNI reported lost before us.", m.lost_events)
        yield counter("malformed_records", "Records that could not be read.", m.malformed_records)
        yield counter(
            "duplicate_flows", "Replayed flows dropped after a resume.", m.duplicate_flows
        )
        yield counter("reconnects", "Reconnections to the flow source.", m.reconnects)
        yield gauge("edges", "Distinct edges learned.", m.edges)
        workloads = GaugeMetricFamily(
            f"{PREFIX}_workloads", "Workloads per learning status.", labels=["status"]
        )
        for status, count in sorted(m.workloads.items()):
            workloads.add_metric([status], count)
        yield workloads
        yield gauge("policies", "Policies in the last proposal.", m.policies)
        yield gauge("unsaved_edges", "Edges changed since the last save.", m.unsaved_edges)
        yield gauge("source_connected", "1 when streaming from the source.", int(m.connected))
        yield gauge(
            "last_regeneration_timestamp_seconds",
            "When the proposal was last written (Unix time).",
            m.last_regeneration,
        )
        yield gauge(
            "regeneration_duration_seconds",
            "How long the last regeneration took.",
            m.regeneration_seconds,
        )
        yield gauge(
            "last_save_timestamp_seconds", "When the state was last saved (Unix time).", m.last_save
        )
        publications = CounterMetricFamily(
            f"{PREFIX}_git_publications",
            "Attempts to publish the proposal to git, by result.",
            labels=["result"],
        )
        for result, count in sorted(m.git_publications.items()):
            publications.add_metric([result], count)
        yield publications
        yield gauge(
            "last_git_push_timestamp_seconds",
            "When the proposal was last pushed to git (Unix time).",
            m.last_git_push,
        )


def registry_for(read: Callable[[], LearnerMetrics]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_LiveCollector(read))
    return registry


def parse_listen_address(text: str) -> tuple[str, int]:
    """``:9090`` → (``""``, 9090); ``127.0.0.1:9090``; ``[::1]:9090``."""
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or int(port) > 65535:
        raise UsageError(f"--metrics-addr: {text!r} is not [HOST]:PORT (e.g. :9090)")
    return host.strip("[]"), int(port)


class MetricsServer:
    """Serves /metrics, /healthz and /readyz from a daemon thread."""

    def __init__(
        self,
        address: str,
        registry: CollectorRegistry,
        *,
        healthy: Callable[[], bool],
        ready: Callable[[], bool],
    ) -> None:
        host, port = parse_listen_address(address)
        routes: dict[str, Callable[[], tuple[int, str, bytes]]] = {
            "/metrics": lambda: (200, CONTENT_TYPE_LATEST, generate_latest(registry)),
            "/healthz": lambda: _probe(healthy()),
            "/readyz": lambda: _probe(ready()),
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                route = routes.get(self.path.split("?", 1)[0])
                status, content_type, body = (
                    route() if route else (404, "text/plain", b"not found\n")
                )
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("metrics: " + format, *args)

        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except OSError as error:
            raise UsageError(f"--metrics-addr {address}: {error.strerror or error}") from error
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _probe(ok: bool) -> tuple[int, str, bytes]:
    return (200, "text/plain", b"ok\n") if ok else (503, "text/plain", b"not ok\n")
