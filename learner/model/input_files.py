"""Input files as every reader opens them: directories expanded, gzip and standard input read as text.

Collectors read flows this way and the semantics engine reads manifests this way, so it sits
at the bottom of the layers, beside the model.
"""

from __future__ import annotations

import gzip
import io
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import IO, cast

from learner.model.errors import InputError, UsageError

STDIN = "-"


def expand_inputs(inputs: Iterable[str], suffixes: tuple[str, ...] = ()) -> list[str]:
    """Files named, plus every regular file below each directory (recursive, sorted).

    Hidden files are skipped inside directories; ``-`` stands for standard input.
    """
    paths: list[str] = []
    for item in inputs:
        if item == STDIN:
            paths.append(item)
        elif os.path.isdir(item):
            found = []
            for root, dirs, files in os.walk(item):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in files:
                    if name.startswith(".") or name.endswith((".md", ".txt.md")):
                        continue
                    if suffixes and not name.endswith(suffixes):
                        continue
                    found.append(os.path.join(root, name))
            paths.extend(sorted(found))
        elif os.path.exists(item):
            paths.append(item)
        else:
            raise UsageError(f"{item}: no such file or directory")
    return paths


def total_size(paths: Iterable[str]) -> int | None:
    """Bytes in ``paths`` as stored (compressed for ``.gz``); None when one is standard input."""
    total = 0
    for path in paths:
        if path == STDIN:
            return None
        total += os.path.getsize(path)
    return total


class ReadMeter:
    """How far reading has got through the files opened while it is active (:func:`metered_reads`).

    The position is taken from the file object under any decompression, so a ``.gz`` file counts
    in compressed bytes and the sum of positions ends at :func:`total_size` of the inputs.
    """

    def __init__(self) -> None:
        self._open: list[tuple[IO[bytes] | io.RawIOBase, int]] = []
        self._closed_bytes = 0

    def opened(self, raw: IO[bytes] | io.RawIOBase, size: int | None = None) -> None:
        if size is None:
            try:
                size = os.fstat(raw.fileno()).st_size
            except (OSError, ValueError, io.UnsupportedOperation):
                size = 0
        self._open.append((raw, size))

    def position(self) -> int:
        """Bytes consumed: a closed file counts whole, an open one up to where it is read."""
        if any(raw.closed for raw, _ in self._open):
            # Counted once and dropped, so a run over many files stays cheap to report.
            self._closed_bytes += sum(size for raw, size in self._open if raw.closed)
            self._open = [(raw, size) for raw, size in self._open if not raw.closed]
        done = self._closed_bytes
        for raw, size in self._open:
            with suppress(OSError, ValueError):  # a pipe or socket has no position
                done += min(raw.tell(), size)
        return done


_active_meter: ContextVar[ReadMeter | None] = ContextVar("active_meter", default=None)


@contextmanager
def metered_reads() -> Iterator[ReadMeter]:
    """Count what :func:`open_binary` opens in this context (and generators run from it)."""
    meter = ReadMeter()
    token = _active_meter.set(meter)
    try:
        yield meter
    finally:
        _active_meter.reset(token)


def count_reads_of(raw: IO[bytes] | io.RawIOBase, size: int | None = None) -> None:
    """Count ``raw`` (``size`` bytes, its ``tell()`` relative to its start; by default the
    size of the file under it) in the active :func:`metered_reads`."""
    meter = _active_meter.get()
    if meter is not None:
        meter.opened(raw, size)


GZIP_MAGIC = b"\x1f\x8b"


def open_binary(path: str, *, metered: bool = True) -> IO[bytes]:
    """A file or stdin as bytes, decompressed when it starts with gzip's magic number.

    Inside :func:`metered_reads` the file is counted unless ``metered`` is false (a peek at
    the first records, which the real read repeats).
    """
    raw: IO[bytes]
    if path == STDIN:
        raw = sys.stdin.buffer
        if not hasattr(raw, "peek"):
            raw = io.BufferedReader(raw)  # type: ignore[type-var]
    else:
        raw = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    if metered and path != STDIN:
        count_reads_of(raw)
    peek = getattr(raw, "peek", None)
    magic = peek(2)[:2] if peek is not None else b""
    if magic == GZIP_MAGIC:
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw))
    return raw


def open_text(path: str, *, strict: bool = False, metered: bool = True) -> IO[str]:
    """Open a file or stdin (gzip by magic number) as UTF-8 text.

    Invalid UTF-8 becomes U+FFFD, unless ``strict``: then reading raises UnicodeDecodeError
    (turn it into an input error with :func:`undecodable`). ``metered``: see :func:`open_binary`.
    """
    errors = "strict" if strict else "replace"
    return io.TextIOWrapper(open_binary(path, metered=metered), encoding="utf-8", errors=errors)


def undecodable(path: str, error: UnicodeDecodeError) -> InputError:
    """The input error for invalid UTF-8 in ``path``, naming the first line that has it."""
    line = 0
    if path != STDIN:
        try:
            with open_binary(path, metered=False) as handle:
                for number, raw_line in enumerate(handle, start=1):
                    try:
                        raw_line.decode("utf-8")
                    except UnicodeDecodeError:
                        line = number
                        break
        except (OSError, EOFError):
            pass
    return InputError(path, line, f"invalid UTF-8 ({error.reason}); --strict refuses it")
