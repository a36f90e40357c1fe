"""The compiled set: dialect registry, actions/order/tiers, rule hits, target indexing."""

from __future__ import annotations

import random
from typing import Any

import pytest

from learner.model.policy import LabelSelector
from learner.semantics import (
    Action,
    AllPodsMatcher,
    CompiledPolicy,
    EntityPeerMatcher,
    ExactNamespaceMatcher,
    LabelSelectorPodMatcher,
    PodPeerMatcher,
    PolicyDocument,
    PolicyRef,
    PolicySet,
    PortProtocolMatcher,
    RuleDirection,
    RuleMatcher,
    RuleRef,
    Target,
    Tier,
    compile_policies,
    is_policy_kind,
    register_dialect,
)
from tests.learner.semantics.truth import (
    NAMESPACES,
    PODS,
    WORLD,
    compile_text,
    join,
    netpol,
    pod,
    traffic,
)

# A toy dialect, to prove other dialects plug in without forking the engine. Its documents
# list rules as (tier, order, action, peer pod, port); a target isolates unless "open".


def parse_toy(document: PolicyDocument) -> CompiledPolicy:
    body: dict[str, Any] = dict(document.body)
    metadata = body["metadata"]
    ref = PolicyRef(metadata["namespace"], metadata["name"], "ToyPolicy", document.path)
    subject = body["spec"]["pod"]
    rules = tuple(
        RuleMatcher(
            ref=RuleRef(ref, RuleDirection.INGRESS, i),
            peers=(
                EntityPeerMatcher(("world",))
                if rule["from"] == "world"
                else PodPeerMatcher(
                    ExactNamespaceMatcher(metadata["namespace"]),
                    LabelSelectorPodMatcher(LabelSelector(match_labels=(("pod", rule["from"]),))),
                ),
            ),
            ports=(PortProtocolMatcher("TCP", rule["port"]),),
            action=Action(rule["action"]),
            order=(float(rule["order"]), float(i)),
        )
        for i, rule in enumerate(body["spec"]["rules"])
    )
    tier = body["spec"].get("tier", 0)
    target = Target(
        direction=RuleDirection.INGRESS,
        namespaces=ExactNamespaceMatcher(metadata["namespace"]),
        pods=LabelSelectorPodMatcher(LabelSelector(match_labels=(("pod", subject),))),
        rules=rules,
        sources=(ref,),
        tier=Tier(float(tier), f"tier-{tier}"),
        isolates=not body["spec"].get("open", False),
    )
    return CompiledPolicy(ref, (target,))


register_dialect("example.org", "ToyPolicy", parse_toy)


def toy(
    name: str, rules: list[dict[str, Any]], tier: int = 0, open_: bool = False
) -> PolicyDocument:
    body = {
        "apiVersion": "example.org/v7",
        "kind": "ToyPolicy",
        "metadata": {"name": name, "namespace": "x"},
        "spec": {"pod": "a", "rules": rules, "tier": tier, "open": open_},
    }
    return PolicyDocument("toy.yaml", 0, body)


def rule(action: str, source: str, port: int = 80, order: int = 0) -> dict[str, Any]:
    return {"action": action, "from": source, "port": port, "order": order}


def test_registered_dialect_by_api_group() -> None:
    assert is_policy_kind("ToyPolicy")
    policies = compile_policies([toy("allow-b", [rule("Allow", "b")])])
    assert policies.evaluate(traffic("x/b", "x/a")).allowed
    assert not policies.evaluate(traffic("x/c", "x/a")).allowed


def test_deny_rule_ordered_first_wins_over_allow() -> None:
    policies = compile_policies(
        [
            toy("deny-b", [rule("Deny", "b", order=0)]),
            toy("allow-b-and-c", [rule("Allow", "b", order=1), rule("Allow", "c", order=1)]),
        ]
    )
    denied = policies.evaluate(traffic("x/b", "x/a"))
    assert not denied.allowed
    assert [str(r) for r in denied.ingress.rules] == ["x/deny-b ingress rule 1"]
    assert "denied by x/deny-b ingress rule 1" in denied.reason
    assert policies.evaluate(traffic("x/c", "x/a")).allowed
    # Every matching rule is a hit, whether or not it decided.
    assert sorted(str(r) for r in policies.rule_hits(traffic("x/b", "x/a"))) == [
        "x/allow-b-and-c ingress rule 1",
        "x/deny-b ingress rule 1",
    ]


def test_pass_moves_to_the_next_tier() -> None:
    first = toy("pass-b", [rule("Pass", "b")], tier=1)
    second = toy("deny-b-later", [rule("Deny", "b")], tier=2)
    second_allows = toy("allow-b-later", [rule("Allow", "b")], tier=2)
    assert not compile_policies([first, second]).evaluate(traffic("x/b", "x/a")).allowed
    assert compile_policies([first, second_allows]).evaluate(traffic("x/b", "x/a")).allowed
    # In tier 1, c matches nothing: the tier isolates, so it is denied there.
    decision = compile_policies([first, second_allows]).evaluate(traffic("x/c", "x/a"))
    assert not decision.allowed
    assert [p.name for p in decision.ingress.policies] == ["pass-b"]


def test_non_isolating_tier_falls_through() -> None:
    open_tier = toy("open", [rule("Deny", "c")], tier=1, open_=True)
    assert compile_policies([open_tier]).evaluate(traffic("x/b", "x/a")).allowed
    assert not compile_policies([open_tier]).evaluate(traffic("x/c", "x/a")).allowed
    later = toy("later", [rule("Allow", "c")], tier=2)
    assert not compile_policies([open_tier, later]).evaluate(traffic("x/c", "x/a")).allowed


