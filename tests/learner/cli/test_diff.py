from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
import yaml

from learner.app.console import Env
from learner.cli.program import main
from learner.model.errors import ExitStatus
from tests.outputs.report.test_proposal_report import real_samples


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), env=Env(out, err))
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "policies"
    # --cni generic here and in every diff: these tests are about diffing NetworkPolicies
    # read by address; tests/learner/commands/test_generate_cni.py covers Cilium's reading.
    status, _, err = run_cli(
        "generate",
        str(real_samples()),
        "--output-dir",
        str(out),
        "--cni",
        "generic",
        "--include-system",
    )
    assert status == 0, err
    return out


def policy_copy(generated: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(generated, copy, ignore=shutil.ignore_patterns("report.*", ".netpol-learner"))
    return copy


def report(path: Path) -> dict:
    return json.loads((path / "report.json").read_text())["diff"]


def test_no_policies_vs_generated(generated: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    status, out, _ = run_cli(
        "diff", "--current", str(empty), "--proposed", str(generated),
        str(real_samples()), "--cni", "generic", "--report", str(tmp_path / "r"), "--fail-on", "newly-blocked",
    )  # fmt: skip
    assert status == ExitStatus.SUCCESS
    diff = report(tmp_path / "r")
    assert diff["newly_blocked"] == [] and diff["newly_allowed"] == []
    assert diff["unchanged"] > 0
    # Isolation: pairs nobody was seen using become denied.
    assert diff["pairs"]["newly_denied"]
    assert diff["files"]["added"] and not diff["files"]["removed"]
    assert "0 newly blocked" in out


def test_no_policy_on_either_side_is_an_error_not_a_passing_gate(tmp_path: Path) -> None:
    """Two empty sides (a wrong path, a checkout without the files) agree on everything: a CI
    gate must not pass because it compared nothing."""
    empty, other = tmp_path / "empty", tmp_path / "other"
    empty.mkdir()
    other.mkdir()
    status, _, err = run_cli(
        "diff", "--current", str(empty), "--proposed", str(other), str(real_samples()),
        "--fail-on", "newly-blocked",
    )  # fmt: skip
    assert status == ExitStatus.USAGE
    assert "nothing to compare" in err


def flows_that_say_nothing(tmp_path: Path) -> dict[str, Path]:
    empty, malformed = tmp_path / "empty.jsonl", tmp_path / "malformed.jsonl"
    empty.write_text("")
    malformed.write_text('garbage\n{"flow": {}}\n')
    return {"empty": empty, "malformed": malformed}


@pytest.mark.parametrize("kind", ["empty", "malformed"])
def test_a_gate_over_flows_that_say_nothing_fails_instead_of_passing(
    kind: str, generated: Path, tmp_path: Path
) -> None:
    flows = flows_that_say_nothing(tmp_path)[kind]
    empty = tmp_path / "none"
    empty.mkdir()  # every observed connection would be newly blocked: if there were any
    status, out, err = run_cli(
        "diff", "--current", str(generated), "--proposed", str(empty), str(flows),
        "--cni", "generic", "--fail-on", "newly-blocked",
    )  # fmt: skip
    assert status == ExitStatus.USAGE
    assert "nothing to judge" in err
    assert out == ""


def test_without_a_flow_verdict_asked_for_an_empty_flow_file_still_diffs(
    generated: Path, tmp_path: Path
) -> None:
    flows = flows_that_say_nothing(tmp_path)
    status, out, _ = run_cli(
        "diff", "--current", str(generated), "--proposed", str(generated),
        str(flows["empty"]), "--cni", "generic", "--fail-on", "any-change",
    )  # fmt: skip
    assert status == ExitStatus.SUCCESS  # the files are compared: the same
    assert "files: 0 added, 0 removed, 0 changed" in out
    status, _, err = run_cli(
        "diff", "--current", str(generated), "--proposed", str(generated),
        str(flows["malformed"]), "--cni", "generic", "--fail-on", "any-change",
    )  # fmt: skip
    assert status == ExitStatus.USAGE  # bad input is bad input
    assert "records are malformed" in err


def test_removing_one_rule_reports_the_blocked_edge(generated: Path, tmp_path: Path) -> None:
    proposed = policy_copy(generated, tmp_path)
    target = proposed / "kube-system" / "coredns.yaml"
    document = yaml.safe_load(target.read_text())
    removed = document["spec"]["ingress"].pop(0)
    target.write_text(yaml.safe_dump(document))
    status, out, _ = run_cli(
        "diff", "--current", str(generated), "--proposed", str(proposed),
        str(real_samples()), "--cni", "generic", "--report", str(tmp_path / "r"), "--fail-on", "newly-blocked",
    )  # fmt: skip
    assert status == ExitStatus.FINDINGS
    diff = report(tmp_path / "r")
    assert diff["newly_blocked"], removed
    assert all("kube-system" in c["edge"] for c in diff["newly_blocked"])
    assert all("denied" in c["proposed"] for c in diff["newly_blocked"])
    assert diff["files"]["changed"] == ["kube-system/coredns.yaml"]
    assert "BLOCKED" in out
    markdown = (tmp_path / "r" / "report.md").read_text()
    assert markdown.index("would be blocked") < markdown.index("## Change against current policies")


def test_hand_written_deny_all_vs_generated(generated: Path, tmp_path: Path) -> None:
    current = tmp_path / "current"
    current.mkdir()
    (current / "deny.yaml").write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: deny-all, namespace: bookinfo}\n"
        "spec: {podSelector: {}, policyTypes: [Ingress]}\n"
        "---\n"
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: allow-dns, namespace: kube-system}\n"
        "spec:\n  podSelector: {matchLabels: {k8s-app: kube-dns}}\n  policyTypes: [Ingress]\n"
        "  ingress: [{ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]}]\n"
        "  # a rule nobody uses\n"
        "---\n"
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: unused, namespace: bookinfo}\n"
        "spec:\n  podSelector: {matchLabels: {app: nothing}}\n  policyTypes: [Ingress]\n"
        "  ingress: [{ports: [{port: 1234}]}]\n"
    )
    status, _, _ = run_cli(
        "diff", "--current", str(current), "--proposed", str(generated),
        str(real_samples()), "--cni", "generic", "--report", str(tmp_path / "r"), "--fail-on", "any-change",
    )  # fmt: skip
    assert status == ExitStatus.FINDINGS
    diff = report(tmp_path / "r")
    newly_allowed = {c["edge"] for c in diff["newly_allowed"]}
    assert newly_allowed
    for edge in newly_allowed:
        # Denied today: anything into bookinfo, and kube-dns on ports other than 53.
        assert "-> pod:bookinfo/" in edge or ("k8s-app=kube-dns" in edge and " 53/" not in edge)
    assert diff["newly_blocked"] == []
    unused = {u["policy"] for u in diff["unused_rules"]}
    assert "bookinfo/unused" in unused
    assert "kube-system/allow-dns" not in unused


