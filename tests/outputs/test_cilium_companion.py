"""The Cilium companion keeps only the entity peers of a rule, and says only what is theirs."""

from __future__ import annotations

from learner.model.flow import EndpointKind
from learner.model.policy import EntityPeer
from outputs.cilium_companion import companion_policies
from tests.learner.edge_builders import external, flow
from tests.learner.infer.test_dns_answers import COREDNS, STRIPE, WORKER, learned, response


def test_a_rule_shared_with_addresses_does_not_lend_its_overreach_to_the_entity() -> None:
    names = ("api.stripe.com",)
    _, proposal = learned(
        [
            flow(WORKER, COREDNS, 53, "UDP", dns_query="api.stripe.com"),
            response("api.stripe.com", STRIPE),
            flow(WORKER, external(STRIPE[2]), 443, dns_names=names),
            flow(WORKER, external("172.18.0.2", EndpointKind.KUBE_APISERVER), 443),
        ]
    )
    worker = next(p for p in proposal.policies if p.key == "shop/worker")
    shared = next(r for r in worker.egress or () if any(isinstance(p, EntityPeer) for p in r.peers))
    assert len(shared.peers) > 1 and any("DNS answers" in a for a in shared.admits)

    (companion,) = companion_policies(proposal, cidr_match_nodes=False)
    (rule,) = companion.egress or ()
    assert [p.key for p in rule.peers] == [p.key for p in shared.peers if isinstance(p, EntityPeer)]
    assert rule.ports == shared.ports
    assert rule.admits == () and rule.evidence.flows == 0
    assert "kube-apiserver by entity" in rule.purpose and "shop/worker.yaml" in rule.purpose


def test_a_rule_of_entities_only_keeps_its_evidence() -> None:
    _, proposal = learned([flow(WORKER, external("172.18.0.2", EndpointKind.KUBE_APISERVER), 443)])
    (companion,) = companion_policies(proposal, cidr_match_nodes=False)
    (rule,) = companion.egress or ()
    assert rule.evidence.flows == 1 and rule.purpose == ""
