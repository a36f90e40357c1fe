"""JSON values one after another in a file: a JSON array of them, or values concatenated
(pretty-printed ``jq`` output, Elasticsearch dumps). Read in chunks, so memory follows the
largest value, not the file; every value comes with the line it starts on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

CHUNK_CHARS = 1 << 20
MAX_VALUE_CHARS = 64 << 20
"""A value still incomplete after this many characters is reported as invalid."""
_BLANK = frozenset(" \t\r\n")


@dataclass(frozen=True, slots=True)
class JSONValue:
    line: int
    value: Any


@dataclass(frozen=True, slots=True)
class JSONProblem:
    """Invalid JSON at ``line``. ``resumed``: reading goes on at the next value indented like
    the broken one; otherwise the rest of the file is skipped."""

    line: int
    reason: str
    resumed: bool


def iter_json_values(
    handle: IO[str], text: str, first_line: int
) -> Iterator[JSONValue | JSONProblem]:
    """Values (and problems) of ``text`` followed by the rest of ``handle``.

    ``text`` is what the caller already read; ``first_line`` is the line number it starts on.
    """
    decode = json.JSONDecoder().raw_decode
    buffer, position, at_eof, in_array = text, 0, False, False
    line, counted = first_line, 0  # `line` is the line number of buffer[counted]

    def refill() -> None:
        nonlocal buffer, position, at_eof, line, counted
        line += buffer.count("\n", counted, position)
        buffer, counted, position = buffer[position:], 0, 0
        chunk = handle.read(CHUNK_CHARS)
        at_eof = not chunk
        buffer += chunk

    while True:
        size = len(buffer)
        while position < size and (
            buffer[position] in _BLANK or (in_array and buffer[position] == ",")
        ):
            position += 1
        if position == size:
            if at_eof:
                return
            refill()
            continue
        if buffer[position] in "[]":
            in_array = buffer[position] == "["
            position += 1
            continue
        try:
            value, end = decode(buffer, position)
        except RecursionError:
            line += buffer.count("\n", counted, position)
            counted = position
            yield JSONProblem(line, "invalid JSON: nested too deeply; the rest is skipped", False)
            return
        except json.JSONDecodeError as error:
            if not at_eof and _maybe_incomplete(error, size) and size - position < MAX_VALUE_CHARS:
                refill()
                continue
            line += buffer.count("\n", counted, position)
            counted = position
            where = line + buffer.count("\n", position, error.pos)
            resume = _next_sibling(buffer, position, error.pos)
            rest = "skipping to the next value" if resume >= 0 else "the rest is skipped"
            yield JSONProblem(
                where, f"invalid JSON: {error.msg} at column {error.colno}; {rest}", resume >= 0
            )
            if resume < 0:
                return
            position = resume
            continue
        if end == size and not at_eof:
            refill()  # a number or word cut at the chunk's end may be longer
            continue
        line += buffer.count("\n", counted, position)
        counted = position
        yield JSONValue(line, value)
        position = end


_TOKEN_TAIL = 64
"""Longer than any number or keyword a chunk end can cut (``-1.2345e+67``, ``false``)."""


def _maybe_incomplete(error: json.JSONDecodeError, size: int) -> bool:
    """Whether more text could complete the value: the error is in the last token of the
    buffer, or inside a string that is still open."""
    return error.pos >= size - _TOKEN_TAIL or error.msg.startswith("Unterminated string")


def _next_sibling(buffer: str, start: int, after: int) -> int:
    """Where the next value indented like the one at ``start`` begins, or -1."""
    line_start = buffer.rfind("\n", 0, start) + 1
    opening = "\n" + buffer[line_start : start + 1]
    found = buffer.find(opening, after)
    return -1 if found < 0 else found + len(opening) - 1
