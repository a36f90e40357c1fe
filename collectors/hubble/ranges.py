"""Cutting one plain line-per-record file into byte ranges that start and end at line starts,
so that several processes can read one big export together.

A range is read through :class:`ByteRange`, which stops at the range's end. The reader of a
range that does not start the file numbers its lines from the range's start, and a problem
found there is moved to the whole file's numbering by :func:`lines_before` (counted as
Python's text mode splits lines: ``\\n``, ``\\r\\n`` and a lone ``\\r`` each end one), so every
file:line in a message is the one a single reader would give.
"""

from __future__ import annotations

import io
import os
from typing import IO

__all__ = ["ByteRange", "line_ranges", "lines_before"]

_CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"


def line_ranges(path: str, parts: int, min_bytes: int) -> list[tuple[int, int]]:
    """``[start, end)`` byte ranges covering ``path``, at most ``parts``, each at least about
    ``min_bytes`` long, every boundary just after a ``\\n``. One range for a gzip file."""
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        if handle.read(2) == _GZIP_MAGIC:
            return [(0, size)]
        parts = max(1, min(parts, size // max(min_bytes, 1)))
        starts = [0]
        for part in range(1, parts):
            handle.seek(max(size * part // parts - 1, starts[-1]))
            handle.readline()  # to the start of the next line
            start = handle.tell()
            if start >= size:
                break
            if start > starts[-1]:
                starts.append(start)
    ends = [*starts[1:], size]
    return list(zip(starts, ends, strict=True))


def lines_before(path: str, offset: int) -> int:
    """How many lines text mode reads from ``path`` before byte ``offset`` (a line start)."""
    lines = 0
    carried_cr = False
    with open(path, "rb") as handle:
        remaining = offset
        while remaining > 0:
            chunk = handle.read(min(_CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            lines += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
            if carried_cr and chunk.startswith(b"\n"):
                lines -= 1  # a \r\n cut by the chunk boundary ends one line, not two
            carried_cr = chunk.endswith(b"\r")
    return lines


class ByteRange(io.RawIOBase):
    """The bytes ``[start, end)`` of an open binary file, as a readable stream."""

    def __init__(self, handle: IO[bytes], start: int, end: int) -> None:
        super().__init__()
        self._handle = handle
        handle.seek(start)
        self._length = end - start
        self._remaining = self._length

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        """Bytes read so far, from the start of the range."""
        return self._length - self._remaining

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._remaining <= 0:
            return 0
        wanted = min(len(buffer), self._remaining)
        data = self._handle.read(wanted)
        buffer[: len(data)] = data
        self._remaining -= len(data)
        return len(data)

    def close(self) -> None:
        self._handle.close()
        super().close()
