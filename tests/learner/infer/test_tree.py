from __future__ import annotations

from learner.infer.selectors import PeerSelector
from learner.infer.tree import tree_selectors
from learner.infer.universe import Member, Universe, bits_of


def member(name: str, name_key: str = "app", **labels: str) -> Member:
    return Member("shop", tuple(sorted({name_key: name, **labels}.items())), names=(name,))


# Heterogeneous labelling, as in real clusters: three peers named under three different keys,
# each with a canary twin that differs only in its track. Every pair of the labels the peers
# share also appears on some other pod, so only all three together tell them apart.
ROLE = {"tier": "web", "team": "blue"}
UNIVERSE = Universe(
    (
        member("p1", "app", track="stable", **ROLE),
        member("p2", "k8s-app", track="stable", **ROLE),
        member("p3", "app.kubernetes.io/name", track="stable", **ROLE),
        member("p1", "app", track="canary", **ROLE),
        member("p2", "k8s-app", track="canary", **ROLE),
        member("p3", "app.kubernetes.io/name", track="canary", **ROLE),
        member("n2", tier="web", team="red", track="stable"),
        member("n3", tier="db", team="blue", track="stable"),
    )
)
PEERS = bits_of([0, 1, 2])


def test_the_tree_finds_a_three_label_conjunction() -> None:
    selectors = tree_selectors(UNIVERSE, PEERS)
    wanted = (("team", "blue"), ("tier", "web"), ("track", "stable"))
    assert any(set(s.match_labels) == set(wanted) for s in selectors)
    for selector in selectors:
        assert UNIVERSE.selected(selector) & ~PEERS == 0, "leaves hold only peers"


def test_the_cover_uses_it_instead_of_one_term_per_peer() -> None:
    choice = PeerSelector(UNIVERSE).choose(PEERS, "shop", 0)
    assert len(choice.peers) == 1
    (peer,) = choice.peers
    assert peer.pods is not None and dict(peer.pods.match_labels) == {
        "team": "blue", "tier": "web", "track": "stable",
    }  # fmt: skip
    assert choice.admitted == PEERS


def test_names_under_one_key_stay_an_explicit_list() -> None:
    same_key = Universe(
        (
            member("p1", track="stable", **ROLE),
            member("p2", track="stable", **ROLE),
            member("p3", track="stable", **ROLE),
            member("p1", track="canary", **ROLE),
            *UNIVERSE.members[6:],
        )
    )
    peers = PeerSelector(same_key).choose(PEERS, "shop", 0).peers
    for peer in peers:  # the workloads are named, not described by their role labels
        assert peer.pods is not None
        keys = {k for k, _ in peer.pods.match_labels} | {r.key for r in peer.pods.match_expressions}
        assert "app" in keys


def test_nothing_to_learn_from_without_other_pods() -> None:
    alone = Universe(UNIVERSE.members[:3])
    assert tree_selectors(alone, bits_of([0, 1, 2])) == []
