"""``generate`` on what a Calico Enterprise node writes: ``flows.log`` and ``dns.log`` side by side.

A quiet client connects to one address of a name's answer on the learning day; tomorrow its
resolver may hand it another. Hubble's DNS responses say which addresses those are, and so do
Calico's DNS logs: with them, the rule allows the whole answer and says why.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.collectors.calico.test_dns_logs import dns_record
from tests.collectors.calico.test_file import record as flow_record
from tests.learner.cli.test_generate import run_cli
from tests.learner.cli.test_generate_records import documents

USED = "54.187.174.63"
ANSWERED_ONLY = "54.187.174.139"


def calico_logs(directory: Path, *, with_dns: bool = True, domain: str = "api.stripe.com") -> Path:
    directory.mkdir(parents=True)
    connection = flow_record(
        source_name_aggr="worker-5f7d9c8b6-*",
        source_labels={"labels": ["app=worker"]},
        dest_type="net",
        dest_namespace="-",
        dest_name_aggr="pub",
        dest_labels=None,
        dest_ip=USED,
        dest_port=443,
        dest_domains=[domain],
    )
    (directory / "flows.log").write_text(json.dumps(connection) + "\n")
    if with_dns:
        answer = dns_record(
            qname="api.stripe.com",
            rrsets=[
                {"name": "api.stripe.com", "class": "IN", "type": "CNAME",
                 "rdata": ["stripe-edge.example.net"]},
                {"name": "stripe-edge.example.net", "class": "IN", "type": "A",
                 "rdata": [USED, ANSWERED_ONLY]},
            ],
        )  # fmt: skip
        (directory / "dns.log").write_text(json.dumps(answer) + "\n")
    return directory


def egress_cidrs(out: Path) -> set[str]:
    return {
        peer["ipBlock"]["cidr"]
        for document in documents(out)
        for rule in document["spec"].get("egress", [])
        for peer in rule.get("to", [])
        if "ipBlock" in peer
    }


def test_dns_logs_beside_flow_logs_allow_the_whole_answer_and_say_why(tmp_path: Path) -> None:
    logs = calico_logs(tmp_path / "calico")
    out = tmp_path / "out"
    status, stdout, err = run_cli("generate", str(logs), "--output-dir", str(out))
    assert status == 0, err
    assert "0 malformed" in stdout
    assert {f"{USED}/32", f"{ANSWERED_ONLY}/32"} <= egress_cidrs(out)
    policy = (out / "shop" / "worker.yaml").read_text()
    assert f"{ANSWERED_ONLY}: DNS answers for api.stripe.com, not connected to yet" in policy


def test_without_dns_logs_only_the_address_connected_to_is_allowed(tmp_path: Path) -> None:
    logs = calico_logs(tmp_path / "calico", with_dns=False)
    out = tmp_path / "out"
    status, _, err = run_cli("generate", str(logs), "--output-dir", str(out))
    assert status == 0, err
    cidrs = egress_cidrs(out)
    assert f"{USED}/32" in cidrs and f"{ANSWERED_ONLY}/32" not in cidrs


def test_dns_logs_alone_are_no_connections_and_write_nothing(tmp_path: Path) -> None:
    """Answers are not evidence for a rule: a run that saw only them used no flow, and says
    so rather than calling the records malformed."""
    logs = calico_logs(tmp_path / "calico")
    (logs / "flows.log").unlink()
    out = tmp_path / "out"
    status, stdout, err = run_cli("generate", str(logs), "--output-dir", str(out))
    assert status != 0
    assert "no flow was used" in stdout + err
    assert "malformed" not in stdout + err
    assert not out.exists()


def test_a_name_written_in_capitals_in_the_flow_log_finds_its_dns_answers(tmp_path: Path) -> None:
    """DNS names are case-insensitive: dns.log writes them in lower case, a flow's
    dest_domains as the client asked."""
    logs = calico_logs(tmp_path / "calico", domain="API.Stripe.com.")
    out = tmp_path / "out"
    status, _, err = run_cli("generate", str(logs), "--output-dir", str(out))
    assert status == 0, err
    assert {f"{USED}/32", f"{ANSWERED_ONLY}/32"} <= egress_cidrs(out)


def test_a_control_character_in_a_flow_logged_name_cannot_break_the_yaml(tmp_path: Path) -> None:
    """Names from flow logs reach rule comments; the self-check judges the data the YAML was
    written from, so the writer must keep every comment a comment."""
    logs = calico_logs(tmp_path / "calico", with_dns=False, domain="evil\u0001.example.com")
    out = tmp_path / "out"
    status, _, err = run_cli("generate", str(logs), "--output-dir", str(out))
    assert status == 0, err
    assert documents(out), "every file parses"
    assert "evil\\u0001.example.com" in (out / "shop" / "worker.yaml").read_text()
