"""Label selectors for policy subjects and peers, chosen against what exists.

Selectors are judged against the :class:`~learner.infer.universe.Universe`, every workload
the learner knows of, indexed as bitsets.

Subjects get the cheapest label set that selects exactly their pods in their namespace.
Peers get a greedy weighted set cover: candidate terms (a pod selector in one or more
namespaces) that admit no unobserved workload, unless ``budget`` allows some, picked by
positives covered per unit of cost (:mod:`learner.infer.label_cost`).
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from learner.infer.label_cost import NAME_KEYS, key_cost
from learner.infer.tree import tree_selectors
from learner.infer.universe import Member, Universe, bits_of, iter_bits
from learner.model.flow import Labels
from learner.model.identity import Identity, IdentityResolver
from learner.model.inventory import ContainerPort, Inventory, Workload
from learner.model.policy import (
    NAMESPACE_NAME_LABEL,
    LabelSelector,
    Operator,
    PodPeer,
    Requirement,
    namespace_name_selector,
)

PER_REVISION_KEY = re.compile(r"(^|[./-])(hash|pod-name|pod-index|revision)$")
"""Labels a controller puts on pods per revision or per pod, beyond the template's."""

EXPRESSION_COST = 2.0
TERM_COST = 1.0
ALL_PODS_COST = 0.25
EXTRA_NAMESPACE_COST = 0.15
ALL_NAMESPACES_COST = 1.0
ALL_NAMESPACES_FROM = 3
OVERREACH_COST = 1.0
"""Cost of admitting one unobserved workload, when the budget allows it at all."""
MAX_SUBJECT_KEYS = 4
MAX_PEER_KEYS = 2
TREE_FROM_TERMS = 3
"""Ask the decision tree (:mod:`learner.infer.tree`) for conjunctions when a cover needs this many terms."""
ALL = "*"
"""Namespace scope meaning every namespace."""


@functools.lru_cache(maxsize=65536)
def selector_cost(selector: LabelSelector | None) -> float:
    if selector is None or selector.is_empty:
        return ALL_PODS_COST
    cost = sum(key_cost(k, v) for k, v in selector.match_labels)
    for requirement in selector.match_expressions:
        if requirement.operator is Operator.IN:
            cost += max(key_cost(requirement.key, v) for v in requirement.values)
        else:
            cost += EXPRESSION_COST
    return cost


class UniverseBuilder:
    """Builds the universe from an inventory and maps flow identities onto its members.

    An identity maps to the inventory workload with the same namespace and stable labels;
    failing that, to every workload whose labels include the identity's (Cilium reports only
    identity-relevant labels); failing that, it becomes a member of its own. Pods reported
    without labels are matched by IP.
    """

    def __init__(self, inventory: Inventory, resolver: IdentityResolver) -> None:
        self._resolver = resolver
        grouped: dict[tuple[str, Labels], tuple[list[str], set[ContainerPort]]] = {}
        self._ip_index: dict[str, tuple[str, Labels]] = {}
        for workload, labels in _distinct_workloads(inventory, resolver):
            names, ports = grouped.setdefault((workload.namespace, labels), ([], set()))
            if workload.name not in names:
                names.append(workload.name)
            ports.update(workload.ports)
            for ip in workload.ips:
                self._ip_index.setdefault(ip, (workload.namespace, labels))
        self._members: list[Member] = [
            Member(ns, labels, tuple(sorted(names)), tuple(sorted(ports)))
            for (ns, labels), (names, ports) in sorted(grouped.items())
        ]
        self._index: dict[tuple[str, Labels], int] = {
            (m.namespace, m.labels): i for i, m in enumerate(self._members)
        }
        self._by_namespace: dict[str, list[int]] = {}
        for i, m in enumerate(self._members):
            self._by_namespace.setdefault(m.namespace, []).append(i)
        self._resolved: dict[Identity, int] = {}
        self._namespace_labels = {ns.name: ns.labels for ns in inventory.namespaces}

    def resolve(self, identity: Identity, name: str = "", ip: str = "") -> int:
        """The member bits standing for a pod identity (adding a member when none fits)."""
        found = self._resolved.get(identity)
        if found is not None:
            return found
        bits = self._match(identity, ip)
        if not bits:
            index = len(self._members)
            self._members.append(
                Member(identity.namespace, identity.labels, (name,) if name else (), (), True)
            )
            self._index[(identity.namespace, identity.labels)] = index
            self._by_namespace.setdefault(identity.namespace, []).append(index)
            bits = 1 << index
        self._resolved[identity] = bits
        return bits

    def _match(self, identity: Identity, ip: str) -> int:
        exact = self._index.get((identity.namespace, identity.labels))
        if exact is not None:
            return 1 << exact
        if not identity.labels:
            known = self._ip_index.get(identity.address or ip)
            if known is not None and known[0] == identity.namespace:
                return 1 << self._index[known]
            return 0
        wanted = set(identity.labels)
        found = self._covering(identity.namespace, wanted)
        if not found:
            # Controllers add revision labels the manifests lack (``rollouts-pod-template-hash``):
            # without them the identity may still be a manifest's workload.
            found = self._covering(
                identity.namespace, {kv for kv in wanted if not PER_REVISION_KEY.search(kv[0])}
            )
        return found

    def _covering(self, namespace: str, wanted: set[tuple[str, str]]) -> int:
        if not wanted:
            return 0
        return bits_of(
            i
            for i in self._by_namespace.get(namespace, ())
            if not self._members[i].observed_only and wanted <= set(self._members[i].labels)
        )

    def member_for_ip(self, ip: str) -> int:
        known = self._ip_index.get(ip)
        return 1 << self._index[known] if known is not None else 0

    def build(self, extra_namespace_labels: Mapping[str, Labels] = {}) -> Universe:
        labels = dict(extra_namespace_labels)
        labels.update(self._namespace_labels)
        return Universe(tuple(self._members), labels)


