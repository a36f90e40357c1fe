"""Fuzzing the flow readers: arbitrary bytes and mutated real records never crash them.

Whatever the input, reading either yields flows, counts malformed records, or (with
``--strict``, or for an unreadable file) raises :class:`InputError` naming the file. Any other
exception is a bug. See tests/fuzzing.py for the profiles (a long run: NETPOL_FUZZ_PROFILE=long).
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("hypothesis")

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from collectors.calico import file as calico_file
from collectors.detect import detect_source  # noqa: E402
from collectors.hubble import file as hubble_file  # noqa: E402
from learner.model.errors import InputError  # noqa: E402
from learner.model.flow import Flow  # noqa: E402
from learner.model.run_stats import CollectorStats  # noqa: E402
from tests.fuzzing import mutated  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
Reader = Callable[..., Iterator[Flow]]
READERS: list[Reader] = [hubble_file.iter_flows, calico_file.iter_flows]


def _records(paths: list[Path]) -> list[Any]:
    found = []
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return found


HUBBLE_RECORDS = _records(sorted((FIXTURES / "hubble" / "files").glob("*.jsonl")))
CALICO_RECORDS = _records(sorted((FIXTURES / "calico" / "valid").glob("*.jsonl")))


def read_all(reader: Reader, data: bytes, strict: bool) -> CollectorStats:
    """Read ``data`` as a file; return the statistics, or raise what the reader raised."""
    stats = CollectorStats()
    handle, path = tempfile.mkstemp(suffix=".jsonl")
    try:
        os.write(handle, data)
        os.close(handle)
        for _ in reader([path], strict=strict, stats=stats):
            pass
        detect_source(path)
    finally:
        os.unlink(path)
    return stats


def only_input_errors(reader: Reader, data: bytes) -> None:
    for strict in (False, True):
        try:
            stats = read_all(reader, data, strict)
        except InputError as error:
            assert error.path and str(error).startswith(error.path)
            continue
        assert stats.malformed >= len(stats.errors)


def test_the_seed_records_are_real() -> None:
    assert len(HUBBLE_RECORDS) > 20 and len(CALICO_RECORDS) > 5


@pytest.mark.parametrize("reader", READERS, ids=["hubble", "calico"])
@given(data=st.binary(max_size=2048))
def test_fuzz_arbitrary_bytes(reader: Reader, data: bytes) -> None:
    only_input_errors(reader, data)


@pytest.mark.parametrize("reader", READERS, ids=["hubble", "calico"])
@given(data=st.binary(max_size=512))
def test_fuzz_arbitrary_gzip(reader: Reader, data: bytes) -> None:
    only_input_errors(reader, gzip.compress(data))


@pytest.mark.parametrize("reader", READERS, ids=["hubble", "calico"])
@given(records=st.lists(mutated(HUBBLE_RECORDS + CALICO_RECORDS), min_size=1, max_size=4))
def test_fuzz_mutated_records_one_per_line(reader: Reader, records: list[Any]) -> None:
    text = "\n".join(json.dumps(record) for record in records) + "\n"
    only_input_errors(reader, text.encode())


@pytest.mark.parametrize("reader", READERS, ids=["hubble", "calico"])
@given(records=st.lists(mutated(HUBBLE_RECORDS + CALICO_RECORDS), min_size=1, max_size=3))
def test_fuzz_mutated_records_pretty_printed(reader: Reader, records: list[Any]) -> None:
    text = "\n".join(json.dumps(record, indent=2) for record in records) + "\n"
    only_input_errors(reader, text.encode())


@pytest.mark.parametrize("reader", READERS, ids=["hubble", "calico"])
@given(
    records=st.lists(mutated(HUBBLE_RECORDS + CALICO_RECORDS, rounds=1), min_size=1, max_size=3),
    cut=st.integers(min_value=0, max_value=4000),
    junk=st.binary(max_size=8),
)
def test_fuzz_truncated_and_spliced_bytes(
    reader: Reader, records: list[Any], cut: int, junk: bytes
) -> None:
    data = ("\n".join(json.dumps(record) for record in records) + "\n").encode()
    cut = min(cut, len(data))
    only_input_errors(reader, data[:cut] + junk + data[cut:])
