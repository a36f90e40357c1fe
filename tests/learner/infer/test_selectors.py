"""Subject and peer selectors chosen against a universe of workloads."""

from __future__ import annotations

import pytest

from learner.infer.label_cost import KEY_COST_FRAGILE, key_cost
from learner.infer.selectors import PeerSelector, UniverseBuilder, exact_selector
from learner.infer.universe import Universe, bits_of
from learner.model.flow import make_labels
from learner.model.identity import Identity, IdentityResolver
from learner.model.inventory import Inventory, Namespace, Workload, with_name_label


def universe_of(*workloads: tuple[str, str, dict[str, str]]) -> Universe:
    inventory = Inventory(
        namespaces=tuple(
            Namespace(ns, with_name_label(ns, ())) for ns in sorted({w[0] for w in workloads})
        ),
        workloads=tuple(Workload(ns, name, make_labels(labels)) for ns, name, labels in workloads),
    )
    return UniverseBuilder(inventory, IdentityResolver()).build()


def index(universe: Universe, display: str) -> int:
    return next(i for i, m in enumerate(universe.members) if m.display == display)


def bits(universe: Universe, *displays: str) -> int:
    return bits_of(index(universe, d) for d in displays)


@pytest.mark.parametrize(
    ("key", "value", "cheaper_than"),
    [
        ("app.kubernetes.io/name", "api", ("app.kubernetes.io/instance", "api")),
        ("app", "api", ("tier", "backend")),
        ("tier", "backend", ("team", "payments")),
        ("team", "payments", ("version", "v2")),
        ("app", "api", ("app", "3.12.0")),
        ("app", "api", ("commit", "9fceb02")),
    ],
)
def test_key_costs_prefer_naming_keys_and_avoid_fragile_ones(
    key: str, value: str, cheaper_than: tuple[str, str]
) -> None:
    assert key_cost(key, value) < key_cost(*cheaper_than)


def test_fragile_values() -> None:
    assert key_cost("build", "x") == KEY_COST_FRAGILE
    assert key_cost("release", "2026-03-02") == KEY_COST_FRAGILE
    assert key_cost("release", "prod") < KEY_COST_FRAGILE


def test_subject_selector_is_smallest_exact_and_prefers_names() -> None:
    universe = universe_of(
        ("shop", "api", {"app": "api", "tier": "backend", "team": "x", "version": "1.2.3"}),
        ("shop", "worker", {"app": "worker", "tier": "backend", "team": "x"}),
        ("other", "api", {"app": "api"}),
    )
    selector, admitted = exact_selector(universe, bits(universe, "shop/api"), "shop")
    assert selector.key == "app=api"
    assert admitted == bits(universe, "shop/api")


def test_subject_needs_two_labels_when_one_is_shared() -> None:
    universe = universe_of(
        ("a", "web-blue", {"app": "web", "color": "blue"}),
        ("a", "web-green", {"app": "web", "color": "green"}),
        ("a", "api-blue", {"app": "api", "color": "blue"}),
    )
    selector, _ = exact_selector(universe, bits(universe, "a/web-blue"), "a")
    assert selector.key == "app=web,color=blue"


def test_volatile_inventory_labels_are_stripped_and_replicas_grouped() -> None:
    inventory = Inventory(
        workloads=(
            Workload("a", "web-1", make_labels({"app": "web", "pod-template-hash": "111"})),
            Workload("a", "web-2", make_labels({"app": "web", "pod-template-hash": "222"})),
        )
    )
    universe = UniverseBuilder(inventory, IdentityResolver()).build()
    assert [(m.labels, m.names) for m in universe.members] == [
        ((("app", "web"),), ("web-1", "web-2"))
    ]


def test_identities_map_onto_inventory_or_become_members_of_their_own() -> None:
    inventory = Inventory(
        workloads=(
            Workload("a", "web", make_labels({"app": "web", "example.kubernetes.io/x": "1"})),
            Workload("a", "api", make_labels({"app": "api"}), ips=("10.244.0.9",)),
        )
    )
    builder = UniverseBuilder(inventory, IdentityResolver())
    # Cilium drops some keys from identities: the workload whose labels include them matches.
    web = builder.resolve(Identity("pod", "a", make_labels({"app": "web"})))
    api_by_ip = builder.resolve(Identity("pod", "a", (), "10.244.0.9"))
    ghost = builder.resolve(Identity("pod", "a", make_labels({"app": "job"})), name="job")
    universe = builder.build()
    assert universe.members[web.bit_length() - 1].names == ("web",)
    assert universe.members[api_by_ip.bit_length() - 1].names == ("api",)
    assert universe.members[ghost.bit_length() - 1].observed_only