def test_dialects_mix_with_kubernetes_policies() -> None:
    kubernetes = compile_text(
        netpol("x", "allow-b", {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]})
    ).policies
    # An earlier, non-isolating tier that only denies world traffic, then Kubernetes' tier.
    toy_deny = compile_policies(
        [toy("deny-world", [rule("Deny", "world")], tier=0, open_=True)]
    ).policies
    policies = PolicySet((*kubernetes, *toy_deny))
    assert policies.evaluate(traffic("x/b", "x/a")).allowed
    assert not policies.evaluate(traffic("world", "x/a")).allowed
    assert policies.evaluate(traffic("x/b", "x/c")).allowed, "pod c: only Kubernetes applies"


def test_same_selector_targets_merge_keeping_sources() -> None:
    text = join(
        netpol("x", "p1", {"podSelector": {"matchLabels": {"pod": "a"}}, "ingress": []}),
        netpol("x", "p2", {"podSelector": {"matchLabels": {"pod": "a"}}, "ingress": [{}]}),
    )
    policies = compile_text(text)
    [target] = policies.selecting(pod("x/a"), RuleDirection.INGRESS)
    assert [s.name for s in target.sources] == ["p1", "p2"]
    assert len(target.rules) == 1
    assert [str(r) for r in policies.rules] == ["x/p2 ingress rule 1"]


def test_rule_hits_only_count_selecting_policies() -> None:
    text = join(
        netpol(
            "x",
            "ingress-a",
            {"podSelector": {"matchLabels": {"pod": "a"}}, "ingress": [{"ports": [{"port": 80}]}]},
        ),
        netpol(
            "x",
            "ingress-b",
            {"podSelector": {"matchLabels": {"pod": "b"}}, "ingress": [{"ports": [{"port": 80}]}]},
        ),
        netpol(
            "y",
            "egress-y",
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{"ports": [{"port": 81}]}, {"ports": [{"port": 80}]}],
            },
        ),
    )
    policies = compile_text(text)
    hits = policies.rule_hits(traffic("y/c", "x/a", "80/TCP"))
    assert sorted(str(h) for h in hits) == [
        "x/ingress-a ingress rule 1",
        "y/egress-y egress rule 2",
    ]
    used = {h for a in ("x/a", "x/b") for h in policies.rule_hits(traffic("y/c", a, "80/TCP"))}
    unused = [str(r) for r in policies.rules if r not in used]
    assert unused == ["y/egress-y egress rule 1"]


def test_named_ports_are_reported() -> None:
    text = netpol("x", "named", {"podSelector": {}, "ingress": [{"ports": [{"port": "http"}]}]})
    assert compile_text(text).uses_named_ports
    assert not compile_text(netpol("x", "deny", {"podSelector": {}})).uses_named_ports


def test_non_pods_are_never_selected() -> None:
    policies = compile_text(netpol("x", "all", {"podSelector": {}}))
    assert policies.selecting(WORLD, RuleDirection.INGRESS) == ()
    decision = policies.evaluate(traffic("x/a", "world"))
    assert decision.allowed and decision.ingress.outcome == "not a pod"


def _random_selector(rng: random.Random) -> dict[str, Any]:
    choice = rng.randrange(4)
    if choice == 0:
        return {}
    if choice == 1:
        return {"matchLabels": {"pod": rng.choice(PODS)}}
    if choice == 2:
        return {"matchLabels": {"pod": rng.choice(PODS), "tier": "web"}}
    values = rng.sample(PODS, 2)
    return {"matchExpressions": [{"key": "pod", "operator": "In", "values": values}]}


@pytest.mark.parametrize("seed", range(5))
def test_index_finds_exactly_the_selecting_targets(seed: int) -> None:
    rng = random.Random(seed)
    texts = [
        netpol(
            rng.choice(NAMESPACES),
            f"p{i}",
            {
                "podSelector": _random_selector(rng),
                "policyTypes": [rng.choice(["Ingress", "Egress"])],
            },
        )
        for i in range(40)
    ]
    policies = compile_text(join(*texts))
    peers = [pod(f"{ns}/{p}") for ns in NAMESPACES for p in PODS]
    web = [
        type(p)(
            kind=p.kind,
            namespace=p.namespace,
            labels=(*p.labels, ("tier", "web")),
            namespace_labels=p.namespace_labels,
        )
        for p in peers
    ]
    for peer in (*peers, *web):
        for direction in RuleDirection:
            expected = {
                id(t) for t in policies.targets if t.direction == direction and t.selects(peer)
            }
            found = {id(t) for t in policies.selecting(peer, direction)}
            assert found == expected, (peer, direction)


def test_all_pods_matcher_target_is_indexed_by_namespace() -> None:
    target = Target(
        direction=RuleDirection.EGRESS,
        namespaces=ExactNamespaceMatcher("z"),
        pods=AllPodsMatcher(),
        rules=(),
        sources=(PolicyRef("z", "deny"),),
    )
    policies = PolicySet([CompiledPolicy(PolicyRef("z", "deny"), (target,))])
    assert not policies.evaluate(traffic("z/a", "x/a")).allowed
    assert policies.evaluate(traffic("y/a", "x/a")).allowed
