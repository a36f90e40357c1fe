"""How far reading has got: the meter behind the progress display, on real files."""

from __future__ import annotations

import gzip
from pathlib import Path

from learner.model.input_files import metered_reads, open_text, total_size


def write_lines(path: Path, count: int, compress: bool) -> None:
    text = "".join(f'{{"line": {n}, "pad": "{"x" * 40}"}}\n' for n in range(count))
    path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())


def test_a_gz_file_is_measured_in_the_bytes_it_is_stored_in(tmp_path: Path) -> None:
    plain, packed = tmp_path / "a.jsonl", tmp_path / "b.jsonl.gz"
    write_lines(plain, 20_000, compress=False)
    write_lines(packed, 20_000, compress=True)
    assert total_size([str(plain), str(packed)]) == plain.stat().st_size + packed.stat().st_size
    with metered_reads() as meter:
        with open_text(str(packed)) as handle:
            positions = []
            for number, _ in enumerate(handle):
                if number % 2_000 == 0:
                    positions.append(meter.position())
            positions.append(meter.position())
        assert positions == sorted(positions)
        assert 0 < positions[len(positions) // 2] < packed.stat().st_size
        assert positions[-1] == packed.stat().st_size
        with open_text(str(plain)) as handle:
            handle.readline()
            assert packed.stat().st_size < meter.position() < total_size([str(plain), str(packed)])
        assert meter.position() == total_size([str(plain), str(packed)])  # closed: read


def test_a_peek_and_files_opened_outside_the_meter_are_not_counted(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    write_lines(path, 100, compress=False)
    with open_text(str(path)) as before:
        before.read()
    with metered_reads() as meter:
        with open_text(str(path), metered=False) as peek:
            peek.read(10)
        assert meter.position() == 0
    assert total_size(["-", str(path)]) is None  # standard input has no size
