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
from typing import IO

from learner.model.errors import UsageError

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


def open_text(path: str) -> IO[str]:
    """Open a file (gzip by magic number) or stdin as text, decoding UTF-8 leniently."""
    if path == STDIN:
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    raw = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    magic = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.GzipFile(fileobj=raw), encoding="utf-8", errors="replace")
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace")


def numbered_lines(path: str) -> Iterator[tuple[int, str]]:
    with open_text(path) as handle:
        yield from enumerate(handle, start=1)
