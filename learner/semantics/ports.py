"""Port matchers: whether a rule admits a protocol and port (or a named port, or an ICMP type).

They sit below :mod:`learner.semantics.matchers` and :mod:`learner.semantics.portset`, which
indexes them as intervals.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

ANY_PROTOCOL = "ANY"
"""A port matcher protocol meaning TCP, UDP or SCTP (Cilium's ``ANY``)."""
_PORT_PROTOCOLS = frozenset({"TCP", "UDP", "SCTP"})


class PortMatcher(ABC):
    """Whether a rule admits a destination protocol and port (or the port's name)."""

    __slots__ = ()

    @abstractmethod
    def allows(self, protocol: str, port: int, port_name: str) -> bool: ...

    @property
    @abstractmethod
    def key(self) -> str: ...


@dataclass(frozen=True, slots=True)
class AllPortsMatcher(PortMatcher):
    """A rule without ``ports``: every protocol (ICMP included) and every port."""

    def allows(self, protocol: str, port: int, port_name: str) -> bool:
        return True

    @property
    def key(self) -> str:
        return "<all ports>"


def _protocol_matches(wanted: str, protocol: str) -> bool:
    return wanted == protocol or (wanted == ANY_PROTOCOL and protocol in _PORT_PROTOCOLS)


@dataclass(frozen=True, slots=True)
class PortProtocolMatcher(PortMatcher):
    """One port (or every port when ``port`` is None) of one protocol; or a named port.

    A named port matches when the destination pod's container port with that name is the
    traffic's port, which the traffic carries as ``port_name``; unknown names never match.
    """

    protocol: str
    port: int | None = None
    name: str = ""

    def allows(self, protocol: str, port: int, port_name: str) -> bool:
        if not _protocol_matches(self.protocol, protocol):
            return False
        if self.name:
            return port_name == self.name
        return self.port is None or self.port == port

    @property
    def key(self) -> str:
        if self.name:
            return f"{self.name}/{self.protocol}"
        return f"{'any' if self.port is None else self.port}/{self.protocol}"


@dataclass(frozen=True, slots=True)
class ICMPTypeMatcher(PortMatcher):
    """ICMP messages of one type (Cilium ``icmps`` fields, Calico ``icmp.type``).

    ICMP traffic carries its type as the port (learner/icmp.py); 0 means the source did not
    record it, which the matcher cannot judge and lets through (the renderer says what it
    assumed in a comment).
    """

    protocol: str
    icmp_type: int

    def allows(self, protocol: str, port: int, port_name: str) -> bool:
        return protocol == self.protocol and port in (0, self.icmp_type)

    @property
    def key(self) -> str:
        return f"type {self.icmp_type}/{self.protocol}"


@dataclass(frozen=True, slots=True)
class PortRangeMatcher(PortMatcher):
    """Ports ``start`` to ``end`` inclusive (``port`` + ``endPort``)."""

    protocol: str
    start: int
    end: int

    def allows(self, protocol: str, port: int, port_name: str) -> bool:
        return _protocol_matches(self.protocol, protocol) and self.start <= port <= self.end

    @property
    def key(self) -> str:
        return f"{self.start}-{self.end}/{self.protocol}"
