"""Addresses DNS gave for a name a workload connects to are allowed before it uses them.

A quiet client of a small round-robin service (six addresses behind ``api.stripe.com``) uses
two of them in a day; tomorrow its resolver hands out another. The DNS responses it (or any
pod) received name every address, so the rule allows exactly those, on the same ports.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from learner.app.pipeline import ingest, new_store, read_flows
from learner.infer.least_privilege import PolicyLearner
from learner.ingest.edges_file import load_edges, save_edges
from learner.ingest.state import StateStore
from learner.model.config import LearnConfig
from learner.model.edges import EdgeStore
from learner.model.flow import Direction, Flow, Origin, Protocol, Verdict
from learner.model.policy import CIDRPeer, Proposal
from learner.model.run_stats import CollectorStats, NormalizeStats
from learner.simulate import simulate, write_hubble
from tests.learner.edge_builders import T0, external, flow, pod_labels

STRIPE = ("54.187.174.160", "54.187.174.207", "54.187.174.246", "54.187.205.15",
          "54.187.205.17", "54.187.205.132")  # fmt: skip
WORKER = pod_labels("shop", "worker", {"app": "worker"}, ip="10.244.1.7")
OTHER = pod_labels("shop", "mailer", {"app": "mailer"}, ip="10.244.1.8")
COREDNS = pod_labels("kube-system", "coredns", {"k8s-app": "kube-dns"}, ip="10.244.0.3")


def response(name: str, answers: tuple[str, ...]) -> Flow:
    """The L7 DNS response a client receives: a reply, never evidence for a rule."""
    return Flow(
        time=T0,
        source=COREDNS,
        destination=WORKER,
        protocol=Protocol.UDP,
        port=41234,
        verdict=Verdict.FORWARDED,
        direction=Direction.INGRESS,
        is_reply=True,
        origin=Origin("test"),
        source_port=53,
        dns_query=name,
        dns_answers=answers,
    )


def learned(flows: list[Flow]) -> tuple[EdgeStore, Proposal]:
    config = LearnConfig()
    store = new_store(config)
    ingest(flows, store, config, NormalizeStats())
    return store, PolicyLearner().fit(store).proposal_


def admitted(proposal: Proposal, key: str, address: str, port: int) -> bool:
    policy = next(p for p in proposal.policies if p.key == key)
    ip = ipaddress.ip_address(address)
    for rule in policy.egress or ():
        if not any(p.port == port for p in rule.ports):
            continue
        for peer in rule.peers:
            inside = isinstance(peer, CIDRPeer) and ip in ipaddress.ip_network(peer.cidr)
            if inside and not any(ip in ipaddress.ip_network(e) for e in peer.excepts):
                return True
    return False


def day(answers: tuple[str, ...]) -> list[Flow]:
    names = ("api.stripe.com",)
    return [
        flow(WORKER, COREDNS, 53, "UDP", dns_query="api.stripe.com"),
        response("api.stripe.com", answers),
        flow(WORKER, external(STRIPE[2]), 443, dns_names=names),
        flow(WORKER, external(STRIPE[3]), 443, dns_names=names),
        flow(OTHER, external("34.226.36.21"), 443, dns_names=("hooks.slack.com",)),
    ]


def test_every_answered_address_of_a_used_name_is_allowed_on_its_ports() -> None:
    store, proposal = learned(day(STRIPE))
    assert store.dns_answers == {"api.stripe.com": set(STRIPE)}
    assert not any(k.source == COREDNS or k.port == 41234 for k in store.edges)  # a reply
    for address in STRIPE:
        assert admitted(proposal, "shop/worker", address, 443), address
        assert not admitted(proposal, "shop/worker", address, 80)
        # Another workload never reached that name: nothing of it is allowed there.
        assert not admitted(proposal, "shop/mailer", address, 443)
    assert not admitted(proposal, "shop/worker", "54.187.174.1", 443)
    policy = next(p for p in proposal.policies if p.key == "shop/worker")
    said = [a for r in policy.egress or () for a in r.admits]
    assert any("DNS answers for api.stripe.com, not connected to yet" in a for a in said)


def test_without_answers_only_the_used_addresses_are_allowed() -> None:
    _, proposal = learned(day(()))
    assert admitted(proposal, "shop/worker", STRIPE[2], 443)
    assert not admitted(proposal, "shop/worker", STRIPE[0], 443)


def test_answers_inside_the_cluster_are_never_added() -> None:
    _, proposal = learned(day((STRIPE[2], "10.244.1.8")))
    assert not admitted(proposal, "shop/worker", "10.244.1.8", 443)


def test_answers_survive_the_saved_edges_file_and_the_state_file(tmp_path: Path) -> None:
    store, _ = learned(day(STRIPE))
    save_edges(str(tmp_path / "edges.jsonl"), store, CollectorStats(), NormalizeStats(), "hubble")
    again = EdgeStore()
    load_edges(str(tmp_path / "edges.jsonl"), again, CollectorStats(), NormalizeStats())
    assert again.dns_answers == store.dns_answers
    with StateStore(str(tmp_path / "state.db")) as state:
        state.save(store)
        state.save(store)  # saved again: rows already there are left alone
    restored = EdgeStore()
    with StateStore(str(tmp_path / "state.db"), create=False) as state:
        state.load_into(restored)
    assert restored.dns_answers == store.dns_answers


def test_parallel_stores_merge_their_answers() -> None:
    first, second = EdgeStore(), EdgeStore()
    first.add_answers("api.stripe.com", STRIPE[:3])
    second.add_answers("api.stripe.com", STRIPE[3:])
    first.merge(second)
    assert first.dns_answers == {"api.stripe.com": set(STRIPE)}


def test_hubble_dns_responses_are_read_into_the_store(tmp_path: Path) -> None:
    result = simulate("shop", lines=3_000)
    write_hubble(result, str(tmp_path / "flows.jsonl"), window="learning")
    config = LearnConfig()
    store = new_store(config)
    flows = read_flows([str(tmp_path / "flows.jsonl")], stats=CollectorStats())
    ingest(flows, store, config, NormalizeStats())
    stripe = result.cluster.external("external:stripe")
    assert store.dns_answers["api.stripe.com"] == set(stripe.ips)


def test_sinkhole_answers_are_never_added() -> None:
    # A filtering resolver answers 0.0.0.0 or 127.0.0.1 for names it blocks.
    _, proposal = learned(day((STRIPE[2], "0.0.0.0", "127.0.0.1", "::", "224.0.0.1")))
    for sinkhole in ("0.0.0.0", "127.0.0.1", "224.0.0.1"):
        assert not admitted(proposal, "shop/worker", sinkhole, 443), sinkhole
    assert admitted(proposal, "shop/worker", STRIPE[2], 443)
