"""Proposals judged with the matching rules of the CNI that will enforce them (``--cni``).

Cilium matches a NetworkPolicy ``ipBlock`` only against addresses outside the cluster's
identities: the API server's and the nodes' addresses are not matched unless the agent runs
with ``policy-cidr-match-mode: nodes``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from learner.app.selfcheck import documents_from_files
from learner.model.config import CNI
from learner.semantics import Traffic, TrafficPeer, compile_policies
from learner.semantics.cni import as_enforced_by
from tests.hubble_records import pod_endpoint, record, reserved_endpoint, tcp, udp, write_lines
from tests.learner.cli.test_generate import run_cli
from tests.learner.cli.test_generate_records import documents, generate
from tests.outputs.report.test_proposal_report import SCHEMA

WEB = pod_endpoint("shop", "web", identity=31001)
API_SERVER_IP = "172.18.0.2"


def api_call() -> dict[str, Any]:
    return record(
        WEB,
        {"identity": 7, "labels": ["reserved:kube-apiserver", "reserved:host"]},
        tcp(41000, 6443),
        destination_ip=API_SERVER_IP,
    )


def node_call() -> dict[str, Any]:
    """A pod reaching a kubelet (or a hostNetwork pod) on another node."""
    return record(
        WEB, reserved_endpoint("remote-node", 6), tcp(41001, 10250), destination_ip="172.18.0.3"
    )


def policy_files(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): p.read_text() for p in out.rglob("*.yaml")}


def entities(docs: list[dict[str, Any]]) -> set[str]:
    return {
        entity
        for d in docs
        if d.get("kind") == "CiliumNetworkPolicy"
        for rule in d["spec"].get("egress", [])
        for entity in rule.get("toEntities", [])
    }


def test_hubble_input_gets_a_cilium_companion_for_the_api_server_and_nodes(
    tmp_path: Path,
) -> None:
    out, summary = generate(tmp_path, [api_call(), node_call()])
    docs = documents(out)
    assert {"kube-apiserver", "remote-node"} <= entities(docs)
    report = (out.with_name(out.name + "-report") / "report.md").read_text()
    assert "policy-cidr-match-mode" in report
    # Judged as Cilium judges it, the whole output allows both connections.
    policies = as_enforced_by(compile_policies(documents_from_files(policy_files(out))), CNI.CILIUM)
    web = TrafficPeer("pod", "shop", (("app", "web"),))
    for peer, port in (
        (TrafficPeer("kube-apiserver", ip=API_SERVER_IP), 6443),
        (TrafficPeer("remote-node", ip="172.18.0.3"), 10250),
    ):
        assert policies.evaluate(Traffic(web, peer, "TCP", port)).allowed


def test_networkpolicy_ipblock_for_the_api_server_does_not_match_on_cilium(
    tmp_path: Path,
) -> None:
    out, _ = generate(tmp_path, [api_call()], "--cni", "generic")
    assert entities(documents(out)) == set()
    files = policy_files(out)
    web = TrafficPeer("pod", "shop", (("app", "web"),))
    api = TrafficPeer("kube-apiserver", ip=API_SERVER_IP)
    traffic = Traffic(web, api, "TCP", 6443)
    generic = compile_policies(documents_from_files(files))
    assert generic.evaluate(traffic).allowed
    assert not as_enforced_by(generic, CNI.CILIUM).evaluate(traffic).allowed
    matching_nodes = as_enforced_by(generic, CNI.CILIUM, cidr_match_nodes=True)
    assert matching_nodes.evaluate(traffic).allowed


def test_the_setting_replaces_the_companion(tmp_path: Path) -> None:
    out, _ = generate(tmp_path, [api_call()], "--cilium-cidr-match-nodes")
    assert entities(documents(out)) == set()
    assert (
        "policy-cidr-match-mode" in (out.with_name(out.name + "-report") / "report.md").read_text()
    )


@pytest.mark.parametrize("cni", ["calico", "generic"])
def test_other_cnis_keep_the_ipblock(tmp_path: Path, cni: str) -> None:
    out, _ = generate(tmp_path, [api_call()], "--cni", cni)
    assert entities(documents(out)) == set()
    assert API_SERVER_IP + "/32" in "".join(policy_files(out).values())


def test_node_local_dns_seen_as_the_host_is_reached_by_entity_on_cilium(tmp_path: Path) -> None:
    """NodeLocal DNSCache listens on a link-local address of every node (hostNetwork): Hubble
    reports that destination as reserved:host, which no ipBlock matches on Cilium."""
    lookup = record(
        WEB, reserved_endpoint("host", 1), udp(40000, 53), destination_ip="169.254.20.10"
    )
    out, _ = generate(tmp_path, [lookup])
    assert "host" in entities(documents(out))
    assert "169.254.20.10/32" in "".join(policy_files(out).values())  # for other CNIs


API_SERVER_POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 172.18.0.2/32}}]
    ports: [{protocol: TCP, port: 6443}]
"""


@pytest.mark.parametrize(
    ("flags", "denied"),
    [((), True), (("--cni", "generic"), False), (("--cilium-cidr-match-nodes",), False)],
)
def test_verify_judges_with_the_cni_of_the_flows(
    tmp_path: Path, flags: tuple[str, ...], denied: bool
) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "web.yaml").write_text(API_SERVER_POLICY)
    flows = write_lines(tmp_path / "flows.jsonl", [api_call()])
    status, stdout, err = run_cli("verify", "--policies", str(policies), str(flows), *flags)
    assert ("DENIED" in stdout) is denied, stdout + err
    assert status == (1 if denied else 0)


def test_report_with_cni_and_cannot_express_risks_validates(tmp_path: Path) -> None:
    ping = record(WEB, pod_endpoint("shop", "db", identity=31003), {"ICMPv4": {"type": 8}})
    out, _ = generate(tmp_path, [api_call(), ping])
    data = json.loads((out.with_name(out.name + "-report") / "report.json").read_text())
    assert {"cni", "cannot-express"} <= {risk["kind"] for risk in data["risks"]}
    jsonschema.validate(data, SCHEMA)


@pytest.mark.parametrize(("flags", "blocked"), [((), True), (("--cni", "generic"), False)])
def test_diff_judges_with_the_cni_of_the_flows(
    tmp_path: Path, flags: tuple[str, ...], blocked: bool
) -> None:
    current, proposed = tmp_path / "current", tmp_path / "proposed"
    current.mkdir()
    proposed.mkdir()
    (proposed / "web.yaml").write_text(API_SERVER_POLICY)
    flows = write_lines(tmp_path / "flows.jsonl", [api_call()])
    status, stdout, err = run_cli(
        "diff", "--current", str(current), "--proposed", str(proposed), str(flows),
        "--fail-on", "newly-blocked", *flags,
    )  # fmt: skip
    assert ("BLOCKED" in stdout) is blocked, stdout + err
    assert status == (1 if blocked else 0)
