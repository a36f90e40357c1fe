"""Calico Enterprise/Cloud DNS logs (``dns.log``): what names resolved to, as DNS responses.

Felix writes these beside ``flows.log`` (``/var/log/calico/dnslogs/dns.log``, one JSON object
per line, docs/calico.md). A record of ``type: log`` stands for ``count`` responses, in one flush
interval, from the ``servers`` to one client (or, at ``dnsLogsFileAggregationKind: 1``, the
default, to every pod of one name prefix: ``client_name`` is ``-`` and ``client_ip`` null) for
one question: ``qname``/``qtype`` with ``rcode`` and ``rrsets`` holding the answer, additional and
authority sections as ``{name, class, type, rdata[]}``. ``type: unlogged`` records only count
responses over ``dnsLogsFilePerNodeLimit``.

A record becomes what a Hubble DNS response becomes: a reply flow from the server to the
client (never evidence for a rule) whose ``dns_query`` is the queried name and whose
``dns_answers`` are the A/AAAA addresses reached from it through CNAMEs, i.e. what the client
may connect to for that name. Addresses of other names (glue, authority) are not answers.
Names are compared as DNS carries them: lower case, no trailing dot, ASCII (Felix writes
internationalised names in Unicode; flows.log and Hubble do not).
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Mapping
from typing import Any

from collectors.calico.model import EndpointType, RawEndpoint, build_endpoint, clean
from collectors.calico.records import NotAFlow, RecordError, parse_time
from learner.model.flow import Direction, Endpoint, Flow, Origin, Protocol, Verdict

__all__ = ["DnsLogMapper", "is_dns_log"]

UNLOGGED = "unlogged DNS responses (over dnsLogsFilePerNodeLimit: their answers are unknown)"
_ADDRESS_TYPES = {"A": 4, "AAAA": 6, 1: 4, 28: 6}
_CNAME_TYPES = ("CNAME", 5)
_IN_CLASSES = (None, "", "IN", 1)
_ENDPOINT_CACHE_LIMIT = 10_000


def is_dns_log(record: Mapping[str, Any]) -> bool:
    """Whether a decoded Calico record is a DNS log record rather than a flow record."""
    if "qname" in record or "rrsets" in record or "client_name_aggr" in record:
        return True
    kind = record.get("type")
    return isinstance(kind, str) and kind.lower() == "unlogged" and "count" in record


def dns_name(value: Any, field: str) -> str:
    """A name as DNS carries it: lower case, without the trailing dot, in ASCII."""
    if not isinstance(value, str):
        raise RecordError(f"{field}: expected a name, got {value!r}")
    name = value.strip().rstrip(".").lower()
    if not name.isascii():
        # A name IDNA cannot encode is kept as written (and matches nothing).
        with contextlib.suppress(UnicodeError):
            name = name.encode("idna").decode("ascii")
    return name


class DnsLogMapper:
    """Maps decoded DNS log records to reply flows (one per file; endpoints cached)."""

    def __init__(self) -> None:
        self._endpoints: dict[tuple[Any, ...], Endpoint] = {}

    def flow(self, record: Mapping[str, Any], origin: Origin) -> Flow:
        kind = record.get("type") or "log"
        kind_name = kind.lower() if isinstance(kind, str) else None
        if kind_name == "unlogged":
            raise NotAFlow(UNLOGGED)
        if kind_name != "log":
            raise RecordError(f"type: expected log or unlogged, got {kind!r}")
        query = record.get("qname")
        if query is None or query == "":
            raise RecordError("missing qname")
        query = dns_name(query, "qname")
        time = parse_time(
            record.get("end_time") or record.get("start_time"), "end_time or start_time"
        )
        count = record.get("count")
        if count is not None and (type(count) is not int or count < 0):
            raise RecordError(f"count: expected a number of responses, got {count!r}")
        answers = resolved_addresses(query, record.get("rrsets"))
        servers = record.get("servers")
        if servers is not None and not isinstance(servers, list):
            raise RecordError(f"servers: expected a list, got {servers!r}")
        return Flow(
            time=time,
            source=self._server(servers[0] if servers else None),
            destination=self._client(record),
            protocol=Protocol.UDP,
            port=0,  # the client's port: not in the log
            verdict=Verdict.FORWARDED,
            direction=Direction.EGRESS,
            is_reply=True,
            origin=origin,
            source_port=53,
            count=count or 1,
            dns_query=query,
            node=clean(record.get("host")),
            dns_answers=answers,
        )

    def _client(self, record: Mapping[str, Any]) -> Endpoint:
        get = record.get
        labels = _labels(get("client_labels"), "client_labels")
        key = ("client", get("client_namespace"), get("client_name"), get("client_name_aggr"),
               labels, get("client_ip"))  # fmt: skip
        found = self._endpoints.get(key)
        if found is None:
            raw = RawEndpoint(
                EndpointType.WORKLOAD,
                clean(key[1]),
                clean(key[2]),
                clean(key[3]),
                labels,
                clean(key[5]),
            )
            found = self._remember(key, raw, "client")
        return found

    def _server(self, server: Any) -> Endpoint:
        if server is None:
            server = {}
        if not isinstance(server, Mapping):
            raise RecordError(f"servers: expected objects, got {server!r}")
        get = server.get
        labels = _labels(get("labels"), "servers.labels")
        key = ("server", get("namespace"), get("name"), get("name_aggr"), labels, get("ip"))
        found = self._endpoints.get(key)
        if found is None:
            # No endpoint type: a namespace makes it a pod, pub/pvt or nothing an address.
            raw = RawEndpoint(
                None, clean(key[1]), clean(key[2]), clean(key[3]), labels, clean(key[5])
            )
            found = self._remember(key, raw, "server")
        return found

    def _remember(self, key: tuple[Any, ...], raw: RawEndpoint, side: str) -> Endpoint:
        try:
            endpoint = build_endpoint(raw)
        except ValueError as error:
            raise RecordError(f"{side} {error}") from None
        if len(self._endpoints) >= _ENDPOINT_CACHE_LIMIT:
            self._endpoints.clear()
        self._endpoints[key] = endpoint
        return endpoint


def _labels(value: Any, field: str) -> tuple[str, ...] | None:
    """``{"app": "web"}`` (what Felix writes), a list of ``k=v``, or null (not included)."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return tuple(sorted(f"{k}={v}" for k, v in value.items()))
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise RecordError(f"{field}: expected a map of labels, got {value!r}")


