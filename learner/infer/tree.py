"""Label conjunctions read off a decision tree, as extra peer-selector candidates.

The set cover in :mod:`learner.infer.selectors` tries every label and pair of labels of the peers.
Real peer groups are sometimes only told apart by three or more labels at once (Helm charts
label every pod ``app.kubernetes.io/name``, ``instance`` and ``component``): then the cover
falls back to one exact selector per peer. A decision tree over one-hot ``key=value`` features,
fitted to separate the peers from the other workloads of their namespaces, finds such
groups of peers that labels alone tell apart from everything else: each leaf holding only peers
is such a group. Its candidate selector is what the group's pods have in common, trimmed to the
fewest labels that still admit no other workload of those namespaces.

Only labels a pod has are used (a selector that says what a pod *is*, never what it is not,
cannot admit the next unrelated workload someone deploys), and every candidate is re-checked
against the inventory by the set cover, so the tree proposes and never decides.
"""

from __future__ import annotations

from learner.infer.label_cost import key_cost
from learner.infer.universe import Universe, iter_bits
from learner.model.policy import LabelSelector

MAX_DEPTH = 5
MIN_PEERS = 3


def tree_selectors(universe: Universe, positives: int) -> list[LabelSelector]:
    """Candidate selectors for ``positives`` (a bitset of universe members)."""
    namespaces = {universe.members[i].namespace for i in iter_bits(positives)}
    scope = universe.in_namespaces(namespaces)
    features = sorted({pair for i in iter_bits(scope) for pair in universe.members[i].labels})
    if positives.bit_count() < MIN_PEERS or not scope & ~positives or not features:
        return []
    columns = [universe.label_bits[pair] & scope for pair in features]
    others = scope & ~positives
    found: dict[LabelSelector, None] = {}
    for leaf in _pure_leaves(scope, positives & scope, columns):
        common = set.intersection(*(set(universe.members[i].labels) for i in iter_bits(leaf)))
        selector = _trimmed(universe, common, others)
        if selector is not None:
            found[selector] = None
    return sorted(found)


def _pure_leaves(rows: int, positives: int, columns: list[int]) -> list[int]:
    """The leaves holding only positives of a CART tree (Gini impurity, depth MAX_DEPTH) that
    splits ``rows`` on whether a row has a feature (``columns``: each feature's rows).

    Rows and columns are bitsets, so a candidate split costs two popcounts: the tree over a few
    hundred workloads takes milliseconds, where importing scikit-learn for it took 1.6 s and
    about 100 MB."""
    leaves: list[int] = []
    nodes = [(rows, 0)]
    while nodes:
        node, depth = nodes.pop()
        size, hits = node.bit_count(), (node & positives).bit_count()
        if hits == size:
            leaves.append(node)
            continue
        if hits == 0 or depth == MAX_DEPTH:
            continue
        split = _best_split(node, size, hits, positives, columns)
        if split is None:
            continue
        nodes.append((node & ~split, depth + 1))
        nodes.append((node & split, depth + 1))
    return sorted(leaves)


def _best_split(node: int, size: int, hits: int, positives: int, columns: list[int]) -> int | None:
    """The column that splits ``node`` with the least weighted Gini impurity (the first such
    column on ties), or None when every column holds all of ``node`` or none of it.

    The weighted impurity n_l·g_l + n_r·g_r is n − (p_l² + q_l²)/n_l − (p_r² + q_r²)/n_r, so the
    best split has the largest sum of the two fractions, compared exactly as integers."""
    best: int | None = None
    best_top, best_bottom = -1, 1
    for column in columns:
        left = node & column
        left_size = left.bit_count()
        if left_size == 0 or left_size == size:
            continue
        left_hits = (left & positives).bit_count()
        right_size, right_hits = size - left_size, hits - left_hits
        left_sum = left_hits**2 + (left_size - left_hits) ** 2
        right_sum = right_hits**2 + (right_size - right_hits) ** 2
        top = left_sum * right_size + right_sum * left_size
        bottom = left_size * right_size
        if top * best_bottom > best_top * bottom:
            best, best_top, best_bottom = left, top, bottom
    return best


def _trimmed(universe: Universe, labels: set[tuple[str, str]], others: int) -> LabelSelector | None:
    """The cheapest-first subset of ``labels`` that still selects none of ``others``."""
    if not labels or universe.selected(LabelSelector(match_labels=tuple(sorted(labels)))) & others:
        return None
    kept = set(labels)
    for pair in sorted(labels, key=lambda kv: (-key_cost(*kv), kv)):
        trial = kept - {pair}
        if (
            trial
            and not universe.selected(LabelSelector(match_labels=tuple(sorted(trial)))) & others
        ):
            kept = trial
    return LabelSelector(match_labels=tuple(sorted(kept)))
