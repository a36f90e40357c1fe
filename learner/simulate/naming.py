"""Names, hashes, addresses and schedules shaped the way Kubernetes makes them.

Every function takes the caller's :class:`random.Random`: nothing here touches global state.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""``k8s.io/apimachinery/pkg/util/rand``: no vowels, no look-alikes (0/o, 1/l)."""


def safe_encode(text: str) -> str:
    """``rand.SafeEncodeString``: each byte mapped onto :data:`SAFE_ALPHABET`."""
    return "".join(SAFE_ALPHABET[ord(ch) % len(SAFE_ALPHABET)] for ch in text)


def template_hash(rng: random.Random) -> str:
    """A pod-template-hash: the safe encoding of a 32-bit FNV hash printed in decimal.

    That is why real hashes only use ``4-9, b, c, d, f`` and are 9-10 characters long.
    """
    return safe_encode(str(rng.getrandbits(32)))


def pod_suffix(rng: random.Random) -> str:
    """The five random characters a ReplicaSet, DaemonSet or Job appends to a pod name."""
    return "".join(rng.choice(SAFE_ALPHABET) for _ in range(5))


def job_name(cronjob: str, scheduled_ns: int) -> str:
    """The CronJob controller names a Job after its scheduled time in minutes since the epoch."""
    return f"{cronjob}-{scheduled_ns // 60_000_000_000}"


def random_uuid(rng: random.Random) -> str:
    """A version-4 UUID from ``rng``."""
    value = rng.getrandbits(128)
    value = (value & ~(0xF000 << 64)) | (0x4000 << 64)
    value = (value & ~(0xC000 << 48)) | (0x8000 << 48)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


class AddressPool:
    """Hands out addresses of one range in order, never one that is still in use.

    Addresses are recycled (as on a real node) once the pod that had them is gone.
    """

    def __init__(self, cidr: str, rng: random.Random, reserved: int = 2) -> None:
        network = ipaddress.ip_network(cidr)
        self._hosts = [str(ip) for ip in network.hosts()][reserved:]
        self._next = rng.randrange(len(self._hosts))
        self._busy_until: dict[str, int] = {}

    def take(self, start_ns: int, end_ns: int) -> str:
        for _ in range(len(self._hosts)):
            ip = self._hosts[self._next]
            self._next = (self._next + 1) % len(self._hosts)
            if self._busy_until.get(ip, -1) <= start_ns:
                self._busy_until[ip] = end_ns
                return ip
        raise RuntimeError("address pool exhausted")


def _cron_field(text: str, low: int, high: int) -> frozenset[int]:
    if text == "*":
        return frozenset(range(low, high + 1))
    if text.startswith("*/"):
        return frozenset(range(low, high + 1, int(text[2:])))
    return frozenset(int(part) for part in text.split(","))


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """The subset of cron a simulated CronJob needs: numbers, lists, ``*`` and ``*/N``."""

    text: str

    def _fields(self) -> tuple[frozenset[int], ...]:
        minute, hour, day, month, weekday = self.text.split()
        return (
            _cron_field(minute, 0, 59),
            _cron_field(hour, 0, 23),
            _cron_field(day, 1, 31),
            _cron_field(month, 1, 12),
            _cron_field(weekday, 0, 6),
        )

    def times(self, start_ns: int, end_ns: int) -> Iterator[int]:
        """Scheduled instants (nanoseconds, UTC) in ``[start_ns, end_ns)``."""
        minutes, hours, days, months, weekdays = self._fields()
        minute_ns = 60_000_000_000
        first = -(-start_ns // minute_ns)
        for minute in range(first, -(-end_ns // minute_ns)):
            hour, minute_of_hour = divmod(minute % 1440, 60)
            if minute_of_hour not in minutes or hour not in hours:
                continue
            date = datetime.fromtimestamp(minute * 60, tz=UTC)
            # cron counts weekdays from Sunday = 0; isoweekday() has Sunday = 7.
            if date.day in days and date.month in months and date.isoweekday() % 7 in weekdays:
                yield minute * minute_ns

    def period_seconds(self) -> int:
        """The longest gap between two runs over eight weeks (for deciding what is rare)."""
        horizon = 56 * 86_400 * 1_000_000_000
        runs = list(self.times(0, horizon))
        gaps = [b - a for a, b in zip(runs, runs[1:], strict=False)]
        return max(gaps, default=horizon) // 1_000_000_000
