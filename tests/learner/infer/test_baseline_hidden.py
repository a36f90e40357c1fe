"""The baseline learner on Calico level-2 records: a hidden end is the hidden space."""

from __future__ import annotations

from learner.infer.baseline import BaselineLearner
from learner.model.flow import Endpoint, EndpointKind
from learner.model.policy import CIDRPeer
from tests.learner.edge_builders import flow, pod_labels, store_of

WEB = pod_labels("shop", "web", {"app": "web"}, ip="10.244.1.5")
PUB = Endpoint(kind=EndpointKind.WORLD, workload_kind="Network", workload_name="pub")


def test_a_hidden_public_client_is_allowed_as_any_public_address() -> None:
    store = store_of([flow(PUB, WEB, 8080), flow(WEB, PUB, 443)])
    proposal = BaselineLearner().fit(store).proposal_  # raised ValueError on 'hidden:pub'
    (policy,) = proposal.policies
    for rules in (policy.ingress, policy.egress):
        peers = [p for r in rules or () for p in r.peers]
        assert {p.cidr for p in peers if isinstance(p, CIDRPeer)} == {"0.0.0.0/0", "::/0"}
