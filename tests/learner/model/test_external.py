"""The cap on distinct outside addresses per edge group (``--max-external-peers``)."""

from __future__ import annotations

import ipaddress

from learner.model.edges import EdgeStore
from learner.model.external import (
    CLASS,
    FOLDED_PRIVATE,
    FOLDED_PUBLIC,
    PeerCap,
    folded_address,
)
from learner.model.flow import Direction
from tests.flowbuild import flow, pod, world

CLIENT = pod("shop", "client-7d4b9c8f6d-abcde", app="client")
SERVER = pod("shop", "web-7d4b9c8f6d-abcde", app="web")


def addresses(count: int, first: str = "11.0.0.0") -> list[str]:
    base = int(ipaddress.ip_address(first))
    return [str(ipaddress.ip_address(base + i)) for i in range(count)]


def egress_store(
    cap: int, peers: list[str], port: int = 443, cidrs: tuple[str, ...] = ()
) -> EdgeStore:
    store = EdgeStore(peer_cap=PeerCap(cap, cidrs))
    for i, address in enumerate(peers):
        store.add(flow(CLIENT, world(address), port, time=1_700_000_000.0 + i))
    return store


def outside(store: EdgeStore) -> list[str]:
    return sorted(key.destination.address for key in store.edges)


def test_below_the_cap_every_address_stays_its_own_edge() -> None:
    store = egress_store(10, addresses(10))
    assert outside(store) == sorted(addresses(10))
    assert all(stats.folded == 0 for stats in store.edges.values())


def test_over_the_cap_addresses_fold_into_their_24_and_flows_are_kept() -> None:
    # 600 addresses in 11.0.0.0 .. 11.0.2.87: three /24s.
    store = egress_store(100, addresses(600))
    assert outside(store) == ["11.0.0.0/24", "11.0.1.0/24", "11.0.2.0/24"]
    assert sum(stats.count for stats in store.edges.values()) == 600
    stats = {key.destination.address: s for key, s in store.edges.items()}
    assert stats["11.0.0.0/24"].first_seen == 1_700_000_000.0
    assert stats["11.0.2.0/24"].last_seen == 1_700_000_599.0
    # Lower bound of distinct addresses folded, never more than were seen.
    assert {s.folded for s in stats.values()} == {100}  # "more than 100 addresses"


def test_too_many_prefixes_fold_into_the_address_class() -> None:
    spread = [f"11.{i // 256}.{i % 256}.7" for i in range(30)]  # 30 distinct /24s
    private = [f"10.9.{i}.1" for i in range(30)]
    store = egress_store(20, spread)
    assert outside(store) == [FOLDED_PUBLIC]
    store = egress_store(20, private)
    assert outside(store) == [FOLDED_PRIVATE]


def test_a_cap_below_the_number_of_classes_keeps_both_classes_and_ends() -> None:
    """Found by a test with a cap of one: public and private peers of one group are two
    classes, over that cap, and folding went on looking for a level past the class forever."""
    store = egress_store(1, ["11.0.0.1", "10.9.0.1", "11.0.0.2", "10.9.0.2", "11.7.0.1"])
    assert outside(store) == [FOLDED_PUBLIC, FOLDED_PRIVATE]
    assert sum(stats.count for stats in store.edges.values()) == 5


def test_groups_are_per_port_and_direction() -> None:
    store = EdgeStore(peer_cap=PeerCap(5, ()))
    for address in addresses(6):
        store.add(flow(CLIENT, world(address), 443))
        store.add(flow(world(address), SERVER, 8080, direction=Direction.INGRESS))
    for address in addresses(3, "12.0.0.0"):
        store.add(flow(CLIENT, world(address), 80))
    egress_443 = {k.destination.address for k in store.edges if k.port == 443}
    ingress = {k.source.address for k in store.edges if k.port == 8080}
    egress_80 = {k.destination.address for k in store.edges if k.port == 80}
    assert egress_443 == {"11.0.0.0/24"}
    assert ingress == {"11.0.0.0/24"}
    assert egress_80 == set(addresses(3, "12.0.0.0"))


def test_cluster_ranges_are_never_folded_over() -> None:
    # The cluster owns 10.9.0.0/26: those addresses stay exact, and the /24 around the others
    # would reach into it, so they go to the private class (which excepts cluster ranges).
    inside = [f"10.9.0.{i}" for i in range(1, 11)]
    beside = [f"10.9.0.{i}" for i in range(100, 120)]
    store = egress_store(5, inside + beside, cidrs=("10.9.0.0/26",))
    found = set(outside(store))
    assert set(inside) <= found
    assert found - set(inside) == {FOLDED_PRIVATE}
    cluster = ((4, int(ipaddress.ip_address("10.9.0.0")), int(ipaddress.ip_address("10.9.0.63"))),)
    assert folded_address("10.9.0.100", 1, cluster) == FOLDED_PRIVATE
    assert folded_address("10.9.1.100", 1, cluster) == "10.9.1.0/24"


