from __future__ import annotations

import random
import re
from datetime import UTC, datetime

import pytest

from learner.simulate.naming import (
    AddressPool,
    CronSchedule,
    job_name,
    pod_suffix,
    random_uuid,
    safe_encode,
    template_hash,
)

SECOND = 1_000_000_000


def _ns(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * SECOND


@pytest.mark.parametrize(
    ("decimal", "encoded"),
    # Digits map onto 4-9, b, c, d, f: why real pod-template-hashes look like 6b746f74dc.
    [("0123456789", "456789bcdf"), ("3418", "785d")],
)
def test_safe_encode(decimal: str, encoded: str) -> None:
    assert safe_encode(decimal) == encoded


def test_hashes_and_suffixes_look_like_kubernetes_ones() -> None:
    rng = random.Random(3)
    hashes = {template_hash(rng) for _ in range(200)}
    assert all(re.fullmatch(r"[4-9bcdf]{1,10}", h) for h in hashes)
    assert {len(h) for h in hashes} >= {10}
    assert all(re.fullmatch(r"[bcdfghjklmnpqrstvwxz2-9]{5}", pod_suffix(rng)) for _ in range(50))


def test_job_name_is_the_scheduled_minute() -> None:
    assert job_name("backup", _ns("2023-10-16T16:34:00")) == "backup-28291234"


def test_uuid_is_version_4() -> None:
    text = random_uuid(random.Random(1))
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", text
    )


@pytest.mark.parametrize(
    ("schedule", "start", "end", "expected"),
    [
        ("0 2 * * *", "2026-03-02T00:00:00", "2026-03-04T00:00:00",
         ["2026-03-02T02:00:00", "2026-03-03T02:00:00"]),
        ("30 3 * * 0", "2026-03-02T00:00:00", "2026-03-16T00:00:00",
         ["2026-03-08T03:30:00", "2026-03-15T03:30:00"]),  # Sundays
        ("0 5 1 * *", "2026-03-02T00:00:00", "2026-05-02T00:00:00",
         ["2026-04-01T05:00:00", "2026-05-01T05:00:00"]),
        ("*/20 10 * * *", "2026-03-02T10:00:00", "2026-03-02T10:40:00",
         ["2026-03-02T10:00:00", "2026-03-02T10:20:00"]),  # end is exclusive
    ],
)  # fmt: skip
def test_cron_schedule(schedule: str, start: str, end: str, expected: list[str]) -> None:
    runs = list(CronSchedule(schedule).times(_ns(start), _ns(end)))
    assert runs == [_ns(t) for t in expected]


def test_cron_period() -> None:
    assert CronSchedule("*/5 * * * *").period_seconds() == 300
    assert CronSchedule("30 3 * * 0").period_seconds() == 7 * 86400


def test_address_pool_recycles_only_free_addresses() -> None:
    pool = AddressPool("10.244.0.0/29", random.Random(1))  # 6 hosts, the first 2 reserved
    long_lived = pool.take(0, 1000)
    short = [pool.take(t, t + 1) for t in range(1, 20)]
    assert long_lived not in short
    assert len(set(short)) == 3
    with pytest.raises(RuntimeError):
        for _ in range(4):
            pool.take(100, 200)