def _distinct_workloads(
    inventory: Inventory, resolver: IdentityResolver
) -> list[tuple[Workload, Labels]]:
    """Selectable workloads with their stable labels, without the copies flows add.

    An inventory completed from the flows lists a workload twice when the CNI reports only
    some of its labels (Cilium drops keys such as ``*.kubernetes.io/*``) or labels a
    controller adds per revision (``rollouts-pod-template-hash``): same namespace and name.
    Only the manifest's copy is kept, or selectors would tell copies of one workload apart.
    """
    found = [
        (w, resolver.stable_labels(w.labels))
        for w in sorted(inventory.workloads)
        if not w.host_network
    ]
    by_name: dict[tuple[str, str], list[frozenset[tuple[str, str]]]] = {}
    for workload, labels in found:
        by_name.setdefault((workload.namespace, workload.name), []).append(frozenset(labels))
    return [
        (workload, labels)
        for workload, labels in found
        if not any(
            _copy_of(frozenset(labels), other)
            for other in by_name[(workload.namespace, workload.name)]
        )
    ]


def _copy_of(labels: frozenset[tuple[str, str]], other: frozenset[tuple[str, str]]) -> bool:
    """``labels`` (same namespace and name) are a partial or revision-labelled copy of ``other``."""
    if labels < other:
        # Unless the fuller one only adds revision labels: then it is the copy.
        return not all(PER_REVISION_KEY.search(k) for k, _ in other - labels)
    template = frozenset(kv for kv in labels if not PER_REVISION_KEY.search(kv[0]))
    return template != labels and template <= other and labels != other


def exact_selector(universe: Universe, target: int, namespace: str) -> tuple[LabelSelector, int]:
    """The cheapest selector admitting exactly ``target`` among ``namespace``'s members.

    Plain labels first; ``DoesNotExist`` for keys only a neighbour carries when labels alone
    cannot tell the target from a neighbour whose labels include the target's. Returns the
    selector and what it admits in the namespace: ``target``, unless nothing can tell them
    apart (then the admitted set is wider).
    """
    scope = universe.ns_bits.get(namespace, 0)
    members = [universe.members[i] for i in iter_bits(target)]
    common = set(members[0].labels)
    for member in members[1:]:
        common &= set(member.labels)
    target_keys = frozenset(k for m in members for k, _ in m.labels)
    pool = sorted(common, key=lambda kv: (key_cost(*kv), kv))
    combos: list[tuple[tuple[str, str], ...]] = [
        combo
        for size in range(1, min(len(pool), MAX_SUBJECT_KEYS) + 1)
        for combo in itertools.combinations(pool, size)
    ]
    combos.append(tuple(pool))
    best: tuple[float, LabelSelector, int] | None = None
    for combo in combos:
        label_cost = sum(key_cost(*kv) for kv in combo)
        if best is not None and label_cost >= best[0]:
            continue
        bits = scope
        for pair in combo:
            bits &= universe.label_bits[pair]
        absent: tuple[str, ...] = ()
        if bits != target:
            absent, bits = _absent_keys(universe, bits, target, target_keys)
            if bits != target:
                continue
        cost = label_cost + EXPRESSION_COST * len(absent)
        if best is None or cost < best[0]:
            expressions = tuple(Requirement(k, Operator.DOES_NOT_EXIST) for k in absent)
            best = (cost, LabelSelector(tuple(sorted(combo)), expressions), bits)
    if best is not None:
        return best[1], best[2]
    admitted = scope
    for pair in pool:
        admitted &= universe.label_bits[pair]
    return LabelSelector(match_labels=tuple(sorted(pool))), admitted


