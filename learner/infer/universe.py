"""Every workload the learner knows of, indexed as bitsets.

The :class:`Universe` holds the inventory's workloads plus those seen only in the flows: bit
*i* stands for ``members[i]``, so "which workloads does this selector admit?" is a few integer
ANDs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from learner.model.flow import Labels
from learner.model.identity import Identity
from learner.model.inventory import ContainerPort
from learner.model.policy import LabelSelector, Operator, Requirement


@dataclass(frozen=True, slots=True)
class Member:
    """One workload as the learner sees it: a namespace and its stable labels."""

    namespace: str
    labels: Labels
    names: tuple[str, ...] = ()
    """Workload names (inventory names, or names derived from pods in the flows)."""
    ports: tuple[ContainerPort, ...] = ()
    observed_only: bool = False
    """Not in the inventory: known from the flows alone."""

    @property
    def display(self) -> str:
        if self.names:
            return f"{self.namespace}/{self.names[0]}"
        return Identity("pod", self.namespace, self.labels).key


def bits_of(indices: Iterable[int]) -> int:
    value = 0
    for index in indices:
        value |= 1 << index
    return value


def iter_bits(bits: int) -> Iterator[int]:
    while bits:
        low = bits & -bits
        yield low.bit_length() - 1
        bits ^= low


@dataclass
class Universe:
    """Every known workload, with bitset indexes for fast selector evaluation."""

    members: tuple[Member, ...]
    namespace_labels: Mapping[str, Labels] = field(default_factory=dict)
    all_bits: int = 0
    ns_bits: dict[str, int] = field(default_factory=dict)
    label_bits: dict[tuple[str, str], int] = field(default_factory=dict)
    key_bits: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for index, member in enumerate(self.members):
            bit = 1 << index
            self.all_bits |= bit
            self.ns_bits[member.namespace] = self.ns_bits.get(member.namespace, 0) | bit
            for key, value in member.labels:
                self.label_bits[(key, value)] = self.label_bits.get((key, value), 0) | bit
                self.key_bits[key] = self.key_bits.get(key, 0) | bit

    def selected(self, selector: LabelSelector | None) -> int:
        """Members (in any namespace) whose labels match ``selector`` (None: all)."""
        bits = self.all_bits
        if selector is None:
            return bits
        for pair in selector.match_labels:
            bits &= self.label_bits.get(pair, 0)
        for requirement in selector.match_expressions:
            bits &= self._requirement_bits(requirement)
        return bits

    def _requirement_bits(self, requirement: Requirement) -> int:
        has_key = self.key_bits.get(requirement.key, 0)
        if requirement.operator is Operator.EXISTS:
            return has_key
        if requirement.operator is Operator.DOES_NOT_EXIST:
            return self.all_bits & ~has_key
        inside = 0
        for value in requirement.values:
            inside |= self.label_bits.get((requirement.key, value), 0)
        return inside if requirement.operator is Operator.IN else self.all_bits & ~inside

    def in_namespaces(self, namespaces: Iterable[str]) -> int:
        bits = 0
        for namespace in namespaces:
            bits |= self.ns_bits.get(namespace, 0)
        return bits

    def names(self, bits: int) -> tuple[str, ...]:
        return tuple(sorted(self.members[i].display for i in iter_bits(bits)))
