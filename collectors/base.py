"""What every collector shares: its statistics and how it opens inputs.

A collector is a module exposing ``iter_flows(inputs, *, strict, stats) -> Iterator[Flow]``.
Malformed records are counted in ``stats`` (with the first few as messages naming file and
line) and skipped; with ``strict`` the first one raises :class:`~learner.errors.InputError`.
"""

from __future__ import annotations

import gzip
import io
import os
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, cast

from learner.errors import InputError, UsageError

MAX_REPORTED_ERRORS = 5


@dataclass
class CollectorStats:
    records: int = 0
    """Lines or records read, of any kind."""
    flows: int = 0
    non_flow: Counter[str] = field(default_factory=Counter)
    """Records that are valid but not flows (lost_events, node_status, agent events...)."""
    lost_events: int = 0
    """Events the CNI reported as lost before they reached us."""
    malformed: int = 0
    errors: list[InputError] = field(default_factory=list)
    """The first few malformed records."""
    files: int = 0
    warnings: Counter[str] = field(default_factory=Counter)
    """Conditions the user should know about: message → how many records had it."""

    def bad_record(self, error: InputError, strict: bool) -> None:
        if strict:
            raise error
        self.malformed += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(error)

    def merge(self, other: CollectorStats) -> None:
        self.records += other.records
        self.flows += other.flows
        self.non_flow.update(other.non_flow)
        self.lost_events += other.lost_events
        self.malformed += other.malformed
        room = MAX_REPORTED_ERRORS - len(self.errors)
        self.errors.extend(other.errors[: max(room, 0)])
        self.files += other.files
        self.warnings.update(other.warnings)


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


GZIP_MAGIC = b"\x1f\x8b"


def open_binary(path: str) -> IO[bytes]:
    """A file or stdin as bytes, decompressed when it starts with gzip's magic number."""
    raw: IO[bytes]
    if path == STDIN:
        raw = sys.stdin.buffer
        if not hasattr(raw, "peek"):
            raw = io.BufferedReader(raw)  # type: ignore[type-var]
    else:
        raw = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    peek = getattr(raw, "peek", None)
    magic = peek(2)[:2] if peek is not None else b""
    if magic == GZIP_MAGIC:
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw))
    return raw


def open_text(path: str, *, strict: bool = False) -> IO[str]:
    """Open a file or stdin (gzip by magic number) as UTF-8 text.

    Invalid UTF-8 becomes U+FFFD, unless ``strict``: then reading raises UnicodeDecodeError
    (turn it into an input error with :func:`undecodable`).
    """
    errors = "strict" if strict else "replace"
    return io.TextIOWrapper(open_binary(path), encoding="utf-8", errors=errors)


def undecodable(path: str, error: UnicodeDecodeError) -> InputError:
    """The input error for invalid UTF-8 in ``path``, naming the first line that has it."""
    line = 0
    if path != STDIN:
        try:
            with open_binary(path) as handle:
                for number, raw_line in enumerate(handle, start=1):
                    try:
                        raw_line.decode("utf-8")
                    except UnicodeDecodeError:
                        line = number
                        break
        except (OSError, EOFError):
            pass
    return InputError(path, line, f"invalid UTF-8 ({error.reason}); --strict refuses it")


def numbered_lines(path: str) -> Iterator[tuple[int, str]]:
    with open_text(path) as handle:
        yield from enumerate(handle, start=1)
