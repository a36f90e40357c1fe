"""The same policies as a particular CNI enforces them.

The dialect parsers compile what a policy says; a few things depend on who enforces it. On
Cilium, a Kubernetes NetworkPolicy ``ipBlock`` is turned into a CIDR selector, and CIDR
selectors never select the cluster's own identities: pods, unmanaged pods, the ingress proxy,
health endpoints, and (unless the agent runs with ``policy-cidr-match-mode: nodes``) the
local host, remote nodes and an API server running on them. So an ``ipBlock`` naming the API
server's or a node's address is a rule that only looks right there. Calico and CNIs without
identities match an ``ipBlock`` by address, which is what the parser compiled.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from learner.model.config import CNI
from learner.model.flow import EndpointKind
from learner.semantics.matchers import (
    CompiledPolicy,
    IPBlockPeerMatcher,
    PeerMatcher,
    RuleMatcher,
    Target,
)
from learner.semantics.policyset import PolicySet
from learner.semantics.traffic import TrafficPeer

NODE_KINDS = frozenset({EndpointKind.HOST, EndpointKind.REMOTE_NODE, EndpointKind.KUBE_APISERVER})
"""Identities Cilium gives node addresses (an API server on the nodes included)."""
CLUSTER_KINDS = NODE_KINDS | {
    EndpointKind.POD,
    EndpointKind.UNMANAGED,
    EndpointKind.INGRESS,
    EndpointKind.HEALTH,
}
"""Identities a Cilium CIDR selector never selects by default."""


@dataclass(frozen=True, slots=True)
class CiliumIPBlockPeerMatcher(PeerMatcher):
    """A NetworkPolicy ``ipBlock`` as Cilium enforces it: addresses outside the cluster's
    identities; node identities too when ``policy-cidr-match-mode`` includes ``nodes``."""

    block: IPBlockPeerMatcher
    match_nodes: bool = False

    def allows(self, peer: TrafficPeer) -> bool:
        if peer.kind in CLUSTER_KINDS and not (self.match_nodes and peer.kind in NODE_KINDS):
            return False
        return self.block.allows(peer)

    @property
    def key(self) -> str:
        return self.block.key + (" (cilium, nodes too)" if self.match_nodes else " (cilium)")


def as_enforced_by(policies: PolicySet, cni: CNI, *, cidr_match_nodes: bool = False) -> PolicySet:
    """``policies`` with the matching rules of ``cni``."""
    if cni is not CNI.CILIUM:
        return policies
    return PolicySet(
        (_on_cilium(policy, cidr_match_nodes) for policy in policies.policies),
        always_allow_own_node=policies.always_allow_own_node,
    )


def _on_cilium(policy: CompiledPolicy, match_nodes: bool) -> CompiledPolicy:
    # Only the Kubernetes dialect compiles to plain ipBlock matchers (Cilium's own CIDR rules
    # already exclude cluster identities; Calico's nets match by address).
    return replace(policy, targets=tuple(_target(t, match_nodes) for t in policy.targets))


def _target(target: Target, match_nodes: bool) -> Target:
    return replace(target, rules=tuple(_rule(rule, match_nodes) for rule in target.rules))


def _rule(rule: RuleMatcher, match_nodes: bool) -> RuleMatcher:
    peers = tuple(
        CiliumIPBlockPeerMatcher(peer, match_nodes) if type(peer) is IPBlockPeerMatcher else peer
        for peer in rule.peers
    )
    return replace(rule, peers=peers)
