"""Address pools: spread addresses of one provider become the pool's prefix, with evidence."""

from __future__ import annotations

import random

from learner.infer.cidr import aggregate
from learner.infer.pools import pool_evidence
from learner.model.config import LearnConfig

DEFAULT_WASTE = LearnConfig().cidr_waste


def spread_pool(count: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    return sorted({f"52.10.20.{n}" for n in rng.sample(range(256), count)}, key=lambda a: a)


def test_twenty_addresses_spread_over_a_slash_24_become_the_slash_24() -> None:
    addresses = spread_pool(20)
    blocks = aggregate(addresses, waste=DEFAULT_WASTE)
    assert [b.cidr for b in blocks] == ["52.10.20.0/24"]


def test_a_pool_learned_on_day_one_admits_day_two_addresses_of_the_same_pool() -> None:
    day_one = spread_pool(20, seed=1)
    day_two = [a for a in spread_pool(20, seed=2) if a not in day_one]
    (block,) = aggregate(day_one, waste=DEFAULT_WASTE)
    assert day_two
    assert all(block.network.supernet_of(aggregate([a], waste=1)[0].network) for a in day_two)


def test_two_or_three_addresses_are_not_a_pool() -> None:
    assert [b.cidr for b in aggregate(["52.1.2.3", "52.1.2.4"], waste=DEFAULT_WASTE)] == [
        "52.1.2.3/32",
        "52.1.2.4/32",
    ]


def test_clustered_addresses_get_the_tight_prefix_not_the_provider_one() -> None:
    addresses = [f"52.10.20.{n}" for n in (16, 17, 18, 19, 21)]
    assert [b.cidr for b in aggregate(addresses, waste=DEFAULT_WASTE)] == ["52.10.20.16/29"]


def test_no_pool_is_wider_than_a_slash_16() -> None:
    rng = random.Random(5)
    addresses = sorted({f"52.{rng.randrange(8, 12)}.{rng.randrange(256)}.1" for _ in range(200)})
    for block in aggregate(addresses, waste=1_000_000):
        assert block.network.prefixlen >= 16


def test_pool_evidence_names_the_counts_and_the_domain() -> None:
    addresses = spread_pool(20)
    (block,) = aggregate(addresses, waste=DEFAULT_WASTE)
    names = [f"api-{i}.payments.example.com" for i in range(1, 21)]
    assert pool_evidence(block, names) == (
        "20 of 256 addresses seen, 20 names of payments.example.com"
    )
    assert pool_evidence(block, []) == "20 of 256 addresses seen, no DNS names"
