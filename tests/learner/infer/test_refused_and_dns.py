"""Who gets the cluster-DNS egress rule, and the policy of a pod whose every attempt failed."""

from __future__ import annotations

from learner.app.pipeline import ingest, new_store
from learner.infer.least_privilege import PolicyLearner
from learner.model.config import LearnConfig
from learner.model.flow import Flow, Verdict
from learner.model.policy import Proposal, ProposedPolicy
from learner.model.run_stats import NormalizeStats
from tests.learner.edge_builders import external, flow, pod_labels

WEB = pod_labels("shop", "web", {"app": "web"}, ip="10.244.1.5")
API = pod_labels("shop", "api", {"app": "api"}, ip="10.244.1.6")
CACHE = pod_labels("shop", "cache", {"app": "cache"}, ip="10.244.1.7")
DEBUG = pod_labels("shop", "debug", {"run": "debug"}, ip="10.244.1.9")
COREDNS = pod_labels("kube-system", "coredns", {"k8s-app": "kube-dns"}, ip="10.244.0.3")


def dropped(item: Flow) -> Flow:
    return item._replace(verdict=Verdict.DROPPED)


def learn(flows: list[Flow]) -> Proposal:
    config = LearnConfig()
    store = new_store(config)
    ingest(flows, store, config, NormalizeStats())
    return PolicyLearner().fit(store).proposal_


def policy(proposal: Proposal, key: str) -> ProposedPolicy:
    return next(p for p in proposal.policies if p.key == key)


def has_dns(each: ProposedPolicy) -> bool:
    return any(r.purpose == "cluster DNS" for r in each.egress or ())


DAY = [
    flow(WEB, API, 8080),  # web sends, but its lookups were not captured
    flow(API, CACHE, 6379),
    flow(API, COREDNS, 53, "UDP", dns_query="cache.shop.svc.cluster.local"),
    flow(COREDNS, external("169.254.169.254"), 53, "UDP"),  # CoreDNS's upstream
    dropped(flow(DEBUG, API, 8080)),
    dropped(flow(DEBUG, external("52.1.2.3"), 443)),
]


def test_dns_for_workloads_that_send_or_resolve_not_for_pure_servers() -> None:
    proposal = learn(DAY)
    assert has_dns(policy(proposal, "shop/web"))  # sent something: will resolve names
    assert has_dns(policy(proposal, "shop/api"))  # queried
    cache = policy(proposal, "shop/cache")
    assert not has_dns(cache) and cache.egress == ()  # sent nothing all day
    # The DNS server resolves through its upstream, learned as an ordinary rule.
    coredns = policy(proposal, "kube-system/coredns")
    assert not has_dns(coredns) and coredns.egress


def test_a_pod_whose_every_attempt_was_dropped_gets_a_policy_allowing_none() -> None:
    proposal = learn(DAY)
    # Known only from dropped flows (no workload name), so named after its labels.
    (debug,) = [p for p in proposal.policies if p.workload == "pod:shop/run=debug"]
    assert debug.ingress == () and debug.egress == ()
    assert debug.policy_types == ("Ingress", "Egress")
    assert any("shop/run=debug" in w and "dropped" in w for w in proposal.warnings)


def test_a_pod_with_allowed_traffic_keeps_its_rules_despite_drops() -> None:
    proposal = learn([*DAY, dropped(flow(WEB, CACHE, 6379))])
    web = policy(proposal, "shop/web")
    assert web.egress and has_dns(web)
