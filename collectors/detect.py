"""Which collector reads a file: ``detect_source(path) -> "calico" | "hubble" | None``.

Looks at the first few records only (at most :data:`SAMPLE_CHARS` characters):

* Hubble: ``{"flow": {...}}`` (a Hubble Flow, not a Goldmane one), ``lost_events``,
  ``node_status``, ``agent_event``, ``debug_event``, or a bare Flow (``IP``, ``l4``, ``verdict``).
* Calico: Enterprise/Elasticsearch records (``proto``/``source_type``/``reporter``/
  ``source_name_aggr``, ``_source`` wrappers), Whisker (``protocol`` + ``action``, or SSE
  ``data:`` lines), Goldmane protojson (``Key``), the legacy space-delimited line, DNS logs
  (``qname``, ``rrsets``, ``client_name_aggr``, or ``type: unlogged``).

When the sample cuts a pretty-printed object short, the keys present in the text decide.
"""

from __future__ import annotations

import json
import re
import sys
import zlib
from collections.abc import Mapping
from typing import Any, Literal

import orjson

from collectors.calico.dns_records import is_dns_log
from collectors.calico.file import unwrap
from collectors.calico.records import LEGACY_FIELDS
from learner.model.errors import InputError, UsageError
from learner.model.input_files import STDIN, expand_inputs, open_text

__all__ = ["Source", "detect_record", "detect_source", "detect_text"]

Source = Literal["calico", "hubble"]
SAMPLE_CHARS = 64 * 1024
MAX_RECORDS = 20

_HUBBLE_EVENTS = ("lost_events", "node_status", "agent_event", "debug_event")
_HUBBLE_FLOW_KEYS = ("IP", "l4", "verdict", "traffic_direction", "trafficDirection", "event_type")
_CALICO_KEYS = ("proto", "source_type", "dest_type", "source_name_aggr", "dest_name_aggr")
_CALICO_MARKERS = re.compile(
    r'"(?:source_name_aggr|dest_name_aggr|source_type|dest_type|num_flows_started|reporter|'
    r'Key|sourceName|destName|_source|qname|rrsets|client_name_aggr)"\s*:'
)
_HUBBLE_MARKERS = re.compile(
    r'"(?:flow|verdict|traffic_direction|trafficDirection|l4|IP|node_name|event_type|'
    r"lost_events|node_status|Summary)\"\s*:"
)


def detect_record(record: Any) -> Source | None:
    """The source a single decoded record comes from, if it tells."""
    if not isinstance(record, Mapping):
        return None
    flow = record.get("flow")
    if isinstance(flow, Mapping):
        return "calico" if "Key" in flow or "key" in flow else "hubble"
    if any(key in record for key in _HUBBLE_EVENTS):
        return "hubble"
    if "Key" in record or "key" in record:
        return "calico"
    if any(key in record for key in _CALICO_KEYS) or is_dns_log(record):
        return "calico"
    if "protocol" in record and ("action" in record or "reporter" in record):
        return "calico"
    if any(key in record for key in _HUBBLE_FLOW_KEYS):
        return "hubble"
    return None


def _detect_line(line: str) -> Source | None:
    if line.startswith("data:"):
        return detect_record(_loads(line[5:])) or "calico"
    if line[0].isdigit() and len(line.split()) == len(LEGACY_FIELDS):
        return "calico"
    value = _loads(line)
    for record in unwrap(value) if value is not None else ():
        found = detect_record(record)
        if found:
            return found
    return None


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def detect_text(text: str) -> Source | None:
    """Detect from the beginning of a file (it may end mid-record)."""
    text = text.lstrip("\ufeff")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    if _loads(lines[0]) is not None or lines[0].startswith("data:") or lines[0][0].isdigit():
        for line in lines[:MAX_RECORDS]:
            found = _detect_line(line)
            if found:
                return found
        return None
    decoder = json.JSONDecoder()
    position = len(text) - len(text.lstrip())
    for _ in range(MAX_RECORDS):
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            break
        for record in unwrap(value):
            found = detect_record(record)
            if found:
                return found
        while position < len(text) and text[position] in " \t\r\n,[]":
            position += 1
    calico = len(_CALICO_MARKERS.findall(text))
    hubble = len(_HUBBLE_MARKERS.findall(text))
    if calico == hubble:
        return None
    return "calico" if calico > hubble else "hubble"


def _stdin_sample() -> str:
    """Peek at standard input without consuming it (what a pipe has buffered so far)."""
    buffer = getattr(sys.stdin, "buffer", None)
    peek = getattr(buffer, "peek", None)
    if peek is None:
        return ""
    data: bytes = peek(SAMPLE_CHARS)[:SAMPLE_CHARS]
    if data[:2] == b"\x1f\x8b":
        try:
            data = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, SAMPLE_CHARS)
        except zlib.error:
            return ""
    return data.decode("utf-8", errors="replace")


def detect_source(path: str) -> Source | None:
    """``calico``, ``hubble``, or None when the first records do not tell (or it is unreadable).

    A directory is judged by its first file; ``-`` peeks at standard input.
    """
    if path == STDIN:
        return _detect_or_fail(STDIN, _stdin_sample())
    try:
        files = expand_inputs([path])
    except UsageError:
        return None
    for file in files[:1]:
        try:
            with open_text(file, metered=False) as handle:
                sample = handle.read(SAMPLE_CHARS)
        except (OSError, EOFError, zlib.error):
            return None
        return _detect_or_fail(file, sample)
    return None


def _detect_or_fail(path: str, sample: str) -> Source | None:
    try:
        return detect_text(sample)
    except RecursionError:
        raise InputError(
            path, 1, "cannot tell the format: the first record is nested too deeply"
        ) from None