def _absent_keys(
    universe: Universe, admitted: int, target: int, target_keys: frozenset[str]
) -> tuple[tuple[str, ...], int]:
    """Keys only the unwanted members carry, greedily, to exclude them with ``DoesNotExist``."""
    absent: list[str] = []
    others = admitted & ~target
    while others:
        counts: dict[str, int] = {}
        for index in iter_bits(others):
            for key, _ in universe.members[index].labels:
                if key not in target_keys:
                    counts[key] = counts.get(key, 0) + 1
        if not counts:
            break
        key = min(counts, key=lambda k: (-counts[k], k))
        absent.append(key)
        others &= ~universe.key_bits[key]
        admitted &= ~universe.key_bits[key]
    return tuple(sorted(absent)), admitted


@dataclass(frozen=True, slots=True)
class _Candidate:
    pods: LabelSelector | None
    namespaces: tuple[str, ...]
    """Namespace names, or ``(ALL,)`` for every namespace."""
    bits: int
    cost: float

    def order(self) -> tuple[str, str]:
        """A deterministic tie-break, computed only when scores tie."""
        return (",".join(self.namespaces), self.pods.key if self.pods is not None else "")


@dataclass(frozen=True, slots=True)
class PeerChoice:
    """Pod peers covering the positives, and everything they admit."""

    peers: tuple[PodPeer, ...]
    admitted: int


