"""Calico log files: Enterprise/Cloud ``flows.log`` and ``dns.log``, Elasticsearch documents, Whisker.

Accepted framings, decided per file from its first non-blank line:

* **JSON lines** (``flows.log``, Whisker backend output, exported documents one per line). Each
  line may also be a Server-Sent-Events ``data: {...}`` line (``/flows?watch=true``); other SSE
  fields (``event:``, ``id:``, ``retry:``, ``:`` comments) are framing and skipped. A line that
  starts with a digit is the legacy space-delimited format.
* **JSON documents** (the first line is a lone ``{``, or opens a JSON array it does not close):
  pretty-printed objects one after another, or a JSON array, read value by value so memory follows the largest object, not the file. After an invalid object the reader
  resumes at the next object that starts at the same indentation.

Each value may be a flow record, an Elasticsearch hit (``_source`` wrapper), a search response
(``hits.hits``), a Whisker list (``items``), or a list of any of these. Record shapes and how
they map to flows: :mod:`collectors.calico.records`; DNS log records (what names resolved to,
read as DNS responses): :mod:`collectors.calico.dns_records`.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Mapping
from itertools import chain
from typing import IO, Any

import orjson

from collectors.calico.dns_records import DnsLogMapper, is_dns_log
from collectors.calico.model import WARN_NAME_LABEL
from collectors.calico.records import NotAFlow, RecordError, RecordMapper
from collectors.jsonstream import JSONProblem, iter_json_values
from collectors.k8snames import InvalidName, drain_label_warnings
from learner.model.errors import InputError
from learner.model.flow import Flow, Origin
from learner.model.input_files import STDIN, expand_inputs, open_text, undecodable
from learner.model.run_stats import CollectorStats

__all__ = ["iter_flows", "unwrap"]

SSE_FIELDS = ("event:", "id:", "retry:", ":")


def unwrap(value: Any) -> Iterator[Any]:
    """The flow records inside one decoded JSON value (ES hits, search responses, lists)."""
    if (
        type(value) is dict
        and "_source" not in value
        and "hits" not in value
        and "items" not in value
    ):
        yield value
        return
    if isinstance(value, list):
        for item in value:
            yield from unwrap(item)
        return
    if isinstance(value, Mapping):
        source = value.get("_source")
        if isinstance(source, Mapping):
            yield source
            return
        hits = value.get("hits")
        if isinstance(hits, Mapping) and isinstance(hits.get("hits"), list):
            yield from unwrap(hits["hits"])
            return
        items = value.get("items")
        if isinstance(items, list) and "action" not in value:
            yield from unwrap(items)
            return
    yield value


class _FileReader:
    """Turns one file's text into flows, counting every record in ``stats``."""

    def __init__(
        self, path: str, mapper: RecordMapper, strict: bool, stats: CollectorStats
    ) -> None:
        self.path = path
        self.mapper = mapper
        self.strict = strict
        self.stats = stats
        self.dns = DnsLogMapper()

    def bad(self, line: int, reason: str) -> None:
        self.stats.bad_record(InputError(self.path, line, reason), self.strict)

    def flows_from_value(self, value: Any, line: int) -> Iterator[Flow]:
        origin = Origin(self.path, line)
        for record in unwrap(value):
            self.stats.records += 1
            try:
                if type(record) is dict and is_dns_log(record):
                    flow = self.dns.flow(record, origin)
                else:
                    flow = self.mapper.flow(record, origin)
            except (RecordError, InvalidName) as error:
                self.bad(line, str(error))
                continue
            except (TypeError, AttributeError) as error:  # a field of an unexpected JSON type
                self.bad(line, f"unusable record: {error}")
                continue
            except NotAFlow as skipped:
                self.stats.non_flow[str(skipped)] += 1
                continue
            self.stats.flows += 1
            yield flow

    def flows(self, handle: IO[str]) -> Iterator[Flow]:
        line_number = 0
        for first in handle:
            line_number += 1
            if not first.isspace():
                break
        else:
            return
        first = first.lstrip("\ufeff")
        opening = first.strip()
        if opening == "{" or (opening.startswith("[") and not _is_complete_json(opening)):
            yield from self.documents(handle, first, line_number)
        else:
            yield from self.lines(chain((first,), handle), line_number)

    def lines(self, lines: Iterable[str], first_line: int) -> Iterator[Flow]:
        loads = orjson.loads
        decode_error = orjson.JSONDecodeError
        line_number = first_line - 1
        for line in lines:
            line_number += 1
            text = line.strip()
            if not text:
                continue
            if text.startswith("data:"):
                text = text[5:].lstrip()
            elif text.startswith(SSE_FIELDS):
                continue
            elif text[0].isdigit():
                yield from self.legacy(text, line_number)
                continue
            try:
                value = loads(text)
            except decode_error as error:
                self.stats.records += 1
                self.bad(line_number, f"invalid JSON: {error.msg} at column {error.colno}")
                continue
            yield from self.flows_from_value(value, line_number)

    def legacy(self, text: str, line: int) -> Iterator[Flow]:
        self.stats.records += 1
        try:
            flow = self.mapper.legacy(text, Origin(self.path, line))
        except (RecordError, InvalidName) as error:
            self.bad(line, f"legacy space-delimited format: {error}")
            return
        except NotAFlow as skipped:
            self.stats.non_flow[str(skipped)] += 1
            return
        self.stats.flows += 1
        yield flow

    def documents(self, handle: IO[str], text: str, first_line: int) -> Iterator[Flow]:
        """Concatenated or pretty-printed JSON values, or one JSON array of them."""
        for item in iter_json_values(handle, text, first_line):
            if isinstance(item, JSONProblem):
                self.stats.records += 1
                self.bad(item.line, item.reason)
                continue
            yield from self.flows_from_value(item.value, item.line)


def _is_complete_json(line: str) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


def iter_flows(
    inputs: Iterable[str], *, strict: bool = False, stats: CollectorStats
) -> Iterator[Flow]:
    """Every flow in ``inputs``: files (gzip or plain), directories (recursive) or ``-``.

    Malformed records are counted in ``stats`` and skipped; with ``strict`` the first raises
    :class:`InputError`. Unreadable files raise InputError whatever ``strict`` says.
    """
    mapper = RecordMapper()
    try:
        for path in expand_inputs(inputs):
            stats.files += 1
            yield from _file_flows(path, mapper, strict, stats)
    finally:
        if mapper.endpoints.named_only:
            stats.warnings[WARN_NAME_LABEL] += mapper.endpoints.named_only


def _file_flows(
    path: str, mapper: RecordMapper, strict: bool, stats: CollectorStats
) -> Iterator[Flow]:
    try:
        handle = open_text(path, strict=strict)
    except OSError as error:
        raise InputError(path, 0, f"cannot read: {error.strerror or error}") from error
    try:
        yield from _FileReader(path, mapper, strict, stats).flows(handle)
    except UnicodeDecodeError as error:
        raise undecodable(path, error) from error
    except (OSError, EOFError) as error:  # e.g. a truncated or corrupt .gz
        raise InputError(path, 0, f"cannot read: {error}") from error
    finally:
        drain_label_warnings(stats.warnings)
        if path == STDIN and isinstance(handle, io.TextIOWrapper):
            handle.detach()  # leave the process's stdin open
        else:
            handle.close()
