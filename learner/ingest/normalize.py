"""Normalisation: the one shared step between every collector and aggregation.

It decides which flows become evidence for rules and counts every one it sets aside, by reason:
replies never become rules (they are implicitly allowed), dropped and errored flows only with
``include_dropped``, audit-mode flows always (they are traffic that must keep working).
Both observation points of one connection reach the same edge; the edge counts them once
(see :attr:`learner.aggregate.EdgeStats.count`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from learner.model.config import NormalizeOptions
from learner.model.flow import EndpointKind, Flow, Verdict
from learner.model.icmp import ICMPKind, icmp_kind
from learner.model.run_stats import NormalizeStats, SkipReason

EPHEMERAL_PORT_FLOOR = 32768


ALLOWED_VERDICTS = frozenset(
    {Verdict.FORWARDED, Verdict.AUDIT, Verdict.REDIRECTED, Verdict.TRACED, Verdict.TRANSLATED}
)


def is_probable_reply(flow: Flow) -> bool:
    """A flow whose CNI said nothing about replies, going from a service port to an ephemeral one."""
    return (
        flow.protocol.has_ports
        and flow.port >= EPHEMERAL_PORT_FLOOR
        and 0 < flow.source_port < EPHEMERAL_PORT_FLOOR
    )


def skip_reason(flow: Flow, options: NormalizeOptions) -> SkipReason | None:
    """Why ``flow`` must not become evidence for a rule, or None when it should."""
    if flow.is_reply:
        return SkipReason.REPLY
    if flow.is_reply is None and is_probable_reply(flow):
        return SkipReason.PROBABLE_REPLY
    if flow.verdict not in ALLOWED_VERDICTS:
        if flow.verdict in (Verdict.DROPPED, Verdict.ERROR):
            if not options.include_dropped:
                return SkipReason.DROPPED if flow.verdict == Verdict.DROPPED else SkipReason.ERROR
        else:
            return SkipReason.UNKNOWN_VERDICT
    src, dst = flow.source, flow.destination
    if EndpointKind.HEALTH in (src.kind, dst.kind):
        return SkipReason.HEALTH
    src_pod, dst_pod = src.kind == EndpointKind.POD, dst.kind == EndpointKind.POD
    if not (src_pod or dst_pod):
        return SkipReason.NO_POD
    if options.namespaces and not (
        (src_pod and src.namespace in options.namespaces)
        or (dst_pod and dst.namespace in options.namespaces)
    ):
        return SkipReason.NAMESPACE
    if not flow.protocol.has_ports:
        kind = icmp_kind(flow.protocol, flow.port)
        if kind is ICMPKind.REPLY:
            return SkipReason.REPLY
        if kind is ICMPKind.ERROR:
            return SkipReason.ICMP_ERROR
        if kind is ICMPKind.LINK_LOCAL:
            return SkipReason.ICMP_LINK_LOCAL
    elif flow.port == 0:
        # Port aggregated away (Calico level 3) or never recorded: a record that merely lacks
        # a port is no evidence that every port is used.
        return SkipReason.NO_PORT
    return None


def normalize(
    flows: Iterable[Flow],
    options: NormalizeOptions,
    stats: NormalizeStats,
    on_denied: Callable[[Flow], object] | None = None,
    on_answer: Callable[[Flow], object] | None = None,
) -> Iterator[Flow]:
    """Yield the flows that are evidence for rules; count the rest in ``stats``.

    ``on_denied`` sees every dropped flow set aside, so that a connection one end allowed and
    the other dropped is not learned as allowed. ``on_answer`` sees every DNS response that
    carries addresses (replies, so never evidence themselves): what names resolve to.
    """
    skipped = stats.skipped
    for flow in flows:
        stats.seen += 1
        if flow.dns_answers and on_answer is not None:
            on_answer(flow)
        if flow.is_reply:  # the commonest reason, checked before the call
            skipped[SkipReason.REPLY] += 1
            continue
        reason = skip_reason(flow, options)
        if reason is None:
            stats.included += 1
            yield flow
            continue
        skipped[reason] += 1
        if reason in (SkipReason.DROPPED, SkipReason.ERROR):
            if len(stats.dropped_samples) < 20:
                stats.dropped_samples.append(flow)
            if on_denied is not None and reason is SkipReason.DROPPED:
                on_denied(flow)