def resolved_addresses(query: str, rrsets: Any) -> tuple[str, ...]:
    """The A/AAAA addresses of ``query`` and of the names it is a CNAME of, in record order."""
    if rrsets is None:
        return ()
    if not isinstance(rrsets, list):
        raise RecordError(f"rrsets: expected a list, got {rrsets!r}")
    aliases: dict[str, list[str]] = {}
    addresses: dict[str, list[str]] = {}
    for index, rrset in enumerate(rrsets):
        field = f"rrsets[{index}]"
        if not isinstance(rrset, Mapping):
            raise RecordError(f"{field}: expected an object, got {rrset!r}")
        kind = rrset.get("type")
        kind = kind.upper() if isinstance(kind, str) else kind
        version = _ADDRESS_TYPES.get(kind) if isinstance(kind, str | int) else None
        if (version is None and kind not in _CNAME_TYPES) or rrset.get("class") not in _IN_CLASSES:
            continue
        name = dns_name(rrset.get("name"), f"{field}.name")
        rdata = rrset.get("rdata")
        if rdata is None:
            continue
        if not isinstance(rdata, list):
            raise RecordError(f"{field}.rdata: expected a list, got {rdata!r}")
        if version is None:
            aliases.setdefault(name, []).extend(
                dns_name(target, f"{field}.rdata") for target in rdata
            )
        else:
            addresses.setdefault(name, []).extend(
                _address(text, version, f"{field}.rdata") for text in rdata
            )
    found: dict[str, None] = {}
    chain, seen = [query], {query}
    while chain:
        name = chain.pop(0)
        found.update(dict.fromkeys(addresses.get(name, ())))
        for target in aliases.get(name, ()):
            if target not in seen:
                seen.add(target)
                chain.append(target)
    return tuple(found)


def _address(text: Any, version: int, field: str) -> str:
    try:
        address = ipaddress.ip_address(text) if isinstance(text, str) else None
    except ValueError:
        address = None
    if address is None or address.version != version:
        raise RecordError(f"{field}: {text!r} is not an IPv{version} address")
    return str(address)
