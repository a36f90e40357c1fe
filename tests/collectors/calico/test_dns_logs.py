"""Calico Enterprise DNS logs (``dns.log``): each record is a DNS response, as Hubble's are.

Records are shaped as Felix writes them (field set and order of the DNS log type, times in
RFC 3339, ``client_labels`` a map, rrsets from the answer, additional and authority sections).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from collectors.calico.file import iter_flows
from collectors.detect import detect_source
from learner.app.pipeline import ingest, new_store, read_flows
from learner.model.config import LearnConfig
from learner.model.edges import DNS_ANSWERS_PER_NAME_LIMIT
from learner.model.errors import InputError
from learner.model.flow import EndpointKind, Flow, Verdict
from learner.model.run_stats import CollectorStats, NormalizeStats, SkipReason
from tests.collectors.calico.test_file import record as flow_record

FIXTURE = Path(__file__).parents[2] / "fixtures/calico/valid/handwritten_dns-log-aggregated.jsonl"
KUBE_DNS = {
    "name": "coredns-7db6d8ff4d-8xk2p",
    "name_aggr": "coredns-7db6d8ff4d-*",
    "namespace": "kube-system",
    "ip": "10.42.0.10",
    "labels": {"k8s-app": "kube-dns"},
}


def dns_record(**fields: Any) -> dict[str, Any]:
    """One ``dns.log`` line at ``dnsLogsFileAggregationKind: 1`` (the default)."""
    base: dict[str, Any] = {
        "start_time": "2026-01-01T10:00:00Z",
        "end_time": "2026-01-01T10:05:00Z",
        "type": "log",
        "count": 3,
        "client_name": "-",
        "client_name_aggr": "worker-5f7d9c8b6-*",
        "client_namespace": "shop",
        "client_ip": None,
        "client_labels": {"app": "worker", "projectcalico.org/namespace": "shop"},
        "servers": [KUBE_DNS],
        "qname": "api.stripe.com",
        "qclass": "IN",
        "qtype": "A",
        "rcode": "NoError",
        "rrsets": [
            {"name": "api.stripe.com", "class": "IN", "type": "A", "rdata": ["54.187.174.63"]}
        ],
        "latency": {"count": 3, "mean": 400000, "max": 700000},
        "latency_count": 3,
        "latency_mean": 400000,
        "latency_max": 700000,
        "host": "",
    }
    base.update(fields)
    return base


def write(path: Path, *records: dict[str, Any] | str) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def read(path: Path, strict: bool = False) -> tuple[list[Flow], CollectorStats]:
    stats = CollectorStats()
    return list(iter_flows([str(path)], strict=strict, stats=stats)), stats


def one(tmp_path: Path, **fields: Any) -> Flow:
    flows, stats = read(write(tmp_path / "dns.log", dns_record(**fields)), strict=True)
    assert len(flows) == 1, stats
    return flows[0]


def test_an_aggregated_record_is_a_dns_response_from_the_server_to_the_client_pod(
    tmp_path: Path,
) -> None:
    flow = one(tmp_path)
    assert flow.is_reply is True  # never evidence for a rule
    assert flow.verdict is Verdict.FORWARDED
    assert (flow.dns_query, flow.dns_answers) == ("api.stripe.com", ("54.187.174.63",))
    assert flow.count == 3
    assert flow.time == 1767261900.0  # end_time
    client = flow.destination
    assert client.kind is EndpointKind.POD
    assert (client.namespace, client.workload_name, client.pod, client.ip) == (
        "shop",
        "worker",
        "",
        "",
    )
    assert client.labels == (("app", "worker"),)  # Calico's own keys left out
    server = flow.source
    assert (server.kind, server.namespace, server.pod, server.ip) == (
        EndpointKind.POD,
        "kube-system",
        "coredns-7db6d8ff4d-8xk2p",
        "10.42.0.10",
    )


def test_a_record_without_aggregation_names_the_pod_and_its_address(tmp_path: Path) -> None:
    flow = one(tmp_path, client_name="worker-5f7d9c8b6-q2x9z", client_ip="10.42.1.17")
    assert (flow.destination.pod, flow.destination.ip) == ("worker-5f7d9c8b6-q2x9z", "10.42.1.17")
    assert flow.dns_answers == ("54.187.174.63",)


def test_answers_follow_the_cname_chain_from_the_queried_name_only(tmp_path: Path) -> None:
    flow = one(
        tmp_path,
        qname="WWW.Example.COM.",
        qtype="AAAA",
        rrsets=[
            # Felix writes rrsets from a map: in any order.
            {"name": "edge.example.net", "class": "IN", "type": "CNAME", "rdata": ["a1.cdn.net."]},
            {"name": "a1.cdn.net", "class": "IN", "type": "AAAA", "rdata": ["2001:DB8::0001"]},
            {
                "name": "www.example.com",
                "class": "IN",
                "type": "CNAME",
                "rdata": ["Edge.Example.net"],
            },
            {"name": "a1.cdn.net", "class": "IN", "type": "A", "rdata": ["198.51.100.7"]},
            # Additional and authority sections: not what the name resolved to.
            {"name": "ns1.cdn.net", "class": "IN", "type": "A", "rdata": ["192.0.2.53"]},
            {"name": "cdn.net", "class": "IN", "type": "NS", "rdata": ["ns1.cdn.net"]},
        ],
    )
    assert flow.dns_query == "www.example.com"
    assert flow.dns_answers == ("2001:db8::1", "198.51.100.7")


def test_a_cname_loop_ends(tmp_path: Path) -> None:
    flow = one(
        tmp_path,
        rrsets=[
            {"name": "api.stripe.com", "class": "IN", "type": "CNAME", "rdata": ["b.stripe.com"]},
            {"name": "b.stripe.com", "class": "IN", "type": "CNAME", "rdata": ["api.stripe.com"]},
            {"name": "b.stripe.com", "class": "IN", "type": "A", "rdata": ["54.187.174.63"]},
        ],
    )
    assert flow.dns_answers == ("54.187.174.63",)


def test_non_address_answers_and_failed_lookups_carry_no_addresses(tmp_path: Path) -> None:
    mail = one(
        tmp_path,
        qtype="MX",
        rrsets=[
            {"name": "api.stripe.com", "class": "IN", "type": "MX", "rdata": ["10 mx.stripe.com"]},
            {"name": "api.stripe.com", "class": "IN", "type": "TXT", "rdata": ["v=spf1 -all"]},
            {"name": "api.stripe.com", "class": "IN", "type": "#65", "rdata": ["AAEAAA=="]},
        ],
    )
    assert mail.dns_answers == ()
    missing = one(
        tmp_path,
        qname="api.stripe.com.shop.svc.cluster.local",
        rcode="NXDomain",
        rrsets=None,
    )
    assert (missing.dns_query, missing.dns_answers) == ("api.stripe.com.shop.svc.cluster.local", ())


def test_an_unlogged_record_is_counted_not_read_as_answers(tmp_path: Path) -> None:
    unlogged = {"start_time": "2026-01-01T10:00:00Z", "end_time": "2026-01-01T10:05:00Z",
                "type": "unlogged", "count": 12, "client_name": "", "client_name_aggr": "",
                "client_namespace": "", "client_ip": None, "client_labels": None,
                "servers": None, "qname": "", "qclass": "#0", "qtype": "#0",
                "rcode": "NoError", "rrsets": None}  # fmt: skip
    flows, stats = read(write(tmp_path / "dns.log", unlogged), strict=True)
    assert flows == []
    assert stats.malformed == 0
    assert sum(stats.non_flow.values()) == 1
    assert "dnsLogsFilePerNodeLimit" in next(iter(stats.non_flow))


def test_an_internationalised_name_is_looked_up_by_its_ascii_form(tmp_path: Path) -> None:
    """Felix writes names in Unicode; Hubble and flows.log name them as DNS carries them."""
    flow = one(
        tmp_path,
        qname="www.mælström.com",
        rrsets=[{"name": "www.mælström.com", "class": "IN", "type": "A", "rdata": ["192.0.2.9"]}],
    )
    assert flow.dns_query == "www.xn--mlstrm-pua6k.com"
    assert flow.dns_answers == ("192.0.2.9",)


BAD = [
    ('{"qname": "api.stripe.com", "type": "log"', "invalid JSON"),
    (dns_record(qname=None), "missing qname"),
    (dns_record(qname=7), "qname: expected a name"),
    (dns_record(type="summary"), "type: expected log or unlogged"),
    (dns_record(rrsets={"name": "api.stripe.com"}), "rrsets: expected a list"),
    (dns_record(rrsets=["api.stripe.com A 1.2.3.4"]), "rrsets[0]: expected an object"),
    (
        dns_record(rrsets=[{"name": "api.stripe.com", "type": "A", "rdata": ["not-an-ip"]}]),
        "rrsets[0].rdata: 'not-an-ip' is not an IPv4 address",
    ),
    (
        dns_record(rrsets=[{"name": "api.stripe.com", "type": "AAAA", "rdata": ["54.1.2.3"]}]),
        "is not an IPv6 address",
    ),
    (
        dns_record(rrsets=[{"name": "api.stripe.com", "type": "A", "rdata": "54.1.2.3"}]),
        "rrsets[0].rdata: expected a list",
    ),
    (dns_record(end_time="yesterday", start_time=None), "not a time"),
    (dns_record(client_namespace="Shop_Team"), "namespace 'Shop_Team'"),
    (dns_record(client_labels="app=worker"), "client_labels: expected"),
]


def test_malformed_records_name_file_and_line(tmp_path: Path) -> None:
    good = dns_record()
    path = write(tmp_path / "dns.log", good, *(record for record, _ in BAD), good)
    flows, stats = read(path)
    assert len(flows) == 2
    assert stats.malformed == len(BAD)
    assert stats.records == len(BAD) + 2
    # CollectorStats keeps the first few messages: each names its file and line.
    for error, (_, reason) in zip(stats.errors, BAD, strict=False):
        assert error.path == str(path)
        assert reason in error.reason, (error.line, error.reason)
    assert [e.line for e in stats.errors] == list(range(2, 2 + len(stats.errors)))


@pytest.mark.parametrize(("bad", "reason"), BAD[1:4], ids=lambda v: str(v)[:30])
def test_a_malformed_record_is_fatal_under_strict(
    tmp_path: Path, bad: dict[str, Any], reason: str
) -> None:
    path = write(tmp_path / "dns.log", dns_record(), bad)
    with pytest.raises(InputError, match=reason) as raised:
        read(path, strict=True)
    assert raised.value.line == 2 and raised.value.path == str(path)


def test_the_real_shaped_sample_reads_without_errors() -> None:
    flows, stats = read(FIXTURE, strict=True)
    assert stats.malformed == 0 and sum(stats.non_flow.values()) == 1  # the unlogged line
    answers = {f.dns_query: f.dns_answers for f in flows}
    assert answers == {
        "api.stripe.com": ("54.187.174.63", "54.187.174.139"),
        "s3.eu-west-1.amazonaws.com": ("52.92.32.84", "52.92.32.194", "52.218.48.164"),
        "api.stripe.com.shop.svc.cluster.local": (),
        "http-intake.logs.datadoghq.eu": ("2600:1901:0:c9a4::",),
    }


# --- with flows.log: detection, the pipeline, the store ---------------------------------------


def test_a_dns_log_is_detected_as_calico(tmp_path: Path) -> None:
    assert detect_source(str(FIXTURE)) == "calico"
    only_unlogged = write(tmp_path / "dns.log", json.loads(FIXTURE.read_text().splitlines()[-1]))
    assert detect_source(str(only_unlogged)) == "calico"


def learn(*inputs: Path) -> tuple[dict[str, set[str]], CollectorStats, NormalizeStats]:
    config = LearnConfig()
    store = new_store(config)
    collected, normalized = CollectorStats(), NormalizeStats()
    ingest(read_flows([str(p) for p in inputs], stats=collected), store, config, normalized)
    return store.dns_answers, collected, normalized


def test_a_directory_with_flows_log_and_dns_log_learns_connections_and_answers(
    tmp_path: Path,
) -> None:
    logs = tmp_path / "calico"
    logs.mkdir()
    write(logs / "flows.log", flow_record())
    write(logs / "dns.log", dns_record(), dns_record(rrsets=[]))
    answers, collected, normalized = learn(logs)
    assert collected.malformed == 0
    assert normalized.included == 1  # the connection; the DNS responses are replies
    assert normalized.skipped[SkipReason.REPLY] == 2
    assert answers == {"api.stripe.com": {"54.187.174.63"}}


def test_answers_per_name_keep_the_stores_cap(tmp_path: Path) -> None:
    many = [
        f"54.187.{n // 256}.{n % 256}" for n in range(300, 300 + 2 * DNS_ANSWERS_PER_NAME_LIMIT)
    ]
    half = len(many) // 2
    path = write(
        tmp_path / "dns.log",
        dns_record(rrsets=[{"name": "api.stripe.com", "type": "A", "rdata": many[half:]}]),
        dns_record(rrsets=[{"name": "api.stripe.com", "type": "A", "rdata": many[:half]}]),
    )
    answers, _, _ = learn(path)
    assert answers["api.stripe.com"] == set(many[:DNS_ANSWERS_PER_NAME_LIMIT])  # the lowest
