"""Durations and times on the command line: ``90s``, ``10m``, ``1h30m``, ``7d``, RFC 3339."""

from __future__ import annotations

import re
from datetime import datetime

from learner.model.errors import UsageError

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(text: str, flag: str = "duration") -> float:
    """Seconds in ``text`` (e.g. ``1h30m``); a bare number is seconds."""
    value = text.strip().lower()
    try:
        return float(value)
    except ValueError:
        pass
    position = 0
    total = 0.0
    for match in _PART.finditer(value):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(value) or not value:
        raise UsageError(f"{flag}: {text!r} is not a duration (examples: 90s, 10m, 1h30m, 7d)")
    return total


def parse_time(text: str, flag: str = "time") -> float:
    """Epoch seconds for an RFC 3339 timestamp (``Z`` or offset)."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise UsageError(f"{flag}: {text!r} is not an RFC 3339 time") from exc


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    if seconds or not parts:
        parts.append(f"{seconds}s")
    return "".join(parts)
