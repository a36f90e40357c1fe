"""One big plain Hubble file read on several processes, cut into line ranges, must give what
one reader gives: the same edges, workloads, counts, and malformed lines named by file:line."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from collectors.hubble.ranges import line_ranges, lines_before
from learner.app.parallel import parallel_ingest
from learner.app.pipeline import ingest, new_store, read_flows
from learner.model.config import LearnConfig
from learner.model.edges import EdgeStore
from learner.model.errors import InputError
from learner.model.run_stats import CollectorStats, NormalizeStats

REAL = Path(__file__).resolve().parents[2] / "fixtures/hubble/files/real"
SHARE = 16 << 10


def export(path: Path) -> Path:
    """The real captures, with malformed and blank lines and a CRLF line among them."""
    lines: list[str] = []
    for capture in sorted(REAL.glob("*.jsonl")):
        lines.extend(capture.read_text().splitlines())
    lines[5] = lines[5] + "\r"  # a CRLF line ending
    for at in (3, len(lines) // 3, len(lines) // 2, len(lines) - 4):
        lines.insert(at, '{"flow": {"l4": {"TCP": {}}, "broken"')
    lines.insert(len(lines) // 4, "")
    path.write_text("\n".join(lines) + "\n")
    return path


def one_reader(path: Path) -> tuple[EdgeStore, CollectorStats, NormalizeStats]:
    config = LearnConfig()
    store, collected, normalized = new_store(config), CollectorStats(), NormalizeStats()
    ingest(read_flows([str(path)], stats=collected), store, config, normalized)
    return store, collected, normalized


def shared(path: Path, jobs: int) -> tuple[EdgeStore, CollectorStats, NormalizeStats]:
    config = LearnConfig()
    store, collected, normalized = new_store(config), CollectorStats(), NormalizeStats()
    parallel_ingest(
        [str(path)], store, config, jobs=jobs, collected=collected, normalized=normalized,
        min_share_bytes=SHARE,
    )  # fmt: skip
    return store, collected, normalized


def summary(result: tuple[EdgeStore, CollectorStats, NormalizeStats]) -> object:
    store, collected, normalized = result
    return (
        list(store.edges.items()),
        sorted((str(k), v.names, v.pods, v.ips) for k, v in store.workloads.items()),
        store.namespace_labels,
        store.denied,
        (collected.records, collected.flows, collected.malformed, collected.files),
        dict(collected.non_flow),
        [str(error) for error in collected.errors],
        (normalized.seen, normalized.included, dict(normalized.skipped)),
    )


@pytest.mark.parametrize("jobs", [2, 3])
def test_line_ranges_of_one_file_give_what_one_reader_gives(tmp_path: Path, jobs: int) -> None:
    path = export(tmp_path / "big.jsonl")
    assert len(line_ranges(str(path), jobs, SHARE)) == jobs  # it was really cut
    expected = summary(one_reader(path))
    assert expected[6], "the malformed lines should be reported"
    assert summary(shared(path, jobs)) == expected


def test_a_gzip_file_is_read_whole_and_gives_the_same(tmp_path: Path) -> None:
    plain = export(tmp_path / "big.jsonl")
    packed = tmp_path / "big.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert line_ranges(str(packed), 2, SHARE) == [(0, packed.stat().st_size)]
    assert summary(shared(packed, 2))[:2] == summary(one_reader(plain))[:2]


def strict_errors(path: Path) -> tuple[InputError, InputError]:
    """The error ``--strict`` stops at: one reader's, and three line ranges'."""
    config = LearnConfig()
    with pytest.raises(InputError) as single:
        ingest(read_flows([str(path)], strict=True, stats=CollectorStats()), new_store(config),
               config, NormalizeStats())  # fmt: skip
    with pytest.raises(InputError) as parallel:
        parallel_ingest(
            [str(path)], new_store(config), config, jobs=3, strict=True,
            collected=CollectorStats(), normalized=NormalizeStats(), min_share_bytes=SHARE,
        )  # fmt: skip
    return single.value, parallel.value


def test_strict_reading_stops_at_the_first_malformed_line_of_the_file(tmp_path: Path) -> None:
    single, parallel = strict_errors(export(tmp_path / "big.jsonl"))
    assert str(parallel) == str(single)


def test_a_malformed_line_in_a_later_range_is_named_by_its_line_in_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "big.jsonl"
    lines = [line for line in export(path).read_text().splitlines() if "broken" not in line]
    lines.insert(len(lines) - 3, '{"flow": {"l4": {"TCP": {}}, "broken"')
    path.write_text("\n".join(lines) + "\n")
    single, parallel = strict_errors(path)
    assert single.line == len(lines) - 3
    assert str(parallel) == str(single)


def test_a_byte_order_mark_opening_a_later_range_is_not_taken_off(tmp_path: Path) -> None:
    path = export(tmp_path / "big.jsonl")
    data = path.read_bytes()
    _, (second, _), _ = line_ranges(str(path), 3, SHARE)
    path.write_bytes(data[:second] + "\ufeff".encode() + data[second:])
    assert line_ranges(str(path), 3, SHARE)[1][0] == second
    expected = summary(one_reader(path))
    marked = data[:second].count(b"\n") + 1
    assert any(message.startswith(f"{path}:{marked}:") for message in expected[6])  # malformed
    assert summary(shared(path, 3)) == expected


def test_lines_before_counts_as_text_mode_splits(tmp_path: Path) -> None:
    path = tmp_path / "f"
    data = b"a\nb\r\nc\rd\n\ne\n"
    path.write_bytes(data)
    with path.open(newline=None) as handle:
        text_lines = handle.readlines()
    assert lines_before(str(path), len(data)) == len(text_lines) == 6
    assert lines_before(str(path), data.index(b"e")) == 5


class Recorded:
    """A progress sink that keeps every report."""

    def __init__(self) -> None:
        self.reports: list[tuple[int, int | None]] = []
        self.closed = False

    def update(self, items: int, position: int | None = None) -> None:
        self.reports.append((items, position))

    def close(self) -> None:
        self.closed = True


def test_progress_over_line_ranges_ends_at_the_file_size(tmp_path: Path) -> None:
    path = export(tmp_path / "big.jsonl")
    config = LearnConfig()
    store, collected, normalized = new_store(config), CollectorStats(), NormalizeStats()
    progress = Recorded()
    parallel_ingest(
        [str(path)], store, config, jobs=2, collected=collected, normalized=normalized,
        progress=progress, min_share_bytes=SHARE,
    )  # fmt: skip
    positions = [position for _, position in progress.reports if position is not None]
    assert positions == sorted(positions)
    assert positions[-1] == path.stat().st_size  # each range counts from its own start
    assert progress.reports[-1][0] == normalized.seen
    assert progress.closed
