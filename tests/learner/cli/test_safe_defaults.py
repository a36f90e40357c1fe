"""Unsafe defaults of issue 10: each test here failed on the behaviour before the fix."""

from __future__ import annotations

from pathlib import Path

from learner.model.errors import ExitStatus
from tests.learner.cli.test_generate import run_cli, sample_lines, tree
from tests.outputs.report.test_proposal_report import real_samples


def generate(out: Path, *extra: str) -> tuple[int, str, str]:
    return run_cli("generate", str(real_samples()), "-o", str(out), *extra)


def test_system_namespaces_get_no_policy_but_stay_peers(tmp_path: Path) -> None:
    out = tmp_path / "out"
    status, _, err = generate(out)
    assert status == 0, err
    written = tree(out)
    assert not [f for f in written if f.startswith("kube-system/")]
    report = (out.with_name(out.name + "-report") / "report.md").read_text()
    assert "kube-system/coredns" in report  # listed as skipped
    assert "--include-system" in report
    # the workloads that talk to CoreDNS still get their rule towards it
    assert any(b"kube-system" in text for f, text in written.items() if f.startswith("bookinfo/"))


def test_include_system_writes_system_namespaces(tmp_path: Path) -> None:
    out = tmp_path / "out"
    status, _, err = generate(out, "--include-system")
    assert status == 0, err
    assert "kube-system/coredns.yaml" in tree(out)


def test_namespace_flag_limits_what_is_written_and_keeps_other_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert generate(out, "--include-system")[0] == 0
    before = tree(out)
    status, _, err = generate(out, "-n", "bookinfo")
    assert status == 0, err
    after = tree(out)
    written_now = {f for f in after if "/" in f and f.split("/")[0] == "bookinfo"}
    assert written_now
    # files of other namespaces from the earlier run are untouched, byte for byte
    for name, text in before.items():
        if "/" in name and not name.startswith("bookinfo/"):
            assert after.get(name) == text, name
    # and they stay in the kustomization
    assert b"istio-system/prometheus.yaml" in after["kustomization.yaml"]
    # and nothing new was written for them by this run
    assert {f for f in after if "/" in f} - set(before) <= written_now


def test_namespace_flag_alone_writes_only_that_namespace(tmp_path: Path) -> None:
    out = tmp_path / "out"
    status, _, err = generate(out, "-n", "bookinfo", "--include-system")
    assert status == 0, err
    assert {f.split("/")[0] for f in tree(out) if "/" in f} == {"bookinfo"}


def test_empty_input_leaves_the_previous_proposal_in_place(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert generate(out)[0] == 0
    before = tree(out)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    status, _, err = run_cli("generate", str(empty), "-o", str(out))
    assert status == ExitStatus.NOTHING_TO_WRITE
    assert "no flow" in err
    assert len(err.strip().splitlines()) <= 3
    assert tree(out) == before


def test_allow_empty_writes_anyway(tmp_path: Path) -> None:
    out = tmp_path / "out"
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    status, _, err = run_cli("generate", str(empty), "-o", str(out), "--allow-empty")
    assert status == 0, err
    assert (out.with_name(out.name + "-report") / "report.md").exists()


def test_mostly_malformed_input_leaves_the_previous_proposal_in_place(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert generate(out)[0] == 0
    before = tree(out)
    mixed = tmp_path / "mixed.jsonl"
    lines = sample_lines()
    mixed.write_text("\n".join(lines + ["{not json"] * (len(lines) // 4)) + "\n")
    status, _, err = run_cli("generate", str(mixed), "-o", str(out))
    assert status == ExitStatus.NOTHING_TO_WRITE, err
    assert "--max-malformed" in err
    assert tree(out) == before
    status, _, err = run_cli("generate", str(mixed), "-o", str(out), "--max-malformed", "50")
    assert status == 0, err


def policy(name: str, port: int) -> str:
    return f"""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: {name}, namespace: shop}}
spec:
  podSelector: {{matchLabels: {{app: {name}}}}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector: {{matchLabels: {{app: web}}}}
    ports: [{{port: {port}, protocol: TCP}}]
"""


def widened(name: str) -> str:
    return f"""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: {name}, namespace: shop}}
spec:
  podSelector: {{matchLabels: {{app: {name}}}}}
  policyTypes: [Ingress]
  ingress:
  - {{}}
"""


def test_diff_without_flows_cannot_judge_newly_blocked(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "api.yaml").write_text(policy("api", 8080))
    (tmp_path / "b" / "api.yaml").write_text(widened("api"))
    argv = ["diff", "--current", str(tmp_path / "a"), "--proposed", str(tmp_path / "b")]
    status, _, err = run_cli(*argv, "--fail-on", "newly-blocked")
    assert status == ExitStatus.USAGE
    assert "flows" in err and len(err.strip().splitlines()) == 1
    status, out, err = run_cli(*argv, "--fail-on", "any-change")
    assert status == ExitStatus.FINDINGS, err
    assert "1 changed" in out


def test_verify_with_no_policy_under_the_path_exits_2(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "README.txt").write_text("nothing here\n")
    sample = sorted(real_samples().glob("*.jsonl"))[0]
    status, _, err = run_cli(
        "verify", "--policies", str(tmp_path / "policies"), "--flows", str(sample)
    )
    assert status == ExitStatus.USAGE
    assert "no polic" in err


def test_export_of_a_state_with_nothing_learned_writes_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    state, out = str(tmp_path / "learn.db"), tmp_path / "out"
    assert run_cli("ingest", str(empty), "--state", state)[0] == 0
    status, _, err = run_cli("export", "--state", state, "-o", str(out))
    assert status == ExitStatus.NOTHING_TO_WRITE, err
    assert not out.exists()
    status, _, err = run_cli("export", "--state", state, "-o", str(out), "--allow-empty")
    assert status == 0, err
    assert (out.with_name(out.name + "-report") / "report.md").exists()


def test_a_directory_of_manifests_is_not_flows(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert generate(out)[0] == 0
    before = tree(out)
    manifests = Path(__file__).parents[3] / "deploy"
    status, _, err = run_cli("generate", str(manifests), "-o", str(out))
    assert status == ExitStatus.NOTHING_TO_WRITE, err
    assert "malformed" in err
    assert tree(out) == before
