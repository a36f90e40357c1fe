"""External peers: observed addresses become CIDR blocks no wider than a waste budget allows.

A block may hold at most ``waste`` times as many addresses as were observed inside it, never
mixes address families, never spans two special-purpose ranges (RFC 1918, CGNAT, link-local,
ULA ...) and never reaches from public into special space or into the cluster's own ranges.
Within those limits each group of addresses gets the tightest prefix covering it, split
recursively where that prefix would waste too much. The one exception is the stated
"internet" widening (:func:`internet_blocks`), which callers apply on purpose.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SPECIAL_RANGES: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(text)
    for text in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/127",
        "::ffff:0:0/96",
        "64:ff9b::/96",
        "100::/64",
        "2001:db8::/32",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
)
"""Non-public ranges: a block stays inside one of them, or outside all of them."""

PRIVATE_RANGES: dict[int, tuple[IPNetwork, ...]] = {
    4: tuple(
        ipaddress.ip_network(t)
        for t in (
            "10.0.0.0/8",
            "100.64.0.0/10",
            "169.254.0.0/16",
            "172.16.0.0/12",
            "192.168.0.0/16",
        )
    ),
    6: tuple(ipaddress.ip_network(t) for t in ("fc00::/7", "fe80::/10")),
}
"""What the internet widening excepts besides the cluster's ranges (link-local covers the cloud
metadata address 169.254.169.254)."""

WIDEST_PREFIX: dict[int, int] = {4: 16, 6: 48}
"""No waste budget merges beyond these prefix lengths."""

POOL_MIN_ADDRESSES = 4
"""A block admitting addresses nobody was seen using must hold at least this many observed
ones: two or three addresses are not yet evidence of a provider's pool."""

INTERNET_NETWORK_PREFIX: dict[int, int] = {4: 16, 6: 32}
"""How public addresses are counted as distinct networks for the internet widening."""


