"""CIDR aggregation: waste budget, special ranges, cluster ranges, IPv6."""

from __future__ import annotations

import ipaddress
import random

import pytest

from learner.infer.cidr import (
    SPECIAL_RANGES,
    aggregate,
    category,
    distinct_networks,
    host_cidr,
    infer_cluster_cidrs,
    internet_blocks,
    parse_networks,
)


def cidrs(addresses: list[str], waste: float = 4.0, cluster: tuple[str, ...] = ()) -> list[str]:
    return [
        b.cidr for b in aggregate(addresses, waste=waste, cluster_cidrs=parse_networks(cluster))
    ]


@pytest.mark.parametrize(
    ("addresses", "waste", "expected"),
    [
        (["52.1.2.3"], 4.0, ["52.1.2.3/32"]),
        (["52.1.2.3", "52.1.2.4"], 4.0, ["52.1.2.3/32", "52.1.2.4/32"]),
        (["52.1.2.3", "52.1.2.4", "52.1.2.5", "52.1.2.6"], 4.0, ["52.1.2.0/29"]),
        (["52.1.2.3", "52.1.2.4"], 2.0, ["52.1.2.3/32", "52.1.2.4/32"]),
        (["52.1.2.0", "52.1.2.1"], 1.0, ["52.1.2.0/31"]),
        (
            ["52.1.2.1", "52.1.2.2", "52.1.2.200"],
            4.0,
            ["52.1.2.1/32", "52.1.2.2/32", "52.1.2.200/32"],
        ),
        (["52.1.2.0", "52.1.2.1", "52.1.2.2"], 4.0, ["52.1.2.0/31", "52.1.2.2/32"]),
        (["2001:db9::1", "2001:db9::2", "2001:db9::3", "2001:db9::5"], 4.0, ["2001:db9::/125"]),
        (["2001:db9::1", "2001:db9::1:0"], 4.0, ["2001:db9::1/128", "2001:db9::1:0/128"]),
    ],
)
def test_blocks_stay_within_the_waste_budget(
    addresses: list[str], waste: float, expected: list[str]
) -> None:
    assert cidrs(addresses, waste) == expected


def test_never_merges_public_with_private_or_two_special_ranges() -> None:
    # 9.255.255.255 and 10.0.0.0 are adjacent, but one is public and one RFC 1918.
    assert cidrs(["9.255.255.255", "10.0.0.0"], waste=1000) == ["9.255.255.255/32", "10.0.0.0/32"]
    # 100.63.255.255 is public, 100.64.0.0 CGNAT.
    assert cidrs(["100.63.255.254", "100.63.255.255", "100.64.0.0", "100.64.0.1"], waste=1) == [
        "100.63.255.254/31",
        "100.64.0.0/31",
    ]


def test_never_reaches_into_cluster_ranges() -> None:
    addresses = ["10.96.0.254", "10.96.1.1", "10.96.1.7", "10.96.0.9"]
    assert cidrs(addresses, waste=1000) == ["10.96.0.0/23"]
    assert cidrs(addresses, waste=1000, cluster=("10.96.1.0/24",)) == [
        "10.96.0.9/32",
        "10.96.0.254/32",
        "10.96.1.1/32",
        "10.96.1.7/32",
    ]


def test_random_addresses_respect_every_invariant() -> None:
    rng = random.Random(11)
    prefixes = ["9.255.255.", "10.0.0.", "172.31.255.", "172.32.0.", "192.168.0.", "52.95.110."]
    addresses = sorted({f"{rng.choice(prefixes)}{rng.randrange(256)}" for _ in range(300)})
    for waste in (1.0, 2.0, 4.0, 16.0):
        blocks = aggregate(addresses, waste=waste)
        covered = [a for b in blocks for a in b.addresses]
        assert sorted(covered) == addresses
        for block in blocks:
            assert block.network.num_addresses <= max(waste * len(block.addresses), 1)
            homes = {category(ipaddress.ip_address(a)) for a in block.addresses}
            assert len(homes) == 1
            (home,) = homes
            if home is None:
                assert not any(block.network.overlaps(s) for s in SPECIAL_RANGES if s.version == 4)
            else:
                assert block.network.subnet_of(home)  # type: ignore[arg-type]


def test_internet_block_excepts_private_and_cluster_ranges() -> None:
    block = internet_blocks(4, parse_networks(["10.244.0.0/16", "100.100.0.0/16", "8.8.0.0/16"]))
    assert block.cidr == "0.0.0.0/0"
    assert "10.0.0.0/8" in block.excepts and "10.244.0.0/16" not in block.excepts
    assert "100.64.0.0/10" in block.excepts and "169.254.0.0/16" in block.excepts
    assert "8.8.0.0/16" in block.excepts
    assert internet_blocks(6, ()).excepts == ("fc00::/7", "fe80::/10")


def test_distinct_networks_counts_slash_16s() -> None:
    parsed = [ipaddress.ip_address(a) for a in ("52.1.2.3", "52.1.9.9", "52.2.0.1", "2600::1")]
    assert distinct_networks(parsed) == 3


def test_pod_range_is_inferred_per_special_range() -> None:
    found = infer_cluster_cidrs(["10.244.1.5", "10.244.3.9", "fd00:10:244::5", "bogus"])
    assert [str(n) for n in found] == ["10.244.0.0/22", "fd00:10:244::5/128"]


def test_host_cidr_and_bad_input() -> None:
    assert host_cidr("1.2.3.4") == "1.2.3.4/32"
    assert host_cidr("fd00::1") == "fd00::1/128"
    with pytest.raises(ValueError, match="not a CIDR"):
        parse_networks(["10.0.0.0/33"])
    assert cidrs(["not-an-ip", "1.2.3.4"]) == ["1.2.3.4/32"]