class PeerSelector:
    """Chooses pod peers for rules. Exact selectors are cached per member."""

    def __init__(self, universe: Universe) -> None:
        self.universe = universe
        self._exact: dict[int, tuple[LabelSelector | None, int]] = {}
        # Pods seen without labels (real captures show pods behind an L7 proxy that way):
        # their real labels are unknown, so only a whole-namespace peer surely covers them.
        self.unknown = bits_of(i for i, m in enumerate(universe.members) if not m.labels)
        self._chosen: dict[tuple[int, str, int], PeerChoice] = {}

    def exact(self, index: int) -> tuple[LabelSelector | None, int]:
        found = self._exact.get(index)
        if found is None:
            member = self.universe.members[index]
            if (1 << index) & self.unknown:
                found = (None, self.universe.ns_bits.get(member.namespace, 1 << index))
            else:
                found = exact_selector(self.universe, 1 << index, member.namespace)
            self._exact[index] = found
        return found

    def choose(self, positives: int, own_namespace: str, budget: int) -> PeerChoice:
        """Peers admitting every member in ``positives`` and at most ``budget`` others, unless
        even exact selectors cannot avoid more (then the unavoidable ones are admitted)."""
        # Many subjects share a peer group (every scraped workload has the same scraper).
        key = (positives, own_namespace, budget)
        found = self._chosen.get(key)
        if found is None:
            found = self._chosen[key] = self._choose(positives, own_namespace, budget)
        return found

    def _choose(self, positives: int, own_namespace: str, budget: int) -> PeerChoice:
        candidates = self._candidates(positives, budget)
        chosen = self._cover(candidates, positives, budget)
        if len(chosen) >= TREE_FROM_TERMS:
            # Many terms: maybe a conjunction of three or more labels says it in one.
            extra = self._candidates(positives, budget, tree_selectors(self.universe, positives))
            if extra:
                again = self._cover(candidates + extra, positives, budget)
                merged, merged_again = (_merge_values(self.universe, c) for c in (chosen, again))
                if (len(merged_again), _total_cost(again)) < (len(merged), _total_cost(chosen)):
                    chosen = again
        admitted = 0
        for candidate in chosen:
            admitted |= candidate.bits
        peers = [_as_peer(c, own_namespace) for c in _merge_values(self.universe, chosen)]
        return PeerChoice(tuple(sorted(set(peers), key=peer_sort_key)), admitted)

    def _cover(self, candidates: list[_Candidate], positives: int, budget: int) -> list[_Candidate]:
        """Greedy weighted set cover of ``positives``, within the overreach ``budget``."""
        chosen: list[_Candidate] = []
        uncovered = positives
        admitted = 0
        while uncovered:
            best: tuple[tuple[float, int, float], _Candidate] | None = None
            spent = (admitted & ~positives).bit_count()
            for candidate in candidates:
                gain = (self.covered(candidate) & uncovered).bit_count()
                if not gain:
                    continue
                extra = (candidate.bits & ~positives & ~admitted).bit_count() if budget else 0
                if extra and spent + extra > budget:
                    continue
                cost = candidate.cost + OVERREACH_COST * extra
                score = (-gain / cost, extra, cost)
                if (
                    best is None
                    or score < best[0]
                    or (score == best[0] and candidate.order() < best[1].order())
                ):
                    best = (score, candidate)
            if best is None:
                # Only reachable when exact selectors themselves overreach: take them.
                index = next(iter_bits(uncovered))
                selector, bits = self.exact(index)
                member = self.universe.members[index]
                pick = _Candidate(selector, (member.namespace,), bits, 0.0)
            else:
                pick = best[1]
            chosen.append(pick)
            uncovered &= ~self.covered(pick)
            admitted |= pick.bits
        return _drop_redundant(chosen, positives, self.unknown)

    def covered(self, candidate: _Candidate) -> int:
        """The members a candidate surely selects: pods of unknown labels only by namespace."""
        return candidate.bits if candidate.pods is None else candidate.bits & ~self.unknown

    def _candidates(
        self,
        positives: int,
        budget: int,
        proposed: Iterable[LabelSelector] | None = None,
    ) -> list[_Candidate]:
        """Candidate terms: every label and pair of labels of the positives and their exact
        selectors, or only the ``proposed`` selectors when given."""
        universe = self.universe
        pos_namespaces = sorted({universe.members[i].namespace for i in iter_bits(positives)})
        selectors: dict[LabelSelector | None, None] = {}
        if proposed is not None:
            selectors.update(dict.fromkeys(proposed))
        else:
            selectors[None] = None
            for index in iter_bits(positives):
                selectors[self.exact(index)[0]] = None
                labels = universe.members[index].labels
                for size in range(1, min(len(labels), MAX_PEER_KEYS) + 1):
                    for combo in itertools.combinations(labels, size):
                        selectors[LabelSelector(match_labels=combo)] = None
        candidates: list[_Candidate] = []
        for selector in selectors:
            selected = universe.selected(selector)
            base = TERM_COST + selector_cost(selector)
            pure: list[str] = []
            pure_bits = 0
            for namespace in pos_namespaces:
                in_ns = selected & universe.ns_bits.get(namespace, 0)
                if not in_ns & positives:
                    continue
                if selector is None and _popcount(universe.ns_bits[namespace]) < 2:
                    continue  # a lone workload is better named by its labels
                if in_ns & ~positives:
                    if budget > 0 and _popcount(in_ns & ~positives) <= budget:
                        candidates.append(_Candidate(selector, (namespace,), in_ns, base))
                    continue
                pure.append(namespace)
                pure_bits |= in_ns
            if pure:
                cost = base + EXTRA_NAMESPACE_COST * (len(pure) - 1)
                candidates.append(_Candidate(selector, tuple(pure), pure_bits, cost))
            if len(pos_namespaces) > 1 or selector is None:
                extra = _popcount(selected & ~positives)
                if extra <= budget and selected & positives:
                    # Listing every namespace the selector matches anyway says the same at
                    # greater length: from three namespaces on, "any namespace" is cheaper.
                    wide = (
                        not extra
                        and len(pure) >= ALL_NAMESPACES_FROM
                        and _names_workloads(selector)
                    )
                    cost = base + (EXTRA_NAMESPACE_COST if wide else ALL_NAMESPACES_COST)
                    candidates.append(_Candidate(selector, (ALL,), selected, cost))
        return candidates


