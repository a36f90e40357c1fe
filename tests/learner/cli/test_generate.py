from __future__ import annotations

import gzip
import io
import random
from pathlib import Path

import pytest

from learner.app.console import Env
from learner.app.pipeline import ingest, new_store, read_flows
from learner.app.selfcheck import documents_from_files
from learner.cli.program import main
from learner.model.config import LearnConfig
from learner.model.edges import EdgeKey
from learner.model.errors import ExitStatus
from learner.model.inventory import from_store
from learner.model.run_stats import CollectorStats, NormalizeStats
from learner.semantics import TrafficBuilder, compile_policies
from tests.outputs.report.test_proposal_report import real_samples


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), env=Env(out, err))
    return status, out.getvalue(), err.getvalue()


def tree(path: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


def sample_lines() -> list[str]:
    return [
        line for f in sorted(real_samples().glob("*.jsonl")) for line in f.read_text().splitlines()
    ]


@pytest.mark.parametrize("learner", ["baseline", "least-privilege"])
def test_every_observed_connection_is_allowed_and_no_unobserved_pair(
    learner: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    status, _, err = run_cli(
        "generate",
        str(real_samples()),
        "--output-dir",
        str(out),
        "--learner",
        learner,
        "--include-system",
    )
    assert status == 0, err
    files = {str(p.relative_to(out)): p.read_text() for p in out.rglob("*.yaml")}
    policies = compile_policies(documents_from_files(files))
    store = new_store(LearnConfig())
    ingest(
        read_flows([str(real_samples())], stats=CollectorStats()),
        store,
        LearnConfig(),
        NormalizeStats(),
    )
    store.resolve_unlabelled()
    builder = TrafficBuilder(from_store(store))
    observed = set(store.edges)
    for edge in observed:
        if edge.protocol.startswith("ICMP"):
            continue
        assert policies.evaluate(builder.for_edge(edge, store.edges[edge])).allowed, edge.key
    # No unobserved pair of labelled workloads is allowed on an observed port (DNS excepted: the
    # least-privilege learner gives every workload the cluster DNS on purpose).
    workloads = sorted(i for i in store.workloads if i.labels)
    ports = {(e.protocol, e.port) for e in observed if e.port}
    for source in workloads:
        for destination in workloads:
            for protocol, port in ports:
                key = EdgeKey(source, destination, protocol, port)
                if key in observed or source == destination:
                    continue
                if learner != "baseline" and port == 53:
                    continue
                decision = policies.evaluate(builder.for_edge(key))
                assert not decision.allowed, key.key


def test_same_input_twice_and_shuffled_give_identical_output(tmp_path: Path) -> None:
    lines = sample_lines()
    random.Random(7).shuffle(lines)
    shuffled = tmp_path / "shuffled.jsonl"
    shuffled.write_text("\n".join(lines) + "\n")
    outputs = []
    for name, source in (("a", real_samples()), ("b", real_samples()), ("c", shuffled)):
        out = tmp_path / name
        assert run_cli("generate", str(source), "--output-dir", str(out))[0] == 0
        outputs.append(tree(out))
    assert outputs[0] == outputs[1]
    policies = lambda t: {k: v for k, v in t.items() if k.endswith(".yaml")}  # noqa: E731
    assert policies(outputs[0]) == policies(outputs[2])


def garbage_file(tmp_path: Path) -> tuple[Path, list[int]]:
    rng = random.Random(11)
    lines = sample_lines()[:400]
    bad = []
    for number in range(1, len(lines) + 1):
        if rng.random() < 0.05:
            line = lines[number - 1]
            lines[number - 1] = line[: rng.randrange(1, len(line) - 1)]
            bad.append(number)
    path = tmp_path / "garbage.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    return path, bad


def test_garbage_lines_are_counted_reported_and_skipped(tmp_path: Path) -> None:
    path, bad = garbage_file(tmp_path)
    assert len(bad) >= 5
    status, out, err = run_cli("generate", str(path), "--output-dir", str(tmp_path / "out"))
    assert status == ExitStatus.SUCCESS
    assert f"{len(bad)} malformed" in out
    assert f"{path}:{bad[0]}:" in err
    assert "Traceback" not in err
    assert (tmp_path / "out" / "kustomization.yaml").exists()


def test_strict_makes_the_first_bad_line_fatal(tmp_path: Path) -> None:
    path, bad = garbage_file(tmp_path)
    status, _, err = run_cli(
        "generate", str(path), "--output-dir", str(tmp_path / "out"), "--strict"
    )
    assert status == ExitStatus.USAGE
    assert err.startswith(f"netpol-learner: error: {path}:{bad[0]}:")
    assert not (tmp_path / "out").exists()


def test_usage_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    status, _, err = run_cli(
        "generate", str(tmp_path / "missing.jsonl"), "--output-dir", str(tmp_path / "o")
    )
    assert status == ExitStatus.USAGE
    assert err.count("\n") == 1 and "no such file" in err
    status, _, err = run_cli(
        "generate", str(real_samples()), "--output-dir", str(tmp_path / "o"), "--min-age", "soon"
    )
    assert status == ExitStatus.USAGE and "--min-age" in err


def test_refuses_to_replace_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("mine")
    status, _, err = run_cli("generate", str(real_samples()), "--output-dir", str(tmp_path))
    assert status == ExitStatus.USAGE and "refusing" in err
    assert (tmp_path / "precious.txt").read_text() == "mine"


def test_namespace_filter(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert (
        run_cli("generate", str(real_samples()), "--output-dir", str(out), "-n", "bookinfo")[0] == 0
    )
    namespaces = {p.parent.name for p in out.rglob("*.yaml") if p.name != "kustomization.yaml"}
    # Peers outside the namespace still get their side of a connection with bookinfo.
    assert "bookinfo" in namespaces


EXAMPLES = Path(__file__).parents[3] / "examples"


@pytest.mark.parametrize("format_name", ["networkpolicy", "cilium", "calico", "calico-staged"])
def test_the_bundled_examples_in_every_format(format_name: str, tmp_path: Path) -> None:
    """generate self-checks what it writes: exit 0 means every observed connection of the
    examples is allowed by the rendered policies under that dialect's semantics."""
    out = tmp_path / "out"
    status, stdout, err = run_cli(
        "generate", str(EXAMPLES / "flows"), "--output-dir", str(out),
        "--inventory", str(EXAMPLES / "inventory"), "--format", format_name, "--default-deny",
    )  # fmt: skip
    assert status == 0, err
    written = int(stdout.split("wrote ")[1].split(" policies")[0])
    files = [
        p
        for p in out.rglob("*.yaml")
        if p.name not in ("kustomization.yaml", "default-deny.yaml")
        and not p.name.endswith("-cilium-entities.yaml")  # companions for Cilium, not policies
    ]
    assert written > 5 and len([f for f in files if f.parent.name != "_clusterwide"]) == written


def test_output_does_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    """Set and dict orders vary with PYTHONHASHSEED between runs; the bundle must not."""
    import os
    import subprocess
    import sys

    trees = []
    for seed in ("1", "2"):
        out = tmp_path / seed
        subprocess.run(
            [sys.executable, "-m", "learner.cli", "generate", str(real_samples()), "--output-dir", str(out),
             "--format", "cilium", "--l7", "--default-deny"],
            check=True, capture_output=True, env={**os.environ, "PYTHONHASHSEED": seed},
        )  # fmt: skip
        trees.append(tree(out))
    assert trees[0] == trees[1]
