"""Deterministic YAML for policies a human reviews in a pull request.

Mappings keep the order they were built in (renderers build them in Kubernetes' customary
order: apiVersion, kind, metadata, spec), strings are quoted whenever YAML 1.1 or 1.2 could
read them as anything but the same string (``true``, ``yes``, ``on``, ``010``, ``1e3``,
``0x1F``, ``null``, ``~`` ...), and a value wrapped in :class:`Commented` gets a ``#`` comment.
The same document always gives the same bytes.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True, slots=True)
class Commented:
    """A value with a comment printed above it (mappings, list items) or after it (scalars)."""

    value: Any
    comment: str


# \Z, not $: $ also matches before a final newline, and "A\n" was written unquoted.
_PLAIN_SAFE = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_./:@-]*\Z")
_NUMBER_LIKE = re.compile(r"[-+.]?[0-9][0-9a-fA-F_.:eExXoObB+-]*\Z")
_RISKY_WORDS = {
    "y", "yes", "n", "no", "true", "false", "on", "off", "null", "~", "",
}  # fmt: skip


def _needs_quotes(text: str) -> bool:
    if text.lower() in _RISKY_WORDS:
        return True
    if not _PLAIN_SAFE.match(text):
        return True
    if text.endswith(":") or _NUMBER_LIKE.match(text):
        return True
    if not text[0].isdigit() and text[0] != ".":
        # Read back by a YAML parser only as itself: its other plain forms that start with a
        # letter, "_" or "/" (booleans, null) are risky words above, and numbers, times,
        # .inf/.nan and "..." start with a digit or a dot. Parsing every label was slow.
        return False
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        return True
    return bool(loaded != text)


def scalar(value: Any) -> str:
    if type(value) is str:  # most scalars: their text is worked out once
        return _string(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return _float(value)
    return _string(str(value))


@functools.lru_cache(maxsize=65536)
def _string(text: str) -> str:
    if _needs_quotes(text):
        return _UNPRINTABLE.sub(_escape, json.dumps(text, ensure_ascii=False))
    return text


# JSON leaves these raw, but YAML readers reject them (DEL, C1 controls, non-characters) or
# read them as line breaks (NEL, U+2028/9) or a byte-order mark; YAML's ``\uXXXX`` keeps them.
_UNPRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
# What a comment cannot carry: YAML readers reject control characters and lone surrogates, and
# read NEL and U+2028/9 as line breaks (which would end the comment and start data).
_COMMENT_UNSAFE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]"
)


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _float(value: float) -> str:
    """A float both YAML 1.1 and 1.2 read back: 1e-05 is a string to YAML 1.1, 1.0e-05 not."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:
        text = f"{mantissa}.0e{exponent}"
    return text


def _comment_lines(comment: str, indent: str) -> list[str]:
    return [f"{indent}# {_comment_text(line)}".rstrip() for line in comment.splitlines()]


def _comment_text(line: str) -> str:
    """A comment line a YAML reader takes as a comment: what it cannot carry is written as
    ``\\uXXXX``, visible to the reviewer (comments come from flow data: DNS names ...)."""
    return _COMMENT_UNSAFE.sub(_escape, line)


def _unwrap(item: Any) -> tuple[str, Any]:
    """The comment and the value of a possibly :class:`Commented` (even nested) item."""
    if not isinstance(item, Commented):
        return "", item
    comments = []
    while isinstance(item, Commented):
        comments.append(item.comment)
        item = item.value
    return "\n".join(c for c in comments if c), item


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _is_collection(value: Any) -> bool:
    kind = type(value)  # the exact types first: isinstance on an ABC is slow, and this runs a lot
    if kind is dict or kind is list or kind is tuple:
        return True
    return kind not in _SCALARS and isinstance(value, Mapping | list | tuple)


def _is_mapping(value: Any) -> bool:
    kind = type(value)
    if kind is dict:
        return True
    return kind is not list and kind not in _SCALARS and isinstance(value, Mapping)


def _leaf(value: Any) -> str:
    """A scalar, or an empty mapping or sequence, as one line's text."""
    if _is_collection(value):
        return "{}" if _is_mapping(value) else "[]"
    return scalar(value)


def _emit(value: Any, indent: int, out: list[str]) -> None:
    """Emit a non-empty mapping or sequence at ``indent`` spaces."""
    pad = " " * indent
    if _is_mapping(value):
        for key, item in value.items():
            comment, item = _unwrap(item)
            key_text = scalar(key)
            if item and _is_collection(item):
                if comment:
                    out.extend(_comment_lines(comment, pad))
                out.append(f"{pad}{key_text}:")
                child_indent = indent + 2 if _is_mapping(item) else indent
                _emit(item, child_indent, out)
            elif not comment:
                out.append(f"{pad}{key_text}: {_leaf(item)}")
            else:
                one_line = len(comment.splitlines()) == 1
                has_text = bool(comment.strip())
                suffix = f"  # {_comment_text(comment)}".rstrip() if has_text and one_line else ""
                if not suffix and not one_line:
                    out.extend(_comment_lines(comment, pad))
                out.append(f"{pad}{key_text}: {_leaf(item)}{suffix}")
        return
    for item in value:
        comment, item = _unwrap(item)
        if comment:
            out.extend(_comment_lines(comment, pad))
        if item and _is_mapping(item):
            inner: list[str] = []
            _emit(item, indent + 2, inner)
            first = inner[0]
            # Put the first key on the dash line, unless it is a comment.
            if first.lstrip().startswith("#"):
                out.append(f"{pad}-")
                out.extend(inner)
            else:
                out.append(f"{pad}- {first[indent + 2 :]}")
                out.extend(inner[1:])
        elif item and _is_collection(item):
            out.append(f"{pad}-")
            _emit(item, indent + 2, out)
        else:
            out.append(f"{pad}- {_leaf(item)}")


class YamlText(str):
    """YAML text that still carries the plain data it was written from.

    ``documents`` is what a YAML parser reads back from the text (comments dropped, scalars as
    :func:`scalar` wrote them; tests/outputs/test_yamlio.py holds the round trip exact), so a
    reader in this process, such as the self-check, need not parse the text again: on a rule
    listing 64,000 ports that parse took most of the run. Anything built from the text by
    string operations is a plain ``str`` again and is parsed as usual.
    """

    documents: tuple[Any, ...]

    def __new__(cls, text: str, documents: Sequence[Any]) -> YamlText:
        made = super().__new__(cls, text)
        made.documents = tuple(documents)
        return made


def dump(document: Mapping[str, Any], header: str = "") -> YamlText:
    """One YAML document (no ``---``), ending in a newline."""
    out: list[str] = _comment_lines(header, "") if header else []
    _emit(document, 0, out)
    return YamlText("\n".join(out) + "\n", [plain_data(document)])


def dump_all(documents: Sequence[Mapping[str, Any]], header: str = "") -> YamlText:
    """Several documents separated by ``---``."""
    parts = [dump(doc) for doc in documents]
    text = "---\n".join(parts)
    if header:
        text = "\n".join(_comment_lines(header, "")) + "\n" + text
    return YamlText(text, [part.documents[0] for part in parts])


def plain_data(value: Any) -> Any:
    """What a YAML parser reads back from ``value`` as :func:`_emit` writes it."""
    kind = type(value)
    if kind is str:
        return value
    if kind is dict:
        return {plain_data(k): plain_data(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [plain_data(v) for v in value]
    if isinstance(value, Commented):
        return plain_data(value.value)
    if isinstance(value, Mapping):
        return {plain_data(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_data(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return int(value) if isinstance(value, int) and not isinstance(value, bool) else value
    return str(value)
