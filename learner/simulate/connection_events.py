"""The CNI-neutral event model: one :class:`ConnectionEvent` per simulated connection attempt.

This is the contract between the traffic model and the writers. A writer turns each event into
whatever records its CNI would log for that connection:

* the Hubble writer (:mod:`learner.simulate.hubble_writer`) emits the request seen at the
  client's node (EGRESS) and at the server's node (INGRESS), the reply packets (``is_reply``),
  L7 DNS/HTTP records when :attr:`ConnectionEvent.dns`/:attr:`~ConnectionEvent.http` are set,
  and one drop record for a denied event;
* the Calico flow-log writer (:mod:`learner.simulate.calico_writer`) aggregates events per
  flush interval into ``flows.log`` lines reported by ``src``/``dst``,
  using :attr:`Peer.pod` (namespace, labels, workload, IP) and :attr:`Peer.dns_names`
  (``dest_domains``), ``action`` from :attr:`ConnectionEvent.verdict`, and the Calico DNS log
  writer (:mod:`learner.simulate.calico_dns_writer`) logs :attr:`ConnectionEvent.dns` as
  ``dns.log`` lines.

Events never describe replies or observation points themselves: those are how a CNI reports a
connection, not facts about it.
"""

from __future__ import annotations

from dataclasses import dataclass

from learner.model.flow import Direction, EndpointKind, Protocol, Verdict
from learner.simulate.cluster import Node, Pod


@dataclass(frozen=True, slots=True, eq=False)
class Peer:
    """One end of a connection: a pod, the node, the API server or an outside address."""

    kind: EndpointKind
    """``POD``, ``HOST``, ``REMOTE_NODE``, ``KUBE_APISERVER`` or ``WORLD``."""
    ip: str
    pod: Pod | None = None
    node: Node | None = None
    """For ``HOST`` and ``REMOTE_NODE``: the node itself."""
    dns_names: tuple[str, ...] = ()
    """For ``WORLD``: the names the address was looked up by (what an FQDN cache knows)."""

    @property
    def observed_on(self) -> Node | None:
        """The node whose CNI agent records this end of the connection: a pod's node.

        The node itself (kubelet probes), the API server and outside addresses are seen only
        from the pod at the other end.
        """
        return self.pod.node if self.pod is not None else None


@dataclass(frozen=True, slots=True)
class DnsExchange:
    """A DNS lookup carried by the connection (client to resolver, port 53)."""

    query: str
    """The name asked for, without the trailing dot."""
    answers: tuple[str, ...] = ()
    rcode: int = 0
    """0 NOERROR, 3 NXDOMAIN."""
    ttl: int = 30


@dataclass(frozen=True, slots=True)
class HttpExchange:
    """One HTTP request and its response, carried by the connection."""

    method: str
    path: str
    host: str
    """The authority the client used (``api.shop.svc.cluster.local:8080``)."""
    status: int = 200
    latency_ns: int = 0


@dataclass(frozen=True, slots=True, eq=False)
class ConnectionEvent:
    """One connection attempt from ``client`` to ``server``."""

    time_ns: int
    """When the first packet left the client (nanoseconds since the Unix epoch, UTC)."""
    client: Peer
    server: Peer
    protocol: Protocol
    port: int
    """The server's port."""
    client_port: int
    verdict: Verdict
    """``FORWARDED``, or ``DROPPED`` for a connection a policy denied."""
    connection: str
    """Key of the :class:`~learner.simulate.traffic_generator.ConnectionSpec` that produced the event."""
    drop_reason: str = ""
    """``POLICY_DENIED`` for a dropped event."""
    dropped_at: Direction = Direction.INGRESS
    """Which end's policy dropped it: ``EGRESS`` at the client, ``INGRESS`` at the server."""
    service: str = ""
    """``namespace/name`` of the ClusterIP Service the client addressed, if any."""
    dns: DnsExchange | None = None
    http: HttpExchange | None = None