def parse_address(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def category(address: IPAddress) -> IPNetwork | None:
    """The special-purpose range holding ``address``, or None for public space."""
    for network in SPECIAL_RANGES:
        if network.version == address.version and address in network:
            return network
    return None


def is_public(address: IPAddress) -> bool:
    return category(address) is None


@dataclass(frozen=True, slots=True)
class Block:
    """One emitted CIDR and the observed addresses that justify it."""

    network: IPNetwork
    addresses: tuple[str, ...]
    """Observed addresses inside the block, sorted."""
    excepts: tuple[str, ...] = ()

    @property
    def cidr(self) -> str:
        return str(self.network)

    @property
    def unobserved(self) -> int:
        """How many addresses the block admits beyond the observed ones (before excepts)."""
        return self.network.num_addresses - len(self.addresses)


def aggregate(
    addresses: Iterable[str],
    *,
    waste: float,
    cluster_cidrs: Sequence[IPNetwork] = (),
    pool_min: int = POOL_MIN_ADDRESSES,
) -> tuple[Block, ...]:
    """Cover ``addresses`` with blocks wasting at most ``waste`` times the observed count.

    ``waste`` 1 keeps every address as its own /32 or /128 unless observed addresses fill a
    block completely. A block that admits unobserved addresses needs ``pool_min`` observed
    addresses inside it (the evidence that they are one pool). Invalid addresses are ignored (callers validate first). Blocks come
    sorted by family and address.
    """
    groups: dict[tuple[int, str], set[int]] = {}
    for text in addresses:
        address = parse_address(text)
        if address is None:
            continue
        home = category(address)
        groups.setdefault((address.version, str(home)), set()).add(int(address))
    blocks: list[Block] = []
    for (version, _), values in sorted(groups.items()):
        width = 32 if version == 4 else 128
        limits = _Limits(version, width, waste, cluster_cidrs, pool_min)
        blocks.extend(limits.cover(sorted(values)))
    blocks.sort(key=lambda b: (b.network.version, int(b.network.network_address)))
    return tuple(blocks)


@dataclass(frozen=True, slots=True)
class _Limits:
    version: int
    width: int
    waste: float
    cluster_cidrs: Sequence[IPNetwork]
    pool_min: int

    def cover(self, values: list[int]) -> list[Block]:
        low, high = values[0], values[-1]
        prefix = self.width - (low ^ high).bit_length()
        network = ipaddress.ip_network(
            (low >> (self.width - prefix) << (self.width - prefix), prefix)
        )
        if len(values) == 1 or self.acceptable(network, len(values)):
            return [self.block(network, values)]
        split_bit = 1 << (self.width - prefix - 1)
        left = [v for v in values if not v & split_bit]
        right = [v for v in values if v & split_bit]
        return self.cover(left) + self.cover(right)

    def acceptable(self, network: IPNetwork, observed: int) -> bool:
        if network.prefixlen < WIDEST_PREFIX[self.version]:
            return False
        if network.num_addresses > self.waste * observed:
            return False
        if network.num_addresses > observed and observed < self.pool_min:
            return False
        home = category(network.network_address)
        for special in SPECIAL_RANGES:
            # Inside one special range is fine; touching any other is not.
            if special.version == self.version and special != home and network.overlaps(special):
                return False
        if home is not None and not network.subnet_of(home):  # type: ignore[arg-type]
            return False
        return not any(
            c.version == self.version and network.overlaps(c) for c in self.cluster_cidrs
        )

    def block(self, network: IPNetwork, values: list[int]) -> Block:
        texts = tuple(str(ipaddress.ip_address(v)) for v in values)
        return Block(network, texts)


def internet_blocks(version: int, cluster_cidrs: Sequence[IPNetwork]) -> Block:
    """Every public address of one family: ``0.0.0.0/0`` or ``::/0`` except private and
    cluster ranges."""
    everything = ipaddress.ip_network("0.0.0.0/0" if version == 4 else "::/0")
    excepted = [*PRIVATE_RANGES[version], *(c for c in cluster_cidrs if c.version == version)]
    collapsed = ipaddress.collapse_addresses(excepted)  # type: ignore[type-var]
    return Block(everything, (), tuple(str(n) for n in collapsed))


def distinct_networks(addresses: Iterable[IPAddress]) -> int:
    """How many /16 (IPv4) or /32 (IPv6) networks the public ``addresses`` fall in."""
    seen: set[tuple[int, int]] = set()
    for address in addresses:
        width = 32 if address.version == 4 else 128
        shift = width - INTERNET_NETWORK_PREFIX[address.version]
        seen.add((address.version, int(address) >> shift))
    return len(seen)


def infer_cluster_cidrs(pod_addresses: Iterable[str]) -> tuple[IPNetwork, ...]:
    """The tightest prefix covering the pod addresses seen in each special range (or in public
    space): a stand-in for the pod CIDR when the user gives none."""
    groups: dict[tuple[int, str], list[int]] = {}
    for text in pod_addresses:
        address = parse_address(text)
        if address is None:
            continue
        groups.setdefault((address.version, str(category(address))), []).append(int(address))
    found: list[IPNetwork] = []
    for (version, _), values in sorted(groups.items()):
        width = 32 if version == 4 else 128
        low, high = min(values), max(values)
        prefix = width - (low ^ high).bit_length()
        found.append(ipaddress.ip_network((low >> (width - prefix) << (width - prefix), prefix)))
    return tuple(found)


def parse_networks(texts: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Networks from user text; raises ValueError naming the bad entry."""
    networks: list[IPNetwork] = []
    for text in texts:
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a CIDR") from exc
    return tuple(networks)


def host_cidr(address: str) -> str:
    """``1.2.3.4`` → ``1.2.3.4/32``; ``fd00::1`` → ``fd00::1/128``."""
    parsed = parse_address(address)
    if parsed is None:
        return address
    return f"{parsed}/{32 if parsed.version == 4 else 128}"
