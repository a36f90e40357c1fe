"""Compile policy documents once, then ask whether traffic is allowed.

:func:`compile_policies` hands each document to the parser registered for its ``apiVersion``
and ``kind`` (:func:`register_dialect`) and indexes the resulting targets by namespace and by
one label of their pod selector. :meth:`PolicySet.evaluate` then decides a connection:

1. Egress is decided at the source, ingress at the destination. An end that is not a pod is
   never isolated, so its side allows everything.
2. A pod no isolating target selects in a direction is not isolated there: allowed.
3. Otherwise tiers are visited in order. Within a tier the matching rules are taken in rule
   order: the first decides (allow, deny, or pass on to the next tier) together with every
   other matching rule of the same order and action. A tier in which nothing matched denies
   when one of its targets isolates the pod, and passes on otherwise.
4. Ingress from the destination's own node (``host``) is always allowed.

Kubernetes NetworkPolicy compiles to one tier of allow rules of one order, so this is exactly
"isolated pods get the union of what the selecting policies allow"; the connection needs both
sides. Decisions keep the targets, rules and policies that decided, for explanations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from learner.model.errors import PolicyError
from learner.model.flow import EndpointKind, Labels
from learner.semantics import calico, cilium, k8s  # noqa: F401  (each registers its dialect)
from learner.semantics.dialects import DIALECTS, PolicyDocument, PolicyParser
from learner.semantics.matchers import (
    Action,
    CompiledPolicy,
    PolicyRef,
    RuleDirection,
    RuleMatcher,
    RuleRef,
    Target,
    Tier,
)
from learner.semantics.ports import PortProtocolMatcher
from learner.semantics.traffic import Traffic, TrafficPeer

KNOWN_POLICY_KINDS: frozenset[str] = frozenset(
    {
        "NetworkPolicy",
        "CiliumNetworkPolicy",
        "CiliumClusterwideNetworkPolicy",
        "GlobalNetworkPolicy",
        "StagedNetworkPolicy",
        "StagedGlobalNetworkPolicy",
        "StagedKubernetesNetworkPolicy",
        "AdminNetworkPolicy",
        "BaselineAdminNetworkPolicy",
        "ClusterNetworkPolicy",
    }
)
"""Kinds that decide traffic in some CNI: always treated as policies, so an unsupported one is
reported rather than silently ignored."""


def dialect_for(api_version: str, kind: str) -> PolicyParser | None:
    found = DIALECTS.get((api_version, kind))
    if found is None:
        found = DIALECTS.get((api_version.partition("/")[0], kind))
    return found


def is_policy_kind(kind: str) -> bool:
    """Whether a document of ``kind`` is a policy (known, registered, or a misspelling of one)."""
    if kind in KNOWN_POLICY_KINDS or any(kind == k for _, k in DIALECTS):
        return True
    return "networkpolicy" in kind.lower() and not kind.endswith("List")


def _supported_versions(kind: str) -> list[str]:
    return sorted(version for version, k in DIALECTS if k == kind)


def parse_document(document: PolicyDocument) -> CompiledPolicy:
    """Compile one document with its dialect's parser."""
    api_version, kind = document.api_version, document.kind
    if not kind:
        raise document.error("kind", "missing kind")
    parser = dialect_for(api_version, kind)
    if parser is not None:
        return parser(document)
    supported = _supported_versions(kind)
    if supported:
        raise document.error(
            "apiVersion",
            f"unsupported apiVersion {api_version!r} for {kind} "
            f"(supported: {', '.join(supported)})",
        )
    known = {k.lower(): k for k in (*KNOWN_POLICY_KINDS, *(k for _, k in DIALECTS))}
    if kind.lower() in known and known[kind.lower()] != kind:
        raise document.error("kind", f"unknown kind {kind!r} (did you mean {known[kind.lower()]}?)")
    if kind in KNOWN_POLICY_KINDS:
        raise document.error("kind", f"{api_version} {kind} cannot be evaluated yet")
    raise document.error("kind", f"unknown policy kind {kind!r}")


def compile_policies(
    documents: Iterable[PolicyDocument], *, errors: list[PolicyError] | None = None
) -> PolicySet:
    """Compile ``documents`` into one :class:`PolicySet`.

    A bad document raises :class:`PolicyError`; with ``errors`` given, it is appended there
    instead and the other documents still compile.
    """
    compiled: list[CompiledPolicy] = []
    for document in documents:
        try:
            compiled.append(parse_document(document))
        except PolicyError as exc:
            if errors is None:
                raise
            errors.append(exc)
    return PolicySet(compiled)


