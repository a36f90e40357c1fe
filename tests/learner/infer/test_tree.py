from __future__ import annotations

import math
import random
import subprocess
import sys
from pathlib import Path

from learner.infer.selectors import PeerSelector
from learner.infer.tree import MAX_DEPTH, _best_split, _pure_leaves, tree_selectors
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
ROOT = Path(__file__).resolve().parents[3]


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


def _weighted_gini(rows: list[int], positives: set[int], having: set[int]) -> float:
    """Reference: n_l·gini_l + n_r·gini_r, from lists of rows, in floats."""
    total = 0.0
    for side in ([r for r in rows if r in having], [r for r in rows if r not in having]):
        if side:
            share = sum(r in positives for r in side) / len(side)
            total += len(side) * (1 - share**2 - (1 - share) ** 2)
    return total


def test_each_split_is_the_one_with_the_least_weighted_gini_the_first_on_ties() -> None:
    rng = random.Random(5)
    for _ in range(300):
        size = rng.randint(2, 30)
        rows = [r for r in range(size) if rng.random() < 0.8] or [0, 1]
        node = bits_of(rows)
        positives = {r for r in rows if rng.random() < 0.5}
        hits = len(positives)
        columns = [bits_of(r for r in range(size) if rng.random() < 0.5) for _ in range(8)]
        split = _best_split(node, len(rows), hits, bits_of(positives), columns)
        scores = []
        for column in columns:
            having = {r for r in rows if column >> r & 1}
            if 0 < len(having) < len(rows):
                scores.append((_weighted_gini(rows, positives, having), column))
        if not scores:
            assert split is None
            continue
        least = min(score for score, _ in scores)
        first = next(column for score, column in scores if math.isclose(score, least))
        assert split == node & first


def test_leaves_are_the_positive_only_nodes_of_a_depth_limited_tree() -> None:
    # Eight rows, positives {0, 1, 2}; feature a holds 0-3, feature b holds 0-2 and 5.
    rows, positives = bits_of(range(8)), bits_of([0, 1, 2])
    a, b = bits_of([0, 1, 2, 3]), bits_of([0, 1, 2, 5])
    assert _pure_leaves(rows, positives, [a, b]) == [bits_of([0, 1, 2])]
    # Nothing tells the positives apart: no leaf holds only positives.
    assert _pure_leaves(rows, positives, [bits_of([0, 4])]) == []
    assert _pure_leaves(rows, positives, []) == []


def test_the_tree_stops_at_its_depth() -> None:
    # Feature i holds positive i alone: each level peels one positive off, the first on ties,
    # until the depth runs out; the positives left share an impure leaf with the negative.
    count = MAX_DEPTH + 3
    rows, positives = bits_of(range(count + 1)), bits_of(range(count))
    columns = [1 << i for i in range(count)]
    assert _pure_leaves(rows, positives, columns) == [1 << i for i in range(MAX_DEPTH)]


def test_fitting_the_tree_imports_no_machine_learning_library() -> None:
    """scikit-learn took 1.6 s and ~100 MB to import for a depth-5 tree over a few hundred
    rows: every run whose peers needed it paid that."""
    code = (
        "import sys\n"
        "from tests.learner.infer.test_tree import PEERS, UNIVERSE\n"
        "from learner.infer.tree import tree_selectors\n"
        "assert tree_selectors(UNIVERSE, PEERS)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy', 'numpy')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "[]"