def _total_cost(chosen: list[_Candidate]) -> float:
    return sum(c.cost for c in chosen)


def _popcount(bits: int) -> int:
    return bits.bit_count()


def _names_workloads(selector: LabelSelector | None) -> bool:
    """All pods, or pods picked by workload-naming keys only (``app=worker``), the selectors
    safe to apply in every namespace."""
    if selector is None:
        return True
    keys = [k for k, _ in selector.match_labels] + [r.key for r in selector.match_expressions]
    return all(k in NAME_KEYS for k in keys)


def _drop_redundant(chosen: list[_Candidate], positives: int, unknown: int) -> list[_Candidate]:
    """Remove terms whose positives the others already cover (latest picks go first)."""
    kept = list(chosen)
    for candidate in reversed(chosen):
        others = 0
        for other in kept:
            if other is not candidate:
                others |= other.bits if other.pods is None else other.bits & ~unknown
        if candidate.bits & positives & ~others == 0 and len(kept) > 1:
            kept.remove(candidate)
    return kept


def _merge_values(universe: Universe, chosen: list[_Candidate]) -> list[_Candidate]:
    """Fold terms in the same namespaces whose selectors differ only in one label's value into
    one ``key In (...)`` term, when that admits exactly what the terms admitted together."""
    result: list[_Candidate] = []
    groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[_Candidate]] = {}
    for candidate in chosen:
        pods = candidate.pods
        if pods is None or not pods.match_labels:
            result.append(candidate)
            continue
        keys = tuple(k for k, _ in pods.match_labels)
        groups.setdefault((candidate.namespaces, keys), []).append(candidate)
    for (namespaces, keys), members in groups.items():
        scope = universe.all_bits if namespaces == (ALL,) else universe.in_namespaces(namespaces)
        remaining = list(members)
        for key in sorted(keys, key=lambda k: (key_cost(k, ""), k)):
            buckets: dict[Labels, list[_Candidate]] = {}
            for candidate in remaining:
                assert candidate.pods is not None
                rest = tuple(kv for kv in candidate.pods.match_labels if kv[0] != key)
                buckets.setdefault(rest, []).append(candidate)
            remaining = []
            for rest, bucket in buckets.items():
                merged = _merged(universe, scope, namespaces, key, rest, bucket)
                if merged is None:
                    remaining.extend(bucket)
                else:
                    result.append(merged)
        result.extend(remaining)
    return result


def _merged(
    universe: Universe,
    scope: int,
    namespaces: tuple[str, ...],
    key: str,
    rest: Labels,
    bucket: list[_Candidate],
) -> _Candidate | None:
    if len(bucket) < 2:
        return None
    values: set[str] = set()
    expressions: set[Requirement] = set()
    bits = 0
    for candidate in bucket:
        assert candidate.pods is not None
        values.add(dict(candidate.pods.match_labels)[key])
        expressions.update(candidate.pods.match_expressions)
        bits |= candidate.bits
    selector = LabelSelector(
        match_labels=rest,
        match_expressions=tuple(
            sorted({Requirement(key, Operator.IN, tuple(sorted(values))), *expressions})
        ),
    )
    if universe.selected(selector) & scope != bits:
        return None
    return _Candidate(selector, namespaces, bits, 0.0)


def _as_peer(candidate: _Candidate, own_namespace: str) -> PodPeer:
    if candidate.namespaces == (ALL,):
        return PodPeer(pods=candidate.pods, namespaces=LabelSelector())
    if candidate.namespaces == (own_namespace,):
        return PodPeer(pods=candidate.pods or LabelSelector(), namespaces=None)
    if len(candidate.namespaces) == 1:
        return PodPeer(
            pods=candidate.pods, namespaces=namespace_name_selector(candidate.namespaces[0])
        )
    names_in = Requirement(NAMESPACE_NAME_LABEL, Operator.IN, tuple(sorted(candidate.namespaces)))
    return PodPeer(pods=candidate.pods, namespaces=LabelSelector(match_expressions=(names_in,)))


def peer_sort_key(peer: object) -> tuple[int, str]:
    """A total order over peers of any kind (their dataclass order cannot compare None)."""
    kind = type(peer).__name__
    key = getattr(peer, "key", "")
    return ({"PodPeer": 0, "EntityPeer": 1, "CIDRPeer": 2}.get(kind, 3), str(key))
