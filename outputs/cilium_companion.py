"""CiliumNetworkPolicy companions for a NetworkPolicy proposal enforced by Cilium.

Cilium matches a NetworkPolicy ``ipBlock`` only against addresses outside the cluster's
identities, so the ``ipBlock`` written for the API server or a node (and anything for an
unmanaged pod or the ingress proxy, which NetworkPolicy cannot name) would deny on Cilium.
For each policy with such peers, a companion ``<name>-cilium-entities`` selects the same pods
and allows those peers by entity (``toEntities``/``fromEntities``), on the same ports. Cilium
adds up every policy selecting a pod, so the pair allows exactly what the proposal meant; on
another CNI the companion is not applied (it is a Cilium resource) and the ``ipBlock`` does
the work.
"""

from __future__ import annotations

from dataclasses import replace

from learner.model.config import RenderOptions
from learner.model.infra import without_node_network
from learner.model.policy import Entity, EntityPeer, Evidence, Proposal, ProposedPolicy, Rule
from outputs.cilium import policy_document
from outputs.networkpolicy import HEADER, kustomization
from outputs.yamlio import dump

SUFFIX = "-cilium-entities"
NODE_ENTITIES = frozenset({Entity.HOST, Entity.REMOTE_NODE, Entity.KUBE_APISERVER})
"""Reached by ipBlock only with ``policy-cidr-match-mode: nodes``."""
CILIUM_ONLY_ENTITIES = frozenset({Entity.UNMANAGED, Entity.INGRESS})
"""Never reached by anything NetworkPolicy can say."""


def companion_entities(cidr_match_nodes: bool) -> frozenset[Entity]:
    return CILIUM_ONLY_ENTITIES if cidr_match_nodes else CILIUM_ONLY_ENTITIES | NODE_ENTITIES


def _entity_rules(
    rules: tuple[Rule, ...] | None, wanted: frozenset[Entity], origin: str
) -> tuple[Rule, ...] | None:
    if rules is None:
        return None
    kept = []
    for rule in rules:
        peers = tuple(p for p in rule.peers if isinstance(p, EntityPeer) and p.entity in wanted)
        if not peers:
            continue
        entity_only = replace(
            rule,
            peers=peers,
            http=(),
            dns_names=(),
            dns_selectors=(),
            admits=without_node_network(rule.admits),
        )
        if len(peers) < len(rule.peers):
            # The rule's evidence and overreach belong to all its peers (addresses answered
            # for a name, say); copied here they would be said of the entity.
            names = ", ".join(p.entity.value for p in peers)
            entity_only = replace(
                entity_only,
                edges=(),
                evidence=Evidence(0, 0.0, 0.0),
                admits=(),
                purpose=f"{names} by entity: on Cilium the ipBlock for it in {origin} does not match; evidence there",
            )
        kept.append(entity_only)
    return tuple(kept) or None


def companion_policies(proposal: Proposal, cidr_match_nodes: bool) -> list[ProposedPolicy]:
    wanted = companion_entities(cidr_match_nodes)
    found = []
    for policy in proposal.policies:
        origin = f"{policy.namespace}/{policy.name}.yaml"
        ingress = _entity_rules(policy.ingress, wanted, origin)
        egress = _entity_rules(policy.egress, wanted, origin)
        if ingress or egress:
            found.append(replace(policy, name=policy.name + SUFFIX, ingress=ingress, egress=egress))
    return found


def with_companions(
    files: dict[str, str], proposal: Proposal, options: RenderOptions, cidr_match_nodes: bool
) -> dict[str, str]:
    """``files`` (a rendered NetworkPolicy proposal) plus the companions it needs on Cilium."""
    out = {path: text for path, text in files.items() if path != "kustomization.yaml"}
    for policy in companion_policies(proposal, cidr_match_nodes):
        document = policy_document(policy, options)
        out[f"{policy.namespace}/{policy.name}.yaml"] = dump(document, header=HEADER)
    out["kustomization.yaml"] = kustomization(list(out))
    return dict(sorted(out.items()))
