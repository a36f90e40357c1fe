"""A monitoring scraper or an ingress controller seen reaching many namespaces on the same ports
keeps reaching the next namespace a team installs, whose ServiceMonitor or Ingress came with its
chart."""

from __future__ import annotations

from learner.infer.least_privilege import PolicyLearner
from learner.model.config import LearnConfig
from learner.model.flow import EndpointKind
from learner.model.policy import PodPeer, Proposal, Rule
from learner.semantics import Traffic, TrafficPeer
from tests.learner.edge_builders import flow, pod_labels, store_of
from tests.learner.policy_checks import compiled

PROMETHEUS = {"app.kubernetes.io/name": "prometheus", "prometheus": "k8s"}
SCRAPER = pod_labels("monitoring", "prometheus", PROMETHEUS, ip="10.244.3.20")


def team_api(team: str) -> dict[str, str]:
    return {"app": f"{team}-api"}


def scrapes(client: dict[str, str], teams: list[str]) -> Proposal:
    source = pod_labels("monitoring", "client", client, ip="10.244.3.20")
    flows = [
        flow(source, pod_labels(f"team-{t}", f"{t}-api", team_api(t), ip=f"10.244.{i}.5"), 9090)
        for i, t in enumerate(teams)
    ]
    return PolicyLearner(LearnConfig(dns=False)).fit(store_of(flows)).proposal_


def egress(proposal: Proposal) -> list[Rule]:
    (policy,) = [p for p in proposal.policies if p.namespace == "monitoring"]
    return list(policy.egress or ())


def scrape_of_a_new_team(port: int = 9090) -> Traffic:
    source = TrafficPeer(EndpointKind.POD, "monitoring", tuple(sorted(PROMETHEUS.items())))
    target = TrafficPeer(EndpointKind.POD, "team-orders", (("app", "orders-api"),))
    return Traffic(source, target, "TCP", port)


def test_a_scraper_of_many_namespaces_scrapes_the_next_one_on_the_same_ports() -> None:
    proposal = scrapes(PROMETHEUS, ["payments", "search", "catalog"])
    (rule,) = egress(proposal)
    assert rule.peers == (PodPeer(pods=None, namespaces=rule.peers[0].namespaces),)
    assert rule.peers[0].namespaces is not None and rule.peers[0].namespaces.is_empty
    (admitted,) = rule.admits
    assert "monitoring scraper seen reaching 3 namespaces" in admitted
    policies = compiled(proposal)
    assert policies.evaluate(scrape_of_a_new_team()).allowed
    assert not policies.evaluate(scrape_of_a_new_team(port=5432)).allowed, "ports stay narrow"


def test_a_scraper_of_two_namespaces_keeps_exact_peers() -> None:
    (rule,) = egress(scrapes(PROMETHEUS, ["payments", "search"]))
    assert all(isinstance(p, PodPeer) and p.pods is not None for p in rule.peers)
    assert (
        not compiled(scrapes(PROMETHEUS, ["payments", "search"]))
        .evaluate(scrape_of_a_new_team())
        .allowed
    )


def test_a_client_that_is_not_a_scraper_keeps_exact_peers() -> None:
    (rule,) = egress(scrapes({"app": "gateway"}, ["payments", "search", "catalog"]))
    assert all(isinstance(p, PodPeer) and p.pods is not None for p in rule.peers)


INGRESS_NGINX = {
    "app.kubernetes.io/name": "ingress-nginx",
    "app.kubernetes.io/component": "controller",
}


def test_an_ingress_controller_routes_to_the_next_namespace_on_the_same_ports() -> None:
    proposal = scrapes(INGRESS_NGINX, ["payments", "search", "catalog", "accounts"])
    (rule,) = egress(proposal)
    assert rule.peers[0].namespaces is not None and rule.peers[0].namespaces.is_empty
    (admitted,) = rule.admits
    assert "an ingress controller seen reaching 4 namespaces" in admitted
