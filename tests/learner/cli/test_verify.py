"""``netpol-learner verify`` end to end on real files: the real bookinfo Hubble capture judged by
hand-written policies, run in-process through ``main`` with a captured environment."""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from learner.app.console import Env
from learner.cli.program import main
from tests.learner.ingest.test_inventory_load import FakeAPIServer, _status, write_kubeconfig

FIXTURES = Path(__file__).parents[2] / "fixtures"
REAL_FLOWS = str(FIXTURES / "hubble" / "files" / "real")
DROPPED_FLOW = str(FIXTURES / "hubble" / "files" / "unattributed_k3d-policy-denied-drop133.jsonl")
BOOKINFO = FIXTURES / "bookinfo"
POLICIES = str(BOOKINFO / "policies")

REVIEWS_V3 = (
    "pod:bookinfo/app=reviews,sidecar.opentelemetry.io/injected=bookinfo.otelcol-bookinfo,"
    "version=v3"
)
RATINGS = (
    "pod:bookinfo/app=ratings,sidecar.opentelemetry.io/injected=bookinfo.otelcol-bookinfo,"
    "version=v1"
)


def run(*argv: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    status = main(["verify", *argv], env=Env(stdout, stderr))
    return status, stdout.getvalue(), stderr.getvalue()


def test_denied_connections_are_listed_with_side_and_policy() -> None:
    status, out, err = run("--policies", POLICIES, REAL_FLOWS)
    assert status == 1
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == (
        "checked 26 observed connections (1,221 flows; one seen at both ends counts once) against 3 policies: "
        "24 allowed, 2 would be denied (6 flows)"
    )
    assert f"DENIED {REVIEWS_V3} -> {RATINGS} 9080/TCP (5 flows)" in lines
    ratings_block = lines[lines.index(f"DENIED {REVIEWS_V3} -> {RATINGS} 9080/TCP (5 flows)") :]
    assert ratings_block[1].startswith("  ingress denied: bookinfo/app=ratings,")
    assert ratings_block[2] == (
        f"    NetworkPolicy bookinfo/ratings ({BOOKINFO / 'policies' / 'ratings.yaml'} document 0)"
    )
    unlabelled = [line for line in lines if "(10.156.0.10) 9080/TCP (1 flow)" in line]
    assert len(unlabelled) == 1, "the pod known only by address is denied at productpage's egress"
    follow = lines[lines.index(unlabelled[0]) + 1]
    assert follow.startswith("  egress denied: bookinfo/app=productpage,")


def test_inventory_names_the_unlabelled_pod() -> None:
    inventory = str(BOOKINFO / "inventory.yaml")
    status, out, _ = run("--policies", POLICIES, REAL_FLOWS, "--inventory", inventory)
    assert status == 1
    assert out.splitlines()[0].endswith("25 allowed, 1 would be denied (5 flows)")
    assert "10.156.0.10" not in out


def test_json_output() -> None:
    status, out, _ = run("--policies", POLICIES, REAL_FLOWS, "-o", "json")
    assert status == 1
    report = json.loads(out)
    assert (report["connections"], report["allowed"], report["denied_connections"]) == (26, 24, 2)
    first = report["denied"][0]
    assert (first["source"], first["destination"], first["port"], first["flows"]) == (
        REVIEWS_V3,
        RATINGS,
        9080,
        5,
    )
    [side] = first["sides"]
    assert side["direction"] == "Ingress" and side["outcome"] == "no rule allows"
    [policy] = side["policies"]
    assert policy["name"] == "ratings" and policy["path"].endswith("ratings.yaml")
    # times as everywhere else: RFC 3339 in UTC, not epoch seconds
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first["first_seen"])
    assert first["first_seen"] <= first["last_seen"]


def test_policies_that_allow_everything_observed_exit_zero(tmp_path: Path) -> None:
    allow = tmp_path / "allow.yaml"
    allow.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: ratings-from-reviews, namespace: bookinfo}\n"
        "spec:\n  podSelector: {matchLabels: {app: ratings}}\n"
        "  ingress: [{from: [{podSelector: {matchLabels: {app: reviews}}}], ports: [{port: 9080}]}]\n"
    )
    status, out, _ = run("--policies", str(allow), REAL_FLOWS)
    assert status == 0
    assert out == (
        "checked 26 observed connections (1,221 flows; one seen at both ends counts once) against 1 policy: "
        "26 allowed, 0 would be denied (0 flows)\n"
    )