def test_ipv6_folds_to_48() -> None:
    peers = [f"2001:db8:0:{i}::1" for i in range(12)]  # one /48
    store = egress_store(4, peers)
    assert outside(store) == ["2001:db8::/48"]


def test_merged_parts_fold_exactly_like_one_store() -> None:
    peers = addresses(900)
    whole = egress_store(500, peers)
    left, right = egress_store(500, peers[:450]), egress_store(500, peers[450:])
    assert len(outside(left)) == 450  # each part alone is under the cap
    merged = EdgeStore(peer_cap=PeerCap(500, ()))
    merged.merge(left)
    merged.merge(right)
    assert (
        outside(merged)
        == outside(whole)
        == ["11.0.0.0/24", "11.0.1.0/24", "11.0.2.0/24", "11.0.3.0/24"]
    )
    counts = {k.destination.address: s.count for k, s in merged.edges.items()}
    assert counts == {k.destination.address: s.count for k, s in whole.edges.items()}


def test_a_partial_already_folded_folds_the_other_side_on_merge() -> None:
    peers = addresses(300)
    folded = egress_store(100, peers[:200])
    exact = egress_store(100, peers[200:250])
    merged = EdgeStore(peer_cap=PeerCap(100, ()))
    merged.merge(exact)
    merged.merge(folded)
    assert outside(merged) == ["11.0.0.0/24"]
    assert sum(s.count for s in merged.edges.values()) == 250


def test_no_cap_keeps_everything() -> None:
    store = EdgeStore()
    for address in addresses(300):
        store.add(flow(CLIENT, world(address), 443))
    assert len(store.edges) == 300


def test_the_private_class_is_what_its_block_covers_rfc1918_ipv4_only() -> None:
    # The private class renders as Calico's hidden pvt end (RFC 1918, IPv4): an address it
    # does not cover must fold into the public class, or tomorrow's traffic to it is denied.
    assert folded_address("10.1.2.3", CLASS) == FOLDED_PRIVATE
    assert folded_address("192.168.7.9", CLASS) == FOLDED_PRIVATE
    for outside_rfc1918 in ("100.64.1.1", "169.254.169.254", "fd00::1", "fe80::1", "8.8.8.8"):
        assert folded_address(outside_rfc1918, CLASS) == FOLDED_PUBLIC, outside_rfc1918


def test_without_cluster_ranges_private_addresses_never_fold_into_a_prefix() -> None:
    # The cluster's ranges are unknown until the learner infers them from pods, and outside
    # machines can share a subnet with pods (e.g. a VPC CNI): a 10.0.3.0/24 block could then
    # admit pods. Private addresses go to their class, whose blocks except the cluster.
    store = egress_store(100, addresses(300, "10.0.3.0"))
    assert outside(store) == [FOLDED_PRIVATE]
    store = egress_store(100, addresses(300, "10.0.3.0"), cidrs=("10.244.0.0/16",))
    assert outside(store) == ["10.0.3.0/24", "10.0.4.0/24"]  # known ranges: the /24s are safe


def test_a_reloaded_group_folds_as_the_process_that_learned_it() -> None:
    # One address's /24 reaches into the cluster range, so it went to the class alone; the
    # others stayed at their /24. Rebuilding the groups from the edges must not widen them.
    cluster = ("203.0.113.0/25",)
    peers = ["198.51.100.1", "198.51.100.2", "198.51.100.3", "203.0.113.200"]
    learned = egress_store(2, peers, cidrs=cluster)
    kept = outside(learned)
    assert kept == ["198.51.100.0/24", FOLDED_PUBLIC]
    reloaded = EdgeStore(peer_cap=PeerCap(2, cluster))
    reloaded.merge(learned)
    assert outside(reloaded) == kept


def test_an_address_already_folded_keeps_the_flows_folded_into_its_edge() -> None:
    """Found in review: an outside end written folded (a class) is the edge its group folds
    into; the store created it anew over the flows the fold had just moved there."""
    store = egress_store(1, ["203.0.113.1", "203.0.113.1", FOLDED_PUBLIC])
    assert outside(store) == [FOLDED_PUBLIC]
    (stats,) = store.edges.values()
    assert stats.count == 3
    assert stats.folded == 1
    assert stats.first_seen == 1_700_000_000.0