def test_generate_with_current_puts_the_diff_in_the_report(generated: Path, tmp_path: Path) -> None:
    out = tmp_path / "again"
    status, _, err = run_cli(
        "generate", str(real_samples()), "--output-dir", str(out), "--current", str(generated)
    )
    assert status == 0, err
    data = json.loads((tmp_path / "again-report" / "report.json").read_text())
    assert data["diff"]["newly_blocked"] == [] and data["diff"]["files"]["changed"] == []


def test_invalid_current_policy_names_file_and_document(generated: Path, tmp_path: Path) -> None:
    current = tmp_path / "bad"
    current.mkdir()
    (current / "p.yaml").write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: ok}\nspec: {podSelector: {}}\n"
        "---\n"
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: bad}\n"
        "spec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/33}}]}]}\n"
    )
    status, _, err = run_cli("diff", "--current", str(current), "--proposed", str(generated))
    assert status == ExitStatus.USAGE
    assert "p.yaml" in err and "document 1" in err
    assert "Traceback" not in err


def test_current_policies_from_the_cluster(tmp_path: Path) -> None:
    import threading

    from tests.learner.ingest.test_inventory_load import (
        FakeAPIServer,
        default_routes,
        write_kubeconfig,
    )

    server = FakeAPIServer(default_routes())
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        kubeconfig = write_kubeconfig(tmp_path / "config", server.url)
        proposed = tmp_path / "proposed" / "shop"
        proposed.mkdir(parents=True)
        (proposed / "web-from-frontend.yaml").write_text(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
            "metadata: {name: web-from-frontend, namespace: shop}\n"
            "spec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Ingress]\n"
            "  ingress: [{from: [{podSelector: {matchLabels: {role: frontend}}}],"
            " ports: [{port: 8443, protocol: TCP}]}]\n"
        )
        status, out, err = run_cli(
            "diff", "--current", "cluster", "--kubeconfig", kubeconfig, "--context", "test",
            "--proposed", str(tmp_path / "proposed"), "--report", str(tmp_path / "r"),
            "--fail-on", "any-change",
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert status == ExitStatus.FINDINGS, err
    diff = report(tmp_path / "r")
    assert diff["files"]["changed"] == ["shop/web-from-frontend.yaml"]
    text = (tmp_path / "r" / "report.md").read_text()
    assert "+      port: 8443" in text or "port: 8443" in text
    assert "resourceVersion" not in text and "managedFields" not in text
