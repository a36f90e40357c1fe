"""The policy semantics engine: is this connection allowed by these policies?

Compile once, then ask::

    documents, errors = load_policy_documents(["policies/"])
    policies = compile_policies(documents)
    decision = policies.evaluate(traffic_for_edge(edge, inventory, stats))

Kubernetes NetworkPolicy is built in (:mod:`learner.semantics.k8s`); other dialects register a
parser with :func:`register_dialect` and compile into the same targets and matchers.
"""

from learner.semantics import k8s as _k8s  # noqa: F401  (registers the built-in dialect)
from learner.semantics.dialects import PolicyDocument, PolicyParser, register_dialect
from learner.semantics.loader import LoadStats, load_policy_documents
from learner.semantics.matchers import (
    ALL_PEERS,
    ALL_PORTS,
    DEFAULT_TIER,
    Action,
    AllNamespacesMatcher,
    AllPeersMatcher,
    AllPodsMatcher,
    CompiledPolicy,
    EntityPeerMatcher,
    ExactNamespaceMatcher,
    FQDNPeerMatcher,
    HTTPRuleMatcher,
    IPBlockPeerMatcher,
    L7Matcher,
    LabelSelectorNamespaceMatcher,
    LabelSelectorPodMatcher,
    NamespaceMatcher,
    PeerMatcher,
    PodMatcher,
    PodPeerMatcher,
    PolicyRef,
    RuleDirection,
    RuleMatcher,
    RuleRef,
    Target,
    Tier,
    selector_matches,
)
from learner.semantics.policyset import (
    Decision,
    DirectionResult,
    Outcome,
    PolicySet,
    compile_policies,
    is_policy_kind,
    parse_document,
)
from learner.semantics.ports import (
    AllPortsMatcher,
    PortMatcher,
    PortProtocolMatcher,
    PortRangeMatcher,
)
from learner.semantics.traffic import Traffic, TrafficBuilder, TrafficPeer, traffic_for_edge

__all__ = [
    "ALL_PEERS",
    "ALL_PORTS",
    "DEFAULT_TIER",
    "Action",
    "AllNamespacesMatcher",
    "AllPeersMatcher",
    "AllPodsMatcher",
    "AllPortsMatcher",
    "CompiledPolicy",
    "Decision",
    "DirectionResult",
    "EntityPeerMatcher",
    "ExactNamespaceMatcher",
    "FQDNPeerMatcher",
    "HTTPRuleMatcher",
    "IPBlockPeerMatcher",
    "L7Matcher",
    "LabelSelectorNamespaceMatcher",
    "LabelSelectorPodMatcher",
    "LoadStats",
    "NamespaceMatcher",
    "Outcome",
    "PeerMatcher",
    "PodMatcher",
    "PodPeerMatcher",
    "PolicyDocument",
    "PolicyParser",
    "PolicyRef",
    "PolicySet",
    "PortMatcher",
    "PortProtocolMatcher",
    "PortRangeMatcher",
    "RuleDirection",
    "RuleMatcher",
    "RuleRef",
    "Target",
    "Tier",
    "Traffic",
    "TrafficBuilder",
    "TrafficPeer",
    "compile_policies",
    "is_policy_kind",
    "load_policy_documents",
    "parse_document",
    "register_dialect",
    "selector_matches",
    "traffic_for_edge",
]
