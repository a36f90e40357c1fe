"""Renders simulated connection events as ``hubble observe -o jsonpb`` lines.

Each line is a ``GetFlowsResponse`` — ``{"flow": {...}, "node_name": ..., "time": ...}`` — with
Go ``protojson`` field names and key order (declaration order of ``flow.proto``), enums as
names, 64-bit integers as strings and zero values left out, shaped after the Cilium 1.19
exporter samples in ``shared/samples/hubble/``. One connection becomes:

* pod to pod: the request leaving the client (EGRESS, ``TO_STACK``, or ``TO_PROXY`` when L7 is
  visible) on the client's node and arriving at the server (INGRESS, ``TO_ENDPOINT``) on the
  server's node, then the reply packets at both (``is_reply: true``, source and destination
  swapped, direction unchanged);
* pod to outside or API server: the EGRESS request and its reply on the client's node;
* node (kubelet probe) or internet to pod: the INGRESS request and its reply on the server's node;
* L7: a ``Type: L7`` REQUEST and RESPONSE record (DNS with ``query``/``ips``, HTTP with
  method and URL) on the client's node;
* denied: one ``DROPPED`` record (``POLICY_DENIED``) where the policy dropped it.

Cilium only puts identity-relevant labels on endpoints (formats.md §1.7): pod-template-hash,
controller-revision-hash, job-name and the like are left out unless
:attr:`HubbleOptions.include_volatile_labels` asks for them, as a cluster with a custom label
filter would.
"""

from __future__ import annotations

import random
import time
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from learner.model.flow import Direction, EndpointKind, Protocol, Verdict
from learner.simulate.cluster import Cluster, Node, Pod, WorkloadKind
from learner.simulate.connection_events import ConnectionEvent, Peer
from learner.simulate.naming import random_uuid
from learner.simulate.traffic_generator import L7, LOOKUP_PROBABILITY, ConnectionSpec

CILIUM_VERSION = "1.19.1+gd0d0c879"
POLICY_DENIED_CODE = 133
# Constant parts are serialised once: orjson copies a Fragment's bytes as they are.
EMITTER = orjson.Fragment(orjson.dumps({"name": "Hubble", "version": CILIUM_VERSION}))
HOST_ENDPOINT = orjson.Fragment(b'{"identity":1,"labels":["reserved:host"]}')
REMOTE_NODE_ENDPOINT = orjson.Fragment(b'{"identity":6,"labels":["reserved:remote-node"]}')
WORLD_ENDPOINT = orjson.Fragment(b'{"identity":2,"labels":["reserved:world"]}')
APISERVER_ENDPOINT = orjson.Fragment(
    b'{"identity":16777217,"labels":["reserved:kube-apiserver","reserved:world"]}'
)
SYN = {"SYN": True}
SYN_ACK = {"SYN": True, "ACK": True}
EVENT_TO_ENDPOINT = {"type": 4}
EVENT_TO_PROXY = {"type": 4, "sub_type": 1}
EVENT_TO_STACK = {"type": 4, "sub_type": 3}
EVENT_L7 = {"type": 129}
EVENT_POLICY_DROP = {"type": 1, "sub_type": POLICY_DENIED_CODE}

_CILIUM_DROPPED_KEYS = frozenset(
    {
        "pod-template-hash",
        "pod-template-generation",
        "controller-revision-hash",
        "controller-uid",
        "job-name",
        "etcd_node",
    }
)


def cilium_keeps_label(key: str) -> bool:
    """Cilium's default identity label filter (``pkg/labelsfilter``), as far as pods need it."""
    if key in _CILIUM_DROPPED_KEYS:
        return False
    if key.startswith("app.kubernetes.io"):
        return True
    return not (
        key.startswith(("io.kubernetes", "annotation."))
        or "kubernetes.io" in key
        or "k8s.io" in key
    )


@dataclass(frozen=True, slots=True)
class HubbleOptions:
    include_volatile_labels: bool = False
    """Keep pod-template-hash, controller-revision-hash, job-name ... on endpoints."""
    node_names_with_cluster: bool = False
    """Write ``node_name`` as ``<cluster>/<node>``, as agents with a cluster name do."""


def lines_per_event(event: ConnectionEvent) -> int:
    """How many records :class:`HubbleWriter` writes for ``event``."""
    if event.verdict is Verdict.DROPPED:
        return 1
    both = event.client.pod is not None and event.server.pod is not None
    l7 = 2 if event.http is not None or event.dns is not None else 0
    if event.dns is not None and both:
        return 5
    return (4 if both else 2) + l7


