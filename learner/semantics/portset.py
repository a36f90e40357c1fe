"""A rule's port matchers as sorted intervals per protocol, so "does this rule admit port p"
is a binary search instead of a scan: a learned rule can list tens of thousands of ports, and
the self-check asks once per observed edge.

Matchers of known shape (all ports, one port, a range, a whole protocol, a named port) are
indexed; any other matcher (Calico's protocol/notPorts combination) is kept and asked in turn,
so the answer is always exactly "any matcher allows".
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

from learner.semantics.ports import (
    ANY_PROTOCOL,
    AllPortsMatcher,
    PortMatcher,
    PortProtocolMatcher,
    PortRangeMatcher,
)

_ANY_EXPANDS_TO = ("TCP", "UDP", "SCTP")
_WHOLE_PROTOCOL = (-(1 << 62), 1 << 62)
"""A protocol's every port, ICMP types included (whatever number the traffic carries)."""


class PortSet:
    """The union of some port matchers, answering :meth:`allows` in O(log n)."""

    __slots__ = ("_all", "_starts", "_ends", "_names", "_other")

    def __init__(self, matchers: Iterable[PortMatcher]) -> None:
        self._all = False
        intervals: dict[str, list[tuple[int, int]]] = {}
        self._names: set[tuple[str, str]] = set()
        self._other: list[PortMatcher] = []
        for matcher in matchers:
            if isinstance(matcher, AllPortsMatcher):
                self._all = True
            elif isinstance(matcher, PortProtocolMatcher) and matcher.name:
                for protocol in _protocols(matcher.protocol):
                    self._names.add((protocol, matcher.name))
            elif isinstance(matcher, PortProtocolMatcher):
                span = _WHOLE_PROTOCOL if matcher.port is None else (matcher.port, matcher.port)
                for protocol in _protocols(matcher.protocol):
                    intervals.setdefault(protocol, []).append(span)
            elif isinstance(matcher, PortRangeMatcher):
                for protocol in _protocols(matcher.protocol):
                    intervals.setdefault(protocol, []).append((matcher.start, matcher.end))
            else:
                self._other.append(matcher)
        self._starts: dict[str, list[int]] = {}
        self._ends: dict[str, list[int]] = {}
        for protocol, spans in intervals.items():
            merged = merge_intervals(spans)
            self._starts[protocol] = [start for start, _ in merged]
            self._ends[protocol] = [end for _, end in merged]

    def allows(self, protocol: str, port: int, port_name: str) -> bool:
        if self._all:
            return True
        starts = self._starts.get(protocol)
        if starts is not None:
            index = bisect_right(starts, port) - 1
            if index >= 0 and port <= self._ends[protocol][index]:
                return True
        if port_name and (protocol, port_name) in self._names:
            return True
        return any(m.allows(protocol, port, port_name) for m in self._other)


def _protocols(protocol: str) -> tuple[str, ...]:
    return _ANY_EXPANDS_TO if protocol == ANY_PROTOCOL else (protocol,)


def merge_intervals(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, disjoint, non-adjacent inclusive intervals covering exactly ``spans``."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if end < start:
            continue
        if merged and start <= merged[-1][1] + 1:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged
