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
    indices = list(iter_bits(scope))
    labelled = [universe.members[i].labels for i in indices]
    features = sorted({pair for labels in labelled for pair in labels})
    if positives.bit_count() < MIN_PEERS or not scope & ~positives or not features:
        return []
    # Imported here: scikit-learn takes a second to import and most runs never need it.
    from sklearn.tree import DecisionTreeClassifier

    column = {pair: j for j, pair in enumerate(features)}
    rows = []
    for labels in labelled:
        row = [0] * len(features)
        for pair in labels:
            row[column[pair]] = 1
        rows.append(row)
    targets = [(positives >> i) & 1 for i in indices]
    model = DecisionTreeClassifier(max_depth=MAX_DEPTH, random_state=0).fit(rows, targets)
    tree = model.tree_
    positive_class = list(model.classes_).index(1)
    leaves = model.apply(rows)
    groups: dict[int, list[int]] = {}
    for position, leaf in enumerate(leaves):
        share = tree.value[leaf][0]
        if targets[position] and share[positive_class] == share.sum():
            groups.setdefault(int(leaf), []).append(indices[position])
    others = scope & ~positives
    found: dict[LabelSelector, None] = {}
    for members in groups.values():
        common = set.intersection(*(set(universe.members[i].labels) for i in members))
        selector = _trimmed(universe, common, others)
        if selector is not None:
            found[selector] = None
    return sorted(found)


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
