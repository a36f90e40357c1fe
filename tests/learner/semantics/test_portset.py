"""The port index answers exactly what asking every matcher in turn answers."""

from __future__ import annotations

import random

from learner.semantics.calico import CalicoPortMatcher
from learner.semantics.ports import (
    ANY_PROTOCOL,
    AllPortsMatcher,
    PortMatcher,
    PortProtocolMatcher,
    PortRangeMatcher,
)
from learner.semantics.portset import PortSet, merge_intervals

PROTOCOLS = ("TCP", "UDP", "SCTP", "ICMP", ANY_PROTOCOL)
NAMES = ("http", "dns", "metrics")


def random_matcher(rng: random.Random) -> PortMatcher:
    protocol = rng.choice(PROTOCOLS)
    kind = rng.randrange(5)
    if kind == 0:
        start = rng.randrange(1, 200)
        return PortRangeMatcher(protocol, start, start + rng.randrange(-2, 30))
    if kind == 1:
        return PortProtocolMatcher(protocol)
    if kind == 2:
        return PortProtocolMatcher(protocol, name=rng.choice(NAMES))
    if kind == 3:
        return CalicoPortMatcher(
            frozenset({"TCP"}), not_ports=(PortProtocolMatcher("TCP", rng.randrange(1, 200)),)
        )
    return PortProtocolMatcher(protocol, rng.randrange(1, 200))


def test_index_agrees_with_asking_every_matcher() -> None:
    rng = random.Random(11)
    for _ in range(300):
        matchers = [random_matcher(rng) for _ in range(rng.randrange(0, 8))]
        if rng.random() < 0.05:
            matchers.append(AllPortsMatcher())
        index = PortSet(matchers)
        for protocol in ("TCP", "UDP", "SCTP", "ICMP", "ICMPv6"):
            for port in range(0, 240, 3):
                name = rng.choice(("", *NAMES))
                expected = any(m.allows(protocol, port, name) for m in matchers)
                assert index.allows(protocol, port, name) == expected, (matchers, protocol, port)


def test_sixty_four_thousand_ports_answer_like_the_list() -> None:
    matchers = [PortProtocolMatcher("TCP", p) for p in range(1000, 65000) if p % 7]
    index = PortSet(matchers)
    assert index.allows("TCP", 1002, "")
    assert not index.allows("TCP", 1001, "")  # a multiple of 7
    assert not index.allows("UDP", 1002, "")
    assert not index.allows("TCP", 999, "")
    assert not index.allows("TCP", 65000, "")


def test_intervals_merge_when_overlapping_or_adjacent() -> None:
    assert merge_intervals([(5, 9), (1, 3), (4, 4), (20, 25), (22, 30), (40, 39)]) == [
        (1, 9),
        (20, 30),
    ]


def test_every_interval_boundary_is_exact() -> None:
    """Each end of each interval, and the port beside it: an off-by-one in the search (bisect
    side, ``<`` for ``<=``) or in merging (a one-port gap closed) flips one of these."""
    matchers: list[PortMatcher] = [
        PortRangeMatcher("TCP", 10, 20),
        PortRangeMatcher("TCP", 21, 30),  # adjacent: one interval 10-30
        PortRangeMatcher("TCP", 32, 40),  # 31 stays a gap
        PortProtocolMatcher("TCP", 42),  # single ports with a gap between
        PortProtocolMatcher("TCP", 44),
        PortProtocolMatcher("TCP", 1),
        PortRangeMatcher("TCP", 65530, 65535),
    ]
    index = PortSet(matchers)
    allowed = {1, 42, 44, *range(10, 31), *range(32, 41), *range(65530, 65536)}
    for port in range(0, 65536):
        expected = port in allowed
        assert index.allows("TCP", port, "") == expected, port
        assert any(m.allows("TCP", port, "") for m in matchers) == expected, port
    assert not index.allows("UDP", 15, "")
