from __future__ import annotations

from learner.ingest.normalize import normalize, skip_reason
from learner.model.config import NormalizeOptions
from learner.model.flow import Direction, Protocol, Verdict
from learner.model.run_stats import NormalizeStats, SkipReason
from tests.flowbuild import flow, pod, world

A, B = pod("x", "a-1", app="a"), pod("y", "b-1", app="b")


def test_replies_never_become_rules() -> None:
    assert skip_reason(flow(A, B, 80, is_reply=True), NormalizeOptions()) is SkipReason.REPLY


def test_unflagged_reply_recognised_by_ports() -> None:
    reply = flow(B, A, 45000, is_reply=None, source_port=80)
    assert skip_reason(reply, NormalizeOptions()) is SkipReason.PROBABLE_REPLY
    request = flow(A, B, 80, is_reply=None, source_port=45000)
    assert skip_reason(request, NormalizeOptions()) is None


def test_dropped_only_with_include_dropped() -> None:
    dropped = flow(A, B, 80, verdict=Verdict.DROPPED)
    assert skip_reason(dropped, NormalizeOptions()) is SkipReason.DROPPED
    assert skip_reason(dropped, NormalizeOptions(include_dropped=True)) is None


def test_audit_counts_as_traffic() -> None:
    assert skip_reason(flow(A, B, 80, verdict=Verdict.AUDIT), NormalizeOptions()) is None


def test_namespace_filter_keeps_either_end() -> None:
    options = NormalizeOptions(namespaces=frozenset({"y"}))
    assert skip_reason(flow(A, B, 80), options) is None
    assert (
        skip_reason(flow(A, world("8.8.8.8"), 53, protocol=Protocol.UDP), options)
        is SkipReason.NAMESPACE
    )


def test_stats_count_everything() -> None:
    flows = [flow(A, B, 80), flow(A, B, 80, is_reply=True), flow(A, B, 80, verdict=Verdict.DROPPED)]
    stats = NormalizeStats()
    kept = list(normalize(flows, NormalizeOptions(), stats))
    assert len(kept) == 1
    assert stats.seen == 3 and stats.included == 1
    assert stats.skipped == {SkipReason.REPLY: 1, SkipReason.DROPPED: 1}
    assert len(stats.dropped_samples) == 1
    assert kept[0].direction == Direction.EGRESS


def test_a_record_without_destination_port_is_never_evidence() -> None:
    web, db = pod("shop", "web", app="web"), pod("shop", "db", app="db")
    options = NormalizeOptions()
    for protocol in (Protocol.TCP, Protocol.UDP, Protocol.SCTP):
        for direction in Direction:
            portless = flow(web, db, 0, protocol=protocol, direction=direction, is_reply=None)
            assert skip_reason(portless, options) is SkipReason.NO_PORT


def test_icmp_is_read_by_type() -> None:
    web, db = pod("shop", "web", app="web"), pod("shop", "db", app="db")
    options = NormalizeOptions()

    def reason(protocol: Protocol, icmp_type: int) -> SkipReason | None:
        return skip_reason(flow(web, db, icmp_type, protocol=protocol), options)

    assert reason(Protocol.ICMPV4, 8) is None  # echo request: a connection
    assert reason(Protocol.ICMPV6, 128) is None
    assert reason(Protocol.ICMPV4, 0) is None  # type not recorded (Calico): kept
    assert reason(Protocol.ICMPV4, 3) is SkipReason.ICMP_ERROR  # destination unreachable
    assert reason(Protocol.ICMPV4, 11) is SkipReason.ICMP_ERROR  # time exceeded
    assert reason(Protocol.ICMPV6, 2) is SkipReason.ICMP_ERROR  # packet too big
    assert reason(Protocol.ICMPV6, 129) is SkipReason.REPLY  # echo reply
    assert reason(Protocol.ICMPV6, 135) is SkipReason.ICMP_LINK_LOCAL  # neighbour solicitation
