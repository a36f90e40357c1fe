"""Labels that operators move between pods (role, leader, instance) are not workload identity."""

from __future__ import annotations

from learner.app.pipeline import build_proposal, ingest, new_store
from learner.model.config import LearnConfig
from learner.model.identity import IdentityResolver
from learner.model.run_stats import NormalizeStats
from tests.flowbuild import flow, pod

APP = pod("bank", "api-7d9f8c6b5-x2x9z", app="api")


def ledger(instance: int, role: str) -> object:
    name = f"ledger-db-{instance}"
    return pod(
        "bank",
        name,
        extra={
            "cnpg.io/cluster": "ledger-db",
            "cnpg.io/instanceName": name,
            "cnpg.io/instanceRole": role,
            "role": role,
            "statefulset.kubernetes.io/pod-name": name,
        },
    )


def test_a_cloudnativepg_cluster_is_one_workload_with_one_policy() -> None:
    config = LearnConfig()
    store = new_store(config)
    pods = [ledger(1, "primary"), ledger(2, "replica"), ledger(3, "replica")]
    flows = [flow(APP, db, 5432) for db in pods]  # type: ignore[arg-type]
    flows += [flow(a, b, 5432) for a in pods for b in pods if a is not b]  # type: ignore[arg-type]
    ingest(flows, store, config, NormalizeStats())
    proposal = build_proposal(store, None, config)
    ledger_policies = [p for p in proposal.policies if "ledger" in p.name]
    assert len(ledger_policies) == 1, [p.name for p in ledger_policies]
    assert dict(ledger_policies[0].subject.match_labels) == {"cnpg.io/cluster": "ledger-db"}


def test_after_a_failover_the_primary_keeps_its_identity() -> None:
    resolver = IdentityResolver()
    assert resolver.resolve(ledger(1, "primary")) == resolver.resolve(ledger(1, "replica"))  # type: ignore[arg-type]


def test_flip_label_patterns_and_user_additions() -> None:
    resolver = IdentityResolver(["tier*"])
    for key in (
        "role",
        "postgres-operator.crunchydata.com/role",
        "spilo-role",
        "cnpg.io/instanceRole",
        "node-instance-role",
        "cnpg.io/instanceName",
        "statefulset.kubernetes.io/pod-name",
        "leader",
        "app.example.com/is-leader",
        "tier-x",
    ):
        assert resolver.is_volatile(key), key
    for key in ("app", "cnpg.io/cluster", "app.kubernetes.io/name", "roles-admin"):
        assert not resolver.is_volatile(key), key
