"""Workload identity follows the owner (issue 10, item 3): with an inventory, the pods of one
controller are one workload with one policy, named after the controller, selecting the labels
all its pods share."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from learner.app.console import Env
from learner.app.pipeline import build_proposal, ingest, new_store
from learner.cli.program import main
from learner.ingest.inventory_load import inventory_from_paths, load_inventory
from learner.ingest.owners import OWNERS_UNKNOWN
from learner.model.config import LearnConfig
from learner.model.flow import Flow
from learner.model.inventory import Inventory
from learner.model.policy import Proposal
from learner.model.run_stats import NormalizeStats
from tests.flowbuild import flow, pod
from tests.learner.ingest.test_inventory_load import (
    FakeAPIServer,
    default_routes,
    write_kubeconfig,
)

ROOT = Path(__file__).parents[3]
CLIENT = pod("bank", "teller-7d9f8c6b5-x2x9z", app="teller")


def learn(flows: list[Flow], inventory: Inventory | None) -> Proposal:
    config = LearnConfig()
    store = new_store(config)
    ingest(flows, store, config, NormalizeStats())
    return build_proposal(store, inventory, config)


def policies_named(proposal: Proposal, word: str) -> dict[str, dict[str, str]]:
    return {p.name: dict(p.subject.match_labels) for p in proposal.policies if word in p.name}


def owner_reference(kind: str, name: str) -> list[dict[str, object]]:
    api = "batch/v1" if kind in ("Job", "CronJob") else "apps/v1"
    return [{"apiVersion": api, "kind": kind, "name": name, "uid": name, "controller": True}]


def pod_manifest(name: str, labels: dict[str, str], owner: tuple[str, str]) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "bank",
            "labels": labels,
            "ownerReferences": owner_reference(*owner),
        },
        "spec": {"containers": [{"name": "main", "image": "example/main:1"}]},
    }


def template_manifest(kind: str, name: str, labels: dict[str, str]) -> dict[str, object]:
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "bank"},
        "spec": {
            "selector": {"matchLabels": {"app": labels["app"]}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": "example/main:1"}]},
            },
        },
    }


def write_manifests(path: Path, items: list[dict[str, object]]) -> Inventory:
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    return inventory_from_paths([str(path)])


# --- a StatefulSet whose pods carry per-pod labels ---------------------------------------------

LEDGER_PODS = {
    f"ledger-{i}": {"app": "ledger", "ledger.example.com/shard": f"shard-{i}"} for i in range(3)
}


def ledger_flows() -> list[Flow]:
    return [
        flow(CLIENT, pod("bank", name, extra=labels), 5432) for name, labels in LEDGER_PODS.items()
    ]


def test_statefulset_pods_with_per_pod_labels_get_one_policy(tmp_path: Path) -> None:
    inventory = write_manifests(
        tmp_path / "ledger.json",
        [template_manifest("StatefulSet", "ledger", {"app": "ledger"})]
        + [
            pod_manifest(name, labels, ("StatefulSet", "ledger"))
            for name, labels in LEDGER_PODS.items()
        ],
    )
    proposal = learn(ledger_flows(), inventory)
    assert policies_named(proposal, "ledger") == {"ledger": {"app": "ledger"}}
    assert OWNERS_UNKNOWN not in proposal.warnings


def test_without_an_inventory_labels_decide_and_the_report_says_owners_were_unknown() -> None:
    proposal = learn(ledger_flows(), None)
    assert len(policies_named(proposal, "ledger")) == 3
    assert OWNERS_UNKNOWN in proposal.warnings


# --- a Deployment in the middle of a rollout ----------------------------------------------------

OLD = {"app": "vault", "version": "v1", "pod-template-hash": "6c9f7d8b5d"}
NEW = {"app": "vault", "version": "v2", "pod-template-hash": "58b8c4f7d9"}


def rollout_flows() -> list[Flow]:
    old = pod("bank", "vault-6c9f7d8b5d-qx7rk", extra=OLD)
    new = pod("bank", "vault-58b8c4f7d9-m2k8w", extra=NEW)
    return [flow(CLIENT, old, 8200), flow(CLIENT, new, 8200), flow(old, new, 8201)]


def rollout_pods() -> list[dict[str, object]]:
    return [
        pod_manifest("vault-6c9f7d8b5d-qx7rk", OLD, ("ReplicaSet", "vault-6c9f7d8b5d")),
        pod_manifest("vault-58b8c4f7d9-m2k8w", NEW, ("ReplicaSet", "vault-58b8c4f7d9")),
    ]


def test_a_deployment_mid_rollout_gets_one_policy_selecting_both_replicasets(
    tmp_path: Path,
) -> None:
    inventory = write_manifests(
        tmp_path / "vault.json",
        [template_manifest("Deployment", "vault", {"app": "vault", "version": "v2"})]
        + rollout_pods(),
    )
    proposal = learn(rollout_flows(), inventory)
    assert policies_named(proposal, "vault") == {"vault": {"app": "vault"}}
    [policy] = [p for p in proposal.policies if p.name == "vault"]
    assert {r.ports[0].port for r in policy.ingress} >= {8200, 8201}, "both edges kept"


@pytest.fixture
def rollout_cluster() -> Iterator[FakeAPIServer]:
    """An API server listing the rollout's pods, its two ReplicaSets and a CronJob's Job."""
    pods = [{k: v for k, v in p.items() if k not in ("apiVersion", "kind")} for p in rollout_pods()]
    pods.append(
        {
            "metadata": {
                "name": "statement-29001234-7bq2x",
                "namespace": "bank",
                "labels": {"app": "statement"},
                "ownerReferences": owner_reference("Job", "statement-29001234"),
            },
            "spec": {"containers": [{"name": "main", "image": "example/main:1"}]},
        }
    )
    replicasets = [
        {
            "metadata": {
                "name": f"vault-{labels['pod-template-hash']}",
                "namespace": "bank",
                "ownerReferences": owner_reference("Deployment", "vault"),
            },
            "spec": {"template": {"metadata": {"labels": labels}}},
        }
        for labels in (OLD, NEW)
    ]
    jobs = [
        {
            "metadata": {
                "name": "statement-29001234",
                "namespace": "bank",
                "ownerReferences": owner_reference("CronJob", "statement"),
            },
            "spec": {"template": {"metadata": {"labels": {"app": "statement"}}}},
        }
    ]
    routes = default_routes()
    routes["/api/v1/pods"] = (200, {"kind": "PodList", "metadata": {}, "items": pods})
    routes["/apis/apps/v1/replicasets"] = (200, {"kind": "ReplicaSetList", "items": replicasets})
    routes["/apis/batch/v1/jobs"] = (200, {"kind": "JobList", "items": jobs})
    server = FakeAPIServer(routes)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_cluster_inventory_follows_owner_references(
    rollout_cluster: FakeAPIServer, tmp_path: Path
) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "config", rollout_cluster.url)
    inventory = load_inventory("cluster", kubeconfig=kubeconfig, context="test")
    owners = {w.name: w.owner for w in inventory.workloads if w.kind == "Pod"}
    assert owners == {
        "vault-6c9f7d8b5d-qx7rk": "Deployment/vault",
        "vault-58b8c4f7d9-m2k8w": "Deployment/vault",
        "statement-29001234-7bq2x": "CronJob/statement",
    }
    proposal = learn(rollout_flows(), inventory)
    assert policies_named(proposal, "vault") == {"vault": {"app": "vault"}}


# --- the real bookinfo capture ------------------------------------------------------------------


def test_bookinfo_with_its_inventory_gets_one_policy_per_owner(tmp_path: Path) -> None:
    out = tmp_path / "proposal"
    env = Env(io.StringIO(), io.StringIO())
    code = main(
        [
            "generate",
            str(ROOT / "tests/fixtures/hubble/files/real"),
            "--inventory",
            str(ROOT / "tests/fixtures/bookinfo/inventory.yaml"),
            "-o",
            str(out),
        ],
        env=env,
    )
    assert code == 0, env.stderr.getvalue()  # type: ignore[attr-defined]
    names = sorted(p.stem for p in (out / "bookinfo").glob("*.yaml"))
    assert names == [
        "details-v1",
        "productpage-v1",
        "ratings-v1",
        "reviews-v1",
        "reviews-v2",
        "reviews-v3",
    ]


def test_an_owner_whose_shared_labels_would_select_another_workload_stays_apart(
    tmp_path: Path,
) -> None:
    """Merging ``cart`` onto ``app=shop`` would also select ``checkout``'s pods."""
    cart = {f"cart-{i}": {"app": "shop", "shard": f"s{i}"} for i in range(2)}
    checkout = pod("bank", "checkout-0", extra={"app": "shop", "part": "checkout"})
    inventory = write_manifests(
        tmp_path / "shop.json",
        [pod_manifest(name, labels, ("StatefulSet", "cart")) for name, labels in cart.items()]
        + [pod_manifest("checkout-0", dict(checkout.labels), ("StatefulSet", "checkout"))],
    )
    flows = [flow(CLIENT, pod("bank", name, extra=labels), 80) for name, labels in cart.items()]
    proposal = learn([*flows, flow(CLIENT, checkout, 80)], inventory)
    assert len(policies_named(proposal, "cart")) == 2
    assert any(w.startswith("bank/StatefulSet/cart:") for w in proposal.warnings)