def test_invalid_policies_are_usage_errors_naming_each_document(tmp_path: Path) -> None:
    status, out, err = run("--policies", str(FIXTURES / "policies" / "invalid"), REAL_FLOWS)
    assert status == 2
    assert out == ""
    mixed = FIXTURES / "policies" / "invalid" / "mixed.yaml"
    broken = FIXTURES / "policies" / "invalid" / "broken-yaml.yaml"
    errors = err.splitlines()
    assert len(errors) == 3
    assert errors[0].startswith(f"netpol-learner: error: {broken} document 1: invalid YAML")
    assert errors[1] == (
        f"netpol-learner: error: {mixed} document 1 (spec.podSelector.matchExpressions[0].operator): "
        "unknown operator 'Matches' (use In, NotIn, Exists or DoesNotExist)"
    )
    assert errors[2].startswith(f"netpol-learner: error: {mixed} document 3 (spec.egress[0]")


def deny_all_ingress(tmp_path: Path, namespace: str) -> str:
    path = tmp_path / f"deny-{namespace}.yaml"
    path.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        f"metadata: {{name: deny-all, namespace: {namespace}}}\n"
        "spec: {podSelector: {}, policyTypes: [Ingress]}\n"
    )
    return str(path)


def test_dropped_flows_only_with_include_dropped(tmp_path: Path) -> None:
    policies = deny_all_ingress(tmp_path, "corp-prod")
    status, out, err = run("--policies", policies, DROPPED_FLOW)
    assert status == 2  # nothing was checked: a gate must not pass
    assert "no flow to check (see --include-dropped" in err
    assert out == ""
    status, out, err = run("--policies", policies, DROPPED_FLOW, "--include-dropped")
    assert status == 1
    assert "DENIED pod:agent-restricted/agent-id=agt-log-reader-001,app=agent-probe" in out
    assert "NetworkPolicy corp-prod/deny-all" in out


@pytest.mark.parametrize(
    ("content", "said"),
    [("", "no flow to check"), ("garbage\n{}\n", "2 of 2 records are malformed")],
)
def test_flows_that_say_nothing_fail_the_check_instead_of_passing(
    content: str, said: str, tmp_path: Path
) -> None:
    flows = tmp_path / "flows.jsonl"
    flows.write_text(content)
    status, out, err = run("--policies", deny_all_ingress(tmp_path, "corp-prod"), str(flows))
    assert status == 2
    assert f"{said}" in err and "nothing to judge" in err
    assert out == ""


def test_named_ports_without_inventory_get_a_note(tmp_path: Path) -> None:
    named = tmp_path / "named.yaml"
    named.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: ratings-http, namespace: bookinfo}\n"
        "spec:\n  podSelector: {matchLabels: {app: ratings}}\n"
        "  ingress: [{ports: [{port: http}]}]\n"
    )
    status, out, _ = run("--policies", str(named), REAL_FLOWS)
    assert status == 1
    assert "note: the policies use named ports and port 9080 of pod:bookinfo/app=ratings" in out


def test_empty_policy_directory_is_nothing_to_verify(tmp_path: Path) -> None:
    status, out, err = run("--policies", str(tmp_path), REAL_FLOWS)
    assert status == 2
    assert err == f"netpol-learner: error: no policy found in {tmp_path}: nothing to verify\n"
    assert out == ""


def test_cluster_and_paths_cannot_be_combined() -> None:
    status, _, err = run("--policies", "cluster", "--policies", POLICIES, REAL_FLOWS)
    assert status == 2
    assert "--policies cluster cannot be combined" in err


def test_missing_flows_path_is_a_usage_error() -> None:
    status, _, err = run("--policies", POLICIES, "/nonexistent/flows.jsonl")
    assert status == 2
    assert err == "netpol-learner: error: /nonexistent/flows.jsonl: no such file or directory\n"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[str]:
    """A local API server whose only NetworkPolicy isolates bookinfo's ratings; yields a
    kubeconfig for it."""
    policy = {
        "metadata": {"name": "ratings-locked", "namespace": "bookinfo"},
        "spec": {"podSelector": {"matchLabels": {"app": "ratings"}}, "policyTypes": ["Ingress"]},
    }
    routes: dict[str, object] = {
        "/apis/networking.k8s.io/v1/networkpolicies": (
            200,
            {"kind": "NetworkPolicyList", "apiVersion": "networking.k8s.io/v1", "items": [policy]},
        ),
        "/apis/cilium.io/v2/ciliumnetworkpolicies": (404, _status(404, "no such resource")),
    }
    server = FakeAPIServer(routes)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield write_kubeconfig(tmp_path / "kubeconfig", server.url)
    finally:
        server.shutdown()
        server.server_close()


def test_policies_from_the_cluster(cluster: str) -> None:
    status, out, _ = run(
        "--policies", "cluster", REAL_FLOWS, "--kubeconfig", cluster, "--context", "test"
    )
    assert status == 1
    assert out.splitlines()[0].endswith("24 allowed, 2 would be denied (10 flows)")
    assert (
        "NetworkPolicy bookinfo/ratings-locked (cluster:NetworkPolicy/bookinfo/ratings-locked)"
        in out
    )