# --- decisions -------------------------------------------------------------------------------


class Outcome:
    """Why a direction decided as it did (string constants, for messages and JSON)."""

    NOT_A_POD = "not a pod"
    NOT_ISOLATED = "not isolated"
    OWN_NODE = "from the pod's own node"
    RULE = "rule"
    NO_RULE = "no rule allows"


@dataclass(frozen=True, slots=True)
class DirectionResult:
    """The verdict of one side of a connection."""

    direction: RuleDirection
    subject: TrafficPeer
    """The end the direction is enforced at (source for egress, destination for ingress)."""
    allowed: bool
    outcome: str
    """An :class:`Outcome` value."""
    targets: tuple[Target, ...] = ()
    """The deciding targets: those whose rules decided, or, when no rule allowed, those that
    isolate the subject."""
    rules: tuple[RuleRef, ...] = ()
    """The deciding rules (empty when no rule matched)."""

    @property
    def isolated(self) -> bool:
        return self.outcome in (Outcome.RULE, Outcome.NO_RULE)

    @property
    def policies(self) -> tuple[PolicyRef, ...]:
        """The policies involved, sorted."""
        found = {rule.policy for rule in self.rules}
        if not found:
            found = {source for target in self.targets for source in target.sources}
        return tuple(sorted(found))

    @property
    def reason(self) -> str:
        side = self.direction.lower()
        names = ", ".join(p.key for p in self.policies)
        if self.outcome == Outcome.NOT_A_POD:
            return f"{side} allowed: {self.subject.key} is not a pod"
        if self.outcome == Outcome.NOT_ISOLATED:
            return f"{side} allowed: no policy isolates {self.subject.key} for {side}"
        if self.outcome == Outcome.OWN_NODE:
            return f"{side} allowed: traffic from the pod's own node is always allowed"
        if self.outcome == Outcome.RULE:
            verdict = "allowed" if self.allowed else "denied"
            return f"{side} {verdict} by " + ", ".join(r.key for r in self.rules)
        return f"{side} denied: {self.subject.key} is isolated for {side} by {names} and no rule allows it"


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a connection is allowed: it needs both its egress and its ingress side."""

    traffic: Traffic
    egress: DirectionResult
    ingress: DirectionResult

    @property
    def allowed(self) -> bool:
        return self.egress.allowed and self.ingress.allowed

    @property
    def denied_by(self) -> tuple[DirectionResult, ...]:
        """The sides that deny (egress first)."""
        return tuple(side for side in (self.egress, self.ingress) if not side.allowed)

    @property
    def policies(self) -> tuple[PolicyRef, ...]:
        """The policies that decided: those of the denying sides, or of both when allowed."""
        sides = self.denied_by or (self.egress, self.ingress)
        return tuple(sorted({p for side in sides for p in side.policies}))

    @property
    def reason(self) -> str:
        if self.allowed:
            return f"allowed ({self.egress.reason}; {self.ingress.reason})"
        return "denied (" + "; ".join(side.reason for side in self.denied_by) + ")"


# --- the compiled set ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _TierPlan:
    tier: Tier
    rules: tuple[tuple[RuleMatcher, Target], ...]
    """Rules of every target selecting the subject in this tier, in rule order."""
    isolating: tuple[Target, ...]
    union: bool
    """Every rule allows and all share one order (Kubernetes): the matching ones decide."""


@dataclass(frozen=True, slots=True)
class _Plan:
    """What applies to one subject in one direction, precomputed once per distinct subject."""

    targets: tuple[Target, ...]
    tiers: tuple[_TierPlan, ...]


_EMPTY_PLAN = _Plan((), ())
# Plain constants: enum attribute lookups and enum hashing are slow on the per-edge path.
_EGRESS, _INGRESS = RuleDirection.EGRESS, RuleDirection.INGRESS
_ALLOW, _PASS = Action.ALLOW, Action.PASS
_HOST: str = EndpointKind.HOST.value
_PLAN_CACHE_LIMIT = 500_000


@dataclass
class _DirectionIndex:
    by_label: dict[tuple[str, str, str], list[Target]] = field(default_factory=dict)
    """(namespace, label key, label value) → targets whose pod selector requires that label."""
    whole_namespace: dict[str, list[Target]] = field(default_factory=dict)
    """namespace → targets in it with nothing to index their pods by."""
    anywhere: list[Target] = field(default_factory=list)
    """Targets not bound to one namespace (cluster-wide dialects)."""

    def add(self, target: Target) -> None:
        namespace = target.namespaces.exact_namespace
        if namespace is None:
            self.anywhere.append(target)
            return
        label = target.pods.index_label
        if label is None:
            self.whole_namespace.setdefault(namespace, []).append(target)
        else:
            self.by_label.setdefault((namespace, *label), []).append(target)

    def candidates(self, peer: TrafficPeer) -> list[Target]:
        namespace = peer.namespace
        found = list(self.whole_namespace.get(namespace, ()))
        for key, value in peer.labels:
            indexed = self.by_label.get((namespace, key, value))
            if indexed:
                found.extend(indexed)
        found.extend(self.anywhere)
        return found


def _merge_targets(targets: Iterable[Target]) -> list[Target]:
    merged: dict[tuple[object, ...], Target] = {}
    for target in targets:
        key = target.primary_key
        known = merged.get(key)
        if known is None:
            merged[key] = target
        else:
            merged[key] = Target(
                direction=known.direction,
                namespaces=known.namespaces,
                pods=known.pods,
                rules=known.rules + target.rules,
                sources=known.sources + tuple(s for s in target.sources if s not in known.sources),
                tier=known.tier,
                isolates=known.isolates,
            )
    return list(merged.values())


class PolicySet:
    """Compiled policies: ask :meth:`evaluate`, :meth:`rule_hits`, :meth:`selecting`."""

    def __init__(
        self, policies: Iterable[CompiledPolicy], *, always_allow_own_node: bool = True
    ) -> None:
        self.policies: tuple[CompiledPolicy, ...] = tuple(policies)
        self.always_allow_own_node = always_allow_own_node
        """Ingress from the destination's own node (``host``) is allowed whatever the rules."""
        self.targets: tuple[Target, ...] = tuple(
            _merge_targets(t for policy in self.policies for t in policy.targets)
        )
        self._index = {direction: _DirectionIndex() for direction in RuleDirection}
        for target in self.targets:
            self._index[target.direction].add(target)
        self._rules_by_ref: dict[RuleRef, RuleMatcher] | None = None
        self._egress_plans: dict[tuple[str, Labels, Labels], _Plan] = {}
        self._ingress_plans: dict[tuple[str, Labels, Labels], _Plan] = {}
        self._egress_by_peer: dict[int, tuple[TrafficPeer, _Plan]] = {}
        self._ingress_by_peer: dict[int, tuple[TrafficPeer, _Plan]] = {}

    def __len__(self) -> int:
        return len(self.policies)

    @property
    def refs(self) -> tuple[PolicyRef, ...]:
        return tuple(policy.ref for policy in self.policies)

    @property
    def rules(self) -> tuple[RuleRef, ...]:
        """Every rule of every policy (to find rules no traffic used)."""
        return tuple(rule for policy in self.policies for rule in policy.rules)

    def rule_matcher(self, ref: RuleRef) -> RuleMatcher:
        """The compiled rule behind ``ref`` (its ``key`` summarises peers, ports and action)."""
        if self._rules_by_ref is None:
            self._rules_by_ref = {
                rule.ref: rule for target in self.targets for rule in target.rules
            }
        return self._rules_by_ref[ref]

    @property
    def uses_named_ports(self) -> bool:
        return any(
            isinstance(port, PortProtocolMatcher) and port.name
            for target in self.targets
            for rule in target.rules
            for port in rule.ports
        )

    def selecting(self, peer: TrafficPeer, direction: RuleDirection) -> tuple[Target, ...]:
        """The targets that select ``peer`` in ``direction``."""
        return self._plan(peer, direction).targets

    def _plan(self, peer: TrafficPeer, direction: RuleDirection) -> _Plan:
        if not peer.is_pod:
            return _EMPTY_PLAN
        # Callers reuse peer objects (TrafficBuilder does), so the object identity is the
        # cheapest key; the stored peer guards against a recycled id.
        by_peer = self._egress_by_peer if direction is _EGRESS else self._ingress_by_peer
        found = by_peer.get(id(peer))
        if found is not None and found[0] is peer:
            return found[1]
        plans = self._egress_plans if direction is _EGRESS else self._ingress_plans
        key = (peer.namespace, peer.labels, peer.namespace_labels)
        plan = plans.get(key)
        if plan is None:
            plan = self._make_plan(peer, direction)
            if len(plans) >= _PLAN_CACHE_LIMIT:
                plans.clear()
            plans[key] = plan
        if len(by_peer) >= _PLAN_CACHE_LIMIT:
            by_peer.clear()
        by_peer[id(peer)] = (peer, plan)
        return plan

    def _make_plan(self, peer: TrafficPeer, direction: RuleDirection) -> _Plan:
        targets = [t for t in self._index[direction].candidates(peer) if t.selects(peer)]
        if not targets:
            return _EMPTY_PLAN
        tiers: dict[Tier, list[Target]] = {}
        for target in targets:
            tiers.setdefault(target.tier, []).append(target)
        plans = []
        for tier in sorted(tiers):
            members = tiers[tier]
            rules = sorted(
                ((rule, target) for target in members for rule in target.rules),
                key=lambda pair: pair[0].order,
            )
            isolating = tuple(t for t in members if t.isolates)
            union = all(r.action is _ALLOW and r.order == rules[0][0].order for r, _ in rules)
            plans.append(_TierPlan(tier, tuple(rules), isolating, union))
        return _Plan(tuple(targets), tuple(plans))

    def evaluate(self, traffic: Traffic) -> Decision:
        """Decide ``traffic``: allowed only when its egress and its ingress side allow it."""
        source, destination = traffic.source, traffic.destination
        egress = self._decide(_EGRESS, source, destination, traffic)
        if self.always_allow_own_node and source.kind == _HOST:
            ingress = DirectionResult(_INGRESS, destination, True, Outcome.OWN_NODE)
        else:
            ingress = self._decide(_INGRESS, destination, source, traffic)
        return Decision(traffic, egress, ingress)

    def _decide(
        self, direction: RuleDirection, subject: TrafficPeer, peer: TrafficPeer, traffic: Traffic
    ) -> DirectionResult:
        if not subject.is_pod:
            return DirectionResult(direction, subject, True, Outcome.NOT_A_POD)
        for tier in self._plan(subject, direction).tiers:
            if tier.union:
                matched = [pair for pair in tier.rules if pair[0].allows(peer, traffic)]
                if matched:
                    return self._by_rules(direction, subject, True, matched)
                if tier.isolating:
                    return DirectionResult(
                        direction, subject, False, Outcome.NO_RULE, tier.isolating
                    )
                continue
            first: RuleMatcher | None = None
            deciding: list[tuple[RuleMatcher, Target]] = []
            for rule, target in tier.rules:
                if first is not None and rule.order != first.order:
                    break
                if rule.allows(peer, traffic):
                    if first is None:
                        first = rule
                    elif rule.action != first.action:
                        continue
                    deciding.append((rule, target))
            if first is not None:
                if first.action is _PASS:
                    continue
                return self._by_rules(direction, subject, first.action is _ALLOW, deciding)
            if tier.isolating:
                return DirectionResult(direction, subject, False, Outcome.NO_RULE, tier.isolating)
        return DirectionResult(direction, subject, True, Outcome.NOT_ISOLATED)

    @staticmethod
    def _by_rules(
        direction: RuleDirection,
        subject: TrafficPeer,
        allowed: bool,
        deciding: list[tuple[RuleMatcher, Target]],
    ) -> DirectionResult:
        targets: list[Target] = []
        for _, target in deciding:
            if not any(target is known for known in targets):
                targets.append(target)
        rules = tuple(rule.ref for rule, _ in deciding)
        return DirectionResult(direction, subject, allowed, Outcome.RULE, tuple(targets), rules)

    def rule_hits(self, traffic: Traffic) -> tuple[RuleRef, ...]:
        """Every rule that matches ``traffic`` in a policy selecting its end, whatever the
        order (for "which rules does observed traffic use?")."""
        hits: list[RuleRef] = []
        for direction, subject, peer in (
            (RuleDirection.EGRESS, traffic.source, traffic.destination),
            (RuleDirection.INGRESS, traffic.destination, traffic.source),
        ):
            for tier in self._plan(subject, direction).tiers:
                hits.extend(rule.ref for rule, _ in tier.rules if rule.allows(peer, traffic))
        return tuple(hits)