def test_peer_choice_never_admits_strangers_at_zero_budget() -> None:
    universe = universe_of(
        ("a", "x", {"app": "x", "tier": "client"}),
        ("a", "y", {"app": "y", "tier": "client"}),
        ("a", "z", {"app": "z", "tier": "client"}),
        ("a", "db", {"app": "db"}),
    )
    selector = PeerSelector(universe)
    choice = selector.choose(bits(universe, "a/x", "a/y"), "a", 0)
    assert [p.key for p in choice.peers] == ["<own namespace>/app In (x,y)"]
    assert choice.admitted == bits(universe, "a/x", "a/y")
    # A shared, specific label covering exactly the peers is preferred.
    choice = selector.choose(bits(universe, "a/x", "a/y", "a/z"), "a", 0)
    assert [p.key for p in choice.peers] == ["<own namespace>/tier=client"]


def test_peer_choice_uses_the_budget_for_fewer_terms() -> None:
    universe = universe_of(
        *(("a", n, {"app": n}) for n in ("p", "q", "r", "s")), ("a", "t", {"app": "t"})
    )
    selector = PeerSelector(universe)
    positives = bits(universe, "a/p", "a/q", "a/r", "a/s")
    assert selector.choose(positives, "a", 0).admitted == positives
    loose = selector.choose(positives, "a", 1)
    assert [p.key for p in loose.peers] == ["<own namespace>/<all>"]
    assert loose.admitted & ~positives == bits(universe, "a/t")


def test_generic_labels_are_not_used_to_group_unrelated_workloads() -> None:
    universe = universe_of(
        ("a", "x", {"app": "x", "app.kubernetes.io/managed-by": "Helm"}),
        ("a", "y", {"app": "y", "app.kubernetes.io/managed-by": "Helm"}),
        ("a", "db", {"app": "db"}),
    )
    choice = PeerSelector(universe).choose(bits(universe, "a/x", "a/y"), "b", 0)
    assert [p.key for p in choice.peers] == ["ns(kubernetes.io/metadata.name=a)/app In (x,y)"]


def test_peers_in_several_namespaces_share_one_term() -> None:
    universe = universe_of(
        ("a", "worker", {"app": "worker"}),
        ("b", "worker", {"app": "worker"}),
        ("c", "worker", {"app": "worker"}),
        ("c", "web", {"app": "web"}),
        ("d", "worker", {"app": "worker"}),
    )
    selector = PeerSelector(universe)
    choice = selector.choose(bits(universe, "a/worker", "b/worker"), "x", 0)
    assert [p.key for p in choice.peers] == ["ns(kubernetes.io/metadata.name In (a,b))/app=worker"]
    everywhere = bits(universe, "a/worker", "b/worker", "c/worker", "d/worker")
    choice = selector.choose(everywhere, "x", 0)
    assert [p.key for p in choice.peers] == ["ns(<all>)/app=worker"]


def test_flow_made_copies_of_a_workload_collapse_onto_the_manifest() -> None:
    manifest = make_labels({"app": "pricing", "tier": "backend", "example.kubernetes.io/x": "1"})
    inventory = Inventory(
        workloads=(
            Workload("a", "pricing", manifest),
            # What completing the inventory from Cilium flows adds: a label-filtered copy and
            # copies carrying a controller's per-revision label.
            Workload("a", "pricing", make_labels({"app": "pricing", "tier": "backend"})),
            Workload(
                "a",
                "pricing",
                make_labels({**dict(manifest), "rollouts-pod-template-hash": "6ccdb4d79d"}),
            ),
            Workload("a", "other", make_labels({"app": "other"})),
        )
    )
    builder = UniverseBuilder(inventory, IdentityResolver())
    revision = Identity(
        "pod",
        "a",
        make_labels(
            {"app": "pricing", "tier": "backend", "rollouts-pod-template-hash": "69f97b6c7"}
        ),
    )
    filtered = Identity("pod", "a", make_labels({"app": "pricing", "tier": "backend"}))
    assert builder.resolve(revision) == builder.resolve(filtered)
    universe = builder.build()
    assert sorted(m.labels for m in universe.members) == [(("app", "other"),), manifest]
