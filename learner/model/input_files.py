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