def lines_per_connection(spec: ConnectionSpec) -> float:
    """About how many records one event of ``spec`` becomes (lookups before outside names
    included): what ``simulate(lines=...)`` calibrates with."""
    if spec.denied:
        return 1.0
    # Workload ids are "namespace/name"; entities and externals have no slash.
    client_pod = "/" in spec.client
    server_pod = "/" in spec.server
    l7 = 2 if spec.l7 is not L7.NONE else 0
    if client_pod and server_pod:
        return 5.0 if spec.l7 is L7.DNS else 4.0 + l7
    lookup = LOOKUP_PROBABILITY * 5 if client_pod and spec.server.startswith("external:") else 0
    return 2.0 + l7 + lookup


class _Timestamps:
    """RFC 3339 with nanoseconds, formatting each second once (events come in time order)."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, time_ns: int) -> str:
        second, nanos = divmod(time_ns, 1_000_000_000)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{nanos:09d}Z"


class ByteSink(typing.Protocol):
    def write(self, data: bytes, /) -> int: ...


class HubbleWriter:
    """Turns :class:`ConnectionEvent` values into Hubble records, deterministically."""

    def __init__(
        self, cluster: Cluster, options: HubbleOptions | None = None, seed: int | str = 1
    ) -> None:
        self.cluster = cluster
        self.options = options or HubbleOptions()
        self._rng = random.Random(f"{seed}|hubble")
        self._timestamp = _Timestamps()
        self._namespace_labels = {
            ns.name: [f"k8s:io.cilium.k8s.namespace.labels.{k}={v}" for k, v in ns.labels]
            for ns in cluster.namespaces
        }
        self._label_lists = {id(pod): self._labels(pod) for pod in cluster.pods}
        self._identities = self._allocate_identities()
        self._endpoints: dict[tuple[int, bool], orjson.Fragment] = {}
        self._interfaces = {
            id(pod): {
                "index": 10 + pod.endpoint_id % 200,
                "name": f"lxc{pod.endpoint_id:04x}{pod.ip.replace('.', '')[-8:]}",
            }
            for pod in cluster.pods
        }

    # --- endpoints -------------------------------------------------------------------------

    def _labels(self, pod: Pod) -> list[str]:
        keep_all = self.options.include_volatile_labels
        labels = [f"k8s:{k}={v}" for k, v in pod.labels if keep_all or cilium_keeps_label(k)]
        labels += self._namespace_labels[pod.namespace]
        labels += [
            f"k8s:io.cilium.k8s.policy.cluster={self.cluster.name}",
            f"k8s:io.cilium.k8s.policy.serviceaccount={pod.workload.service_account}",
            f"k8s:io.kubernetes.pod.namespace={pod.namespace}",
        ]
        return sorted(labels)

    def _allocate_identities(self) -> dict[tuple[str, ...], int]:
        """Cilium gives every distinct label set one cluster-wide numeric identity."""
        label_sets = sorted({tuple(labels) for labels in self._label_lists.values()})
        numbers = sorted(self._rng.sample(range(256, 65535), len(label_sets)))
        return dict(zip(label_sets, numbers, strict=True))

    def _pod_endpoint(self, pod: Pod, local: bool) -> orjson.Fragment:
        """The pod as an endpoint; ``ID`` only on the pod's own node, as Cilium reports it."""
        key = (id(pod), local)
        found = self._endpoints.get(key)
        if found is None:
            labels = self._label_lists[id(pod)]
            endpoint: dict[str, Any] = {}
            if local:
                endpoint["ID"] = pod.endpoint_id
            endpoint["identity"] = self._identities[tuple(labels)]
            endpoint["cluster_name"] = self.cluster.name
            endpoint["namespace"] = pod.namespace
            endpoint["labels"] = labels
            endpoint["pod_name"] = pod.name
            if pod.workload.kind is not WorkloadKind.POD:
                owner = {"name": pod.workload.name, "kind": pod.workload.kind.value}
                endpoint["workloads"] = [owner]
            found = orjson.Fragment(orjson.dumps(endpoint))
            self._endpoints[key] = found
        return found

    def _endpoint(self, peer: Peer, node: Node) -> orjson.Fragment:
        if peer.pod is not None:
            return self._pod_endpoint(peer.pod, peer.pod.node is node)
        if peer.kind is EndpointKind.HOST:
            return HOST_ENDPOINT
        if peer.kind is EndpointKind.REMOTE_NODE:
            return REMOTE_NODE_ENDPOINT
        if peer.kind is EndpointKind.KUBE_APISERVER:
            return APISERVER_ENDPOINT
        return WORLD_ENDPOINT

    def _node_name(self, node: Node) -> str:
        if self.options.node_names_with_cluster:
            return f"{self.cluster.name}/{node.name}"
        return node.name

    # --- records ---------------------------------------------------------------------------

    def records(self, event: ConnectionEvent) -> list[dict[str, Any]]:
        """The records for one event, in time order."""
        client_node = event.client.observed_on
        server_node = event.server.observed_on
        if event.verdict is Verdict.DROPPED:
            at_server = event.dropped_at is Direction.INGRESS and server_node is not None
            node = server_node if at_server else client_node
            assert node is not None, "a dropped event needs an observing node"
            direction = Direction.INGRESS if at_server else Direction.EGRESS
            return [self._drop(event, node, direction)]
        # Records are spaced as packets would be: the SYN reaches the server's node ~120 µs
        # after leaving the client; replies follow the server's latency.
        t = event.time_ns
        out: list[dict[str, Any]] = []
        l7_visible = event.http is not None or event.dns is not None
        reply_at = t + (event.http.latency_ns if event.http else 400_000)
        if client_node is not None:
            point = "TO_PROXY" if l7_visible else "TO_STACK"
            out.append(self._trace(event, client_node, t, False, Direction.EGRESS, point))
            if l7_visible:
                out.append(self._l7(event, client_node, t + 40_000, reply=False))
        if server_node is not None:
            out.append(
                self._trace(
                    event, server_node, t + 120_000, False, Direction.INGRESS, "TO_ENDPOINT"
                )
            )
            # A DNS answer through the proxy is recorded as the L7 RESPONSE on the client side.
            if event.dns is None or client_node is None:
                out.append(
                    self._trace(event, server_node, reply_at, True, Direction.INGRESS, "TO_STACK")
                )
        if client_node is not None:
            if l7_visible:
                out.append(self._l7(event, client_node, reply_at + 60_000, reply=True))
            out.append(
                self._trace(
                    event, client_node, reply_at + 90_000, True, Direction.EGRESS, "TO_ENDPOINT"
                )
            )
        return out

    def _base(
        self, event: ConnectionEvent, time_ns: int, reply: bool, verdict: str
    ) -> tuple[dict[str, Any], str]:
        timestamp = self._timestamp(time_ns)
        src, dst = (event.server, event.client) if reply else (event.client, event.server)
        flow: dict[str, Any] = {
            "time": timestamp,
            "uuid": random_uuid(self._rng),
            "emitter": EMITTER,
            "verdict": verdict,
        }
        if verdict == "DROPPED":
            flow["drop_reason"] = POLICY_DENIED_CODE
        flow["IP"] = {"source": src.ip, "destination": dst.ip, "ipVersion": "IPv4"}
        return flow, timestamp

    def _l4(self, event: ConnectionEvent, reply: bool, flags: bool = True) -> dict[str, Any]:
        ports: dict[str, Any]
        if reply:
            ports = {"source_port": event.port, "destination_port": event.client_port}
        else:
            ports = {"source_port": event.client_port, "destination_port": event.port}
        if event.protocol is Protocol.TCP and flags:
            ports["flags"] = SYN_ACK if reply else SYN
        return {event.protocol.value: ports}

    def _endpoints_and_names(
        self, flow: dict[str, Any], event: ConnectionEvent, node: Node, reply: bool, l7: bool
    ) -> None:
        src, dst = (event.server, event.client) if reply else (event.client, event.server)
        flow["source"] = self._endpoint(src, node)
        flow["destination"] = self._endpoint(dst, node)
        flow["Type"] = "L7" if l7 else "L3_L4"
        flow["node_name"] = self._node_name(node)
        if src.dns_names:
            flow["source_names"] = list(src.dns_names)
        if dst.dns_names:
            flow["destination_names"] = list(dst.dns_names)

    def _services(self, flow: dict[str, Any], event: ConnectionEvent, reply: bool) -> None:
        if event.service:
            namespace, name = event.service.split("/")
            key = "source_service" if reply else "destination_service"
            flow[key] = {"name": name, "namespace": namespace}

    def _trace(
        self,
        event: ConnectionEvent,
        node: Node,
        time_ns: int,
        reply: bool,
        direction: Direction,
        point: str,
    ) -> dict[str, Any]:
        flow, timestamp = self._base(event, time_ns, reply, "FORWARDED")
        flow["l4"] = self._l4(event, reply)
        self._endpoints_and_names(flow, event, node, reply, l7=False)
        if reply:
            flow["reply"] = True
        flow["event_type"] = (
            EVENT_TO_ENDPOINT if point == "TO_ENDPOINT"
            else EVENT_TO_PROXY if point == "TO_PROXY"
            else EVENT_TO_STACK
        )  # fmt: skip
        self._services(flow, event, reply)
        flow["traffic_direction"] = direction.value
        flow["trace_observation_point"] = point
        flow["trace_reason"] = "REPLY" if reply else "NEW"
        flow["is_reply"] = reply
        if point == "TO_ENDPOINT":
            local = (event.client if reply else event.server).pod
            if local is not None:
                flow["interface"] = self._interfaces[id(local)]
        flow["Summary"] = self._summary(event, reply)
        return {"flow": flow, "node_name": flow["node_name"], "time": timestamp}

    @staticmethod
    def _summary(event: ConnectionEvent, reply: bool) -> str:
        if event.protocol is Protocol.TCP:
            return "TCP Flags: ACK, SYN" if reply else "TCP Flags: SYN"
        return event.protocol.value

    def _l7(self, event: ConnectionEvent, node: Node, time_ns: int, reply: bool) -> dict[str, Any]:
        flow, timestamp = self._base(event, time_ns, reply, "FORWARDED")
        flow["l4"] = self._l4(event, reply, flags=False)
        self._endpoints_and_names(flow, event, node, reply, l7=True)
        record, summary = self._l7_record(event, reply)
        flow["l7"] = record
        if reply:
            flow["reply"] = True
        flow["event_type"] = EVENT_L7
        self._services(flow, event, reply)
        flow["traffic_direction"] = "EGRESS"
        flow["is_reply"] = reply
        flow["Summary"] = summary
        return {"flow": flow, "node_name": flow["node_name"], "time": timestamp}

    def _l7_record(self, event: ConnectionEvent, reply: bool) -> tuple[dict[str, Any], str]:
        if event.dns is not None:
            dns = event.dns
            query = dns.query + "."
            if not reply:
                request = {"query": query, "observation_source": "proxy", "qtypes": ["A"]}
                return {"type": "REQUEST", "dns": request}, f"DNS Query {query} A"
            answer: dict[str, Any] = {"query": query}
            if dns.answers:
                answer["ips"] = list(dns.answers)
            ttl = dns.ttl if dns.rcode == 0 else 4294967295
            answer["ttl"] = ttl
            answer["observation_source"] = "proxy"
            if dns.rcode:
                answer["rcode"] = dns.rcode
            answer["qtypes"] = ["A"]
            if dns.answers:
                answer["rrtypes"] = ["A"]
                shown = ",".join(dns.answers)
                summary = f'DNS Answer "{shown}" TTL: {ttl} (Proxy {query} A)'
            else:
                summary = f"DNS Answer RCode: Non-Existent Domain TTL: {ttl} (Proxy {query} A)"
            return {"type": "RESPONSE", "dns": answer}, summary
        assert event.http is not None
        http = event.http
        url = f"http://{http.host}{http.path}"
        headers: list[dict[str, str]] = [
            {"key": "User-Agent", "value": "Go-http-client/1.1"},
            {"key": "X-Request-Id", "value": random_uuid(self._rng)},
        ]
        if not reply:
            http_request: dict[str, Any] = {
                "method": http.method,
                "url": url,
                "protocol": "HTTP/1.1",
                "headers": headers,
            }
            return {"type": "REQUEST", "http": http_request}, f"HTTP/1.1 {http.method} {url}"
        response = {
            "code": http.status,
            "method": http.method,
            "url": url,
            "protocol": "HTTP/1.1",
            "headers": headers,
        }
        millis = http.latency_ns // 1_000_000
        summary = f"HTTP/1.1 {http.status} {millis}ms ({http.method} {url})"
        record = {"type": "RESPONSE", "latency_ns": str(http.latency_ns), "http": response}
        return record, summary

    def _drop(self, event: ConnectionEvent, node: Node, direction: Direction) -> dict[str, Any]:
        flow, timestamp = self._base(event, event.time_ns, False, "DROPPED")
        flow["l4"] = self._l4(event, reply=False)
        self._endpoints_and_names(flow, event, node, reply=False, l7=False)
        flow["event_type"] = EVENT_POLICY_DROP
        self._services(flow, event, reply=False)
        flow["traffic_direction"] = direction.value
        flow["drop_reason_desc"] = event.drop_reason or "POLICY_DENIED"
        flow["Summary"] = self._summary(event, reply=False)
        return {"flow": flow, "node_name": flow["node_name"], "time": timestamp}

    # --- output ----------------------------------------------------------------------------

    def write(
        self,
        events: Iterable[ConnectionEvent],
        stream: ByteSink,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Write every event's records as JSON lines; returns the number of lines.

        ``progress`` is called with the running line count every few thousand lines."""
        dumps = orjson.dumps
        newline = orjson.OPT_APPEND_NEWLINE
        written = 0
        buffer: list[bytes] = []
        for event in events:
            for record in self.records(event):
                buffer.append(dumps(record, option=newline))
            if len(buffer) >= 4096:
                written += len(buffer)
                stream.write(b"".join(buffer))
                buffer.clear()
                if progress is not None:
                    progress(written)
        written += len(buffer)
        stream.write(b"".join(buffer))
        return written
