"""A provider's address pool seen through 20 names becomes one /24 whose evidence is in the
rule comment and in the report's risks; with --format cilium the names give one pattern."""

from __future__ import annotations

import random

import yaml

from learner.app.pipeline import build_proposal
from learner.model.config import LearnConfig, RenderOptions
from learner.model.policy import CIDRPeer
from learner.model.run_stats import CollectorStats, NormalizeStats
from outputs.cilium import render as render_cilium
from outputs.networkpolicy import render
from outputs.report.risks import collect_risks
from tests.learner.edge_builders import external, flow, pod_labels, store_of

POOL = "52.10.20."


def pool_store() -> tuple[object, list[str]]:
    web = pod_labels("shop", "checkout", {"app": "checkout"}, ip="10.0.1.5")
    hosts = random.Random(7).sample(range(256), 20)
    names = [f"api-{i}.payments.example.com" for i in range(1, 21)]
    flows = [
        flow(web, external(f"{POOL}{host}"), 443, dns_names=(name,))
        for host, name in zip(hosts, names, strict=True)
    ]
    return store_of(flows), names


def test_pool_is_one_block_with_its_evidence_in_comment_and_risks() -> None:
    store, _ = pool_store()
    proposal = build_proposal(store, None, LearnConfig())  # type: ignore[arg-type]
    (policy,) = [p for p in proposal.policies if p.egress]
    peers = [p for r in policy.egress or () for p in r.peers if isinstance(p, CIDRPeer)]
    assert [p.cidr for p in peers] == [f"{POOL}0/24"]
    evidence = "20 of 256 addresses seen, 20 names of payments.example.com"
    files = render(proposal, RenderOptions())
    assert any(evidence in text for text in files.values())
    risks = collect_risks(proposal, CollectorStats(), NormalizeStats(), None)
    pool_risks = [r for r in risks if r.kind == "address-pool"]
    assert len(pool_risks) == 1
    assert evidence in pool_risks[0].detail
    assert "at least 4 distinct addresses" in pool_risks[0].detail


def test_cilium_gets_one_pattern_for_the_numbered_names() -> None:
    store, _ = pool_store()
    proposal = build_proposal(store, None, LearnConfig(format="cilium", max_overreach=1))  # type: ignore[arg-type]
    files = render_cilium(proposal, RenderOptions())
    docs = [d for text in files.values() for d in yaml.safe_load_all(text) if d]
    selectors = [
        s
        for d in docs
        if "spec" in d
        for rule in d["spec"].get("egress", ())
        for s in rule.get("toFQDNs", ())
    ]
    assert selectors == [{"matchPattern": "*.payments.example.com"}]
