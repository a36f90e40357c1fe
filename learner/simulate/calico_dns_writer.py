"""Renders simulated DNS lookups as Calico Enterprise/Cloud ``dns.log`` lines.

Felix logs the DNS responses its workloads receive from trusted DNS servers (kube-dns by
default), aggregated per ``dnsLogsFlushInterval`` (5 minutes) into one JSON object per client,
question, response code and answer, with the field set and order of Calico's DNS log type
(docs/calico.md). This writer logs the lookups the Hubble writer shows as L7 DNS responses: an
allowed event carrying :attr:`~learner.simulate.connection_events.ConnectionEvent.dns` from a
pod.

Only ``dnsLogsFileAggregationKind: 1``, the default, is modelled: clients are aggregated by
name prefix (``client_name`` is ``-``, ``client_ip`` null, ``client_name_aggr`` the
GenerateName plus ``*``) with the labels all of them share; the servers that answered are
listed each with its name and address. Answers are one A (and, for IPv6 answers, one AAAA)
rrset of the queried name: the simulated names have no CNAMEs.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from learner.model.flow import Verdict
from learner.simulate.calico_names import calico_labels, generate_name
from learner.simulate.cluster import Pod
from learner.simulate.connection_events import ConnectionEvent
from learner.simulate.hubble_writer import ByteSink

FLUSH_SECONDS = 300
"""``dnsLogsFlushInterval``."""
RCODES = {0: "NoError", 1: "FormErr", 2: "ServFail", 3: "NXDomain", 4: "NotImp", 5: "Refused"}
LATENCY_NS = 400_000
"""What the Hubble writer takes a DNS answer to need."""


@dataclass(slots=True)
class _Lookups:
    start: int
    count: int = 0
    clients: dict[int, Pod] = field(default_factory=dict)
    servers: dict[int, Pod] = field(default_factory=dict)


def logged(event: ConnectionEvent) -> bool:
    """Whether Felix logs a DNS response for ``event`` (as Hubble's writer shows one)."""
    return (
        event.dns is not None
        and event.verdict is not Verdict.DROPPED
        and event.client.pod is not None
    )


def _rfc3339(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))


class CalicoDnsWriter:
    """Turns :class:`ConnectionEvent` values into ``dns.log`` lines, deterministically."""

    def __init__(self, flush_seconds: int = FLUSH_SECONDS, *, include_labels: bool = True) -> None:
        self.flush_seconds = flush_seconds
        self.include_labels = include_labels
        """``dnsLogsFileIncludeLabels``."""
        self._pending: dict[tuple[Any, ...], _Lookups] = {}
        self._interval_start = -1

    def add(self, event: ConnectionEvent) -> list[dict[str, Any]]:
        """Take one event in; returns the records of intervals that ended before it."""
        if not logged(event):
            return []
        assert event.dns is not None and event.client.pod is not None
        second = event.time_ns // 1_000_000_000
        flush = self.flush_seconds
        start = second - second % flush
        out = self.flush() if start != self._interval_start and self._pending else []
        self._interval_start = start
        client, dns = event.client.pod, event.dns
        answers = tuple(sorted(dns.answers, key=ipaddress.ip_address))
        key = (client.namespace, generate_name(client), dns.query, dns.rcode, answers)
        lookups = self._pending.get(key)
        if lookups is None:
            lookups = self._pending[key] = _Lookups(start)
        lookups.count += 1
        lookups.clients[id(client)] = client
        if event.server.pod is not None:
            lookups.servers[id(event.server.pod)] = event.server.pod
        return out

    def flush(self) -> list[dict[str, Any]]:
        """The records of every pending aggregate, in a fixed order."""
        pending, self._pending = self._pending, {}
        return [self._record(key, pending[key]) for key in sorted(pending, key=str)]

    def _labels(self, pods: Iterable[Pod]) -> dict[str, str] | None:
        if not self.include_labels:
            return None
        return dict(pair.split("=", 1) for pair in calico_labels(pods) or ())

    def _record(self, key: tuple[Any, ...], lookups: _Lookups) -> dict[str, Any]:
        namespace, aggregated_name, query, rcode, answers = key
        servers = sorted(lookups.servers.values(), key=lambda pod: (pod.namespace, pod.name))
        rrsets = [
            {"name": query, "class": "IN", "type": kind, "rdata": rdata}
            for kind, rdata in (
                ("A", [a for a in answers if ipaddress.ip_address(a).version == 4]),
                ("AAAA", [a for a in answers if ipaddress.ip_address(a).version == 6]),
            )
            if rdata
        ]
        count = lookups.count
        return {
            "start_time": _rfc3339(lookups.start),
            "end_time": _rfc3339(lookups.start + self.flush_seconds),
            "type": "log",
            "count": count,
            "client_name": "-",
            "client_name_aggr": aggregated_name,
            "client_namespace": namespace,
            "client_ip": None,
            "client_labels": self._labels(lookups.clients.values()),
            "servers": [
                {
                    "name": pod.name,
                    "name_aggr": generate_name(pod),
                    "namespace": pod.namespace,
                    "ip": pod.ip,
                    "labels": self._labels((pod,)),
                }
                for pod in servers
            ],
            "qname": query,
            "qclass": "IN",
            "qtype": "A",
            "rcode": RCODES.get(rcode, rcode),
            "rrsets": rrsets or None,
            "latency": {"count": count, "mean": LATENCY_NS, "max": LATENCY_NS},
            "latency_count": count,
            "latency_mean": LATENCY_NS,
            "latency_max": LATENCY_NS,
            "host": "",
        }

    def tee(self, events: Iterable[ConnectionEvent], stream: ByteSink) -> Iterator[ConnectionEvent]:
        """``events`` unchanged, writing their DNS log lines to ``stream`` on the way."""
        dumps = orjson.dumps
        newline = orjson.OPT_APPEND_NEWLINE
        buffer: list[bytes] = []
        for event in events:
            buffer.extend(dumps(record, option=newline) for record in self.add(event))
            if len(buffer) >= 4096:
                stream.write(b"".join(buffer))
                buffer.clear()
            yield event
        buffer.extend(dumps(record, option=newline) for record in self.flush())
        stream.write(b"".join(buffer))
