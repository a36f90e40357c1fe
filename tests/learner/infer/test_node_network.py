"""Rules to or from nodes allow the node network, not only the nodes seen: the autoscaler's next
node, or a node-pool upgrade's replacement, takes a new address from the same subnet."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest

from learner.app.pipeline import build_proposal, ingest, new_store
from learner.cli.options import checked_config
from learner.infer.node_network import node_blocks
from learner.model.config import LearnConfig
from learner.model.errors import UsageError
from learner.model.flow import Endpoint, EndpointKind
from learner.model.infra import NODE_NETWORK_MARK
from learner.model.policy import Entity, EntityPeer
from learner.model.run_stats import NormalizeStats
from learner.semantics import Traffic, TrafficPeer
from tests.flowbuild import flow, pod
from tests.learner.policy_checks import compiled

PROMETHEUS = pod("monitoring", "prometheus-0", ip="10.244.1.5", app="prometheus")
SEEN_NODES = ("10.128.0.10", "10.128.0.11", "10.128.0.12")
NEXT_DAY_NODE = "10.128.9.201"  # the autoscaler's new node, elsewhere in the subnet


def remote_node(ip: str) -> Endpoint:
    return Endpoint(kind=EndpointKind.REMOTE_NODE, ip=ip)


def learned(config: LearnConfig):  # type: ignore[no-untyped-def]
    flows = [flow(PROMETHEUS, remote_node(ip), 10250) for ip in SEEN_NODES]
    store = new_store(config)
    ingest(flows, store, config, NormalizeStats())
    return build_proposal(store, None, config)


def scrape(ip: str, port: int = 10250) -> Traffic:
    source = TrafficPeer(
        kind=EndpointKind.POD,
        namespace="monitoring",
        labels=PROMETHEUS.labels,
        ip=PROMETHEUS.ip,
    )
    return Traffic(source, TrafficPeer(kind=EndpointKind.REMOTE_NODE, ip=ip), "TCP", port)


def node_admits(proposal) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        admitted
        for policy in proposal.policies
        for rule in policy.egress or ()
        for admitted in rule.admits
        if NODE_NETWORK_MARK in admitted
    ]


def test_a_node_added_the_next_day_is_still_scraped() -> None:
    policies = compiled(learned(LearnConfig()))
    assert all(policies.evaluate(scrape(ip)).allowed for ip in SEEN_NODES)
    assert policies.evaluate(scrape(NEXT_DAY_NODE)).allowed
    assert not policies.evaluate(scrape(NEXT_DAY_NODE, port=22)).allowed, "ports stay narrow"


def test_the_widening_is_said_in_the_rule() -> None:
    (admitted,) = node_admits(learned(LearnConfig()))
    assert admitted.startswith("10.128.0.0/16: the node network around the 3 nodes seen")
    assert "--node-cidr" in admitted


def test_the_node_network_stops_short_of_the_cluster_ranges() -> None:
    cluster = (ipaddress.ip_network("10.128.128.0/17"),)
    blocks = node_blocks(SEEN_NODES, waste=32.0, cluster_cidrs=cluster, node_cidrs=())
    assert blocks.cidrs == ("10.128.0.0/17",) and blocks.kept == ()
    inside = (ipaddress.ip_network("10.128.0.0/22"),)  # pods share the nodes' subnet
    blocks = node_blocks(SEEN_NODES, waste=32.0, cluster_cidrs=inside, node_cidrs=())
    assert all(ipaddress.ip_network(c).subnet_of(inside[0]) for c in blocks.cidrs)
    assert blocks.admits == () and blocks.kept == blocks.cidrs, "kept, so the proposal warns"


def test_nodes_in_one_network_say_it_once() -> None:
    blocks = node_blocks(
        ["10.128.0.10", "10.128.9.200"], waste=32.0, cluster_cidrs=(), node_cidrs=()
    )
    assert blocks.cidrs == ("10.128.0.0/16",)
    (admitted,) = blocks.admits
    assert "around the 2 nodes seen" in admitted


def test_link_local_nodes_are_not_widened_over_the_metadata_service() -> None:
    blocks = node_blocks(["169.254.3.7"], waste=32.0, cluster_cidrs=(), node_cidrs=())
    assert blocks.cidrs == ("169.254.3.7/32",) and blocks.kept == ("169.254.3.7/32",)


def test_public_ipv6_nodes_widen_to_their_subnet_only() -> None:
    blocks = node_blocks(["2600:1f14:abc:1::10"], waste=32.0, cluster_cidrs=(), node_cidrs=())
    assert blocks.cidrs == ("2600:1f14:abc:1::/64",)


def test_nodes_that_cannot_be_widened_are_warned_about() -> None:
    flows = [flow(PROMETHEUS, remote_node("34.120.5.7"), 10250)]
    store = new_store(LearnConfig())
    ingest(flows, store, LearnConfig(), NormalizeStats())
    proposal = build_proposal(store, None, LearnConfig())
    assert any("34.120.5.7/32 with no node network" in w for w in proposal.warnings)
    cilium = build_proposal(store, None, LearnConfig(format="cilium"))
    assert not any("no node network" in w for w in cilium.warnings), "entities need none"


def test_nodes_with_public_addresses_are_not_widened() -> None:
    blocks = node_blocks(["34.120.5.7"], waste=32.0, cluster_cidrs=(), node_cidrs=())
    assert blocks.cidrs == ("34.120.5.7/32",) and blocks.admits == ()


def test_node_cidr_is_the_node_network_and_never_drops_a_node_seen() -> None:
    config = LearnConfig(node_cidrs=("10.128.0.0/20",), cluster_cidrs=("10.244.0.0/16",))
    proposal = learned(config)
    policies = compiled(proposal)
    assert policies.evaluate(scrape("10.128.15.3")).allowed
    assert not policies.evaluate(scrape("10.128.16.1")).allowed
    assert node_admits(proposal) == ["10.128.0.0/20: the node network (--node-cidr), 3 nodes seen"]
    blocks = node_blocks(
        ["10.128.0.10", "10.200.0.10"],
        waste=32.0,
        cluster_cidrs=(),
        node_cidrs=(ipaddress.ip_network("10.128.0.0/20"),),
    )
    assert "10.128.0.0/20" in blocks.cidrs
    assert any(ipaddress.ip_address("10.200.0.10") in ipaddress.ip_network(c) for c in blocks.cidrs)


def test_cilium_names_nodes_by_entity_so_its_rules_admit_no_node_network() -> None:
    assert node_admits(learned(LearnConfig(format="cilium"))) == []


def test_a_node_cidr_that_is_not_a_cidr_is_a_usage_error_naming_the_flag() -> None:
    with pytest.raises(UsageError, match="--node-cidr"):
        checked_config(node_cidrs=("10.128.0.0/40",))


def hidden_node() -> Endpoint:
    """A Calico host endpoint at aggregation level 2 (or from Goldmane): a node, no address."""
    return Endpoint(
        kind=EndpointKind.HOST, workload_kind="HostEndpoint", workload_name="gke-pool-1-a1b2"
    )


def test_a_node_whose_address_calico_hid_is_allowed_as_private_space_and_said() -> None:
    """Even inside the cluster's ranges (VPC CNIs put pods and nodes in one subnet), and as the
    node entity, so that Cilium output names it rather than addresses it cannot match."""
    config = LearnConfig(cluster_cidrs=("10.0.0.0/8",))
    store = new_store(config)
    flows = [flow(PROMETHEUS, hidden_node(), 10250), flow(hidden_node(), PROMETHEUS, 9090)]
    ingest(flows, store, config, NormalizeStats())
    proposal = build_proposal(store, None, config)
    (policy,) = proposal.policies
    (rule,) = [r for r in policy.egress or () if any(p.port == 10250 for p in r.ports)]
    assert rule.peers == (EntityPeer(Entity.HOST, ("10.0.0.0/8", "172.16.0.0/12",
                                                   "192.168.0.0/16")),)  # fmt: skip
    (admitted,) = rule.admits
    assert "hidden by Calico" in admitted and "nodes elsewhere need --node-cidr" in admitted
    assert not policy.ingress, "the kubelet's own node stays implicitly allowed"
    policies = compiled(proposal)
    assert policies.evaluate(scrape(NEXT_DAY_NODE)).allowed
    cilium = build_proposal(store, None, replace(config, format="cilium"))
    (rule,) = [r for r in cilium.policies[0].egress or () if any(p.port == 10250 for p in r.ports)]
    assert rule.admits == (), "Cilium names the entity: no address is admitted"


def test_node_cidr_stands_for_nodes_whose_address_calico_hid() -> None:
    config = LearnConfig(node_cidrs=("10.128.0.0/20",))
    store = new_store(config)
    ingest([flow(PROMETHEUS, hidden_node(), 10250)], store, config, NormalizeStats())
    (policy,) = build_proposal(store, None, config).policies
    (rule,) = [r for r in policy.egress or () if any(p.port == 10250 for p in r.ports)]
    assert rule.peers == (EntityPeer(Entity.HOST, ("10.128.0.0/20",)),)
    assert rule.admits == (
        "addresses hidden by Calico flow-log aggregation (nodes): the node network is taken as "
        "10.128.0.0/20 (--node-cidr)",
    )
