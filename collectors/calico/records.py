"""One decoded Calico record → one :class:`~learner.model.Flow`, for every JSON shape Calico uses.

* Enterprise/Cloud ``flows.log`` lines and their Elasticsearch documents (``host``,
  ``@timestamp``): snake_case keys, ``source_type``, ``proto``, ``reporter`` ``src``/``dst``.
* Whisker backend ``FlowResponse``: ``protocol``, labels as one ``" | "``-joined string, RFC 3339
  times, capitalised enums, no endpoint types and no addresses.
* Goldmane ``Flow`` in protojson (``{"Key": {...}, "startTime": "..."}``), bare or as a
  ``FlowResult`` (``{"id": ..., "flow": {...}}``), with lowerCamelCase or proto field names.
* The legacy space-delimited line (a string, not JSON).

Calico logs are connection-oriented: each record stands for connections from source to
destination, so ``is_reply`` is always False. The flow's time is the record's ``end_time``: the
moment by which its connections are known to have happened (``start_time`` is the start of the
flush interval, not of any connection). A record is counted as ``num_flows_started``
connections; when that is 0 or absent (connections still open from an earlier interval),
``num_flows``; failing both, 1.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from collectors.calico.model import (
    ENDPOINT_TYPES,
    EndpointMapper,
    EndpointType,
    RawEndpoint,
    clean,
    direction_of,
    protocol_of,
    verdict_of,
)
from learner.model.flow import Endpoint, Flow, Origin, Protocol
from learner.model.fqdn import normalize_name

Record = Mapping[str, Any]


class RecordError(ValueError):
    """The record is malformed; ``str()`` is the reason shown with file and line."""


class NotAFlow(Exception):  # noqa: N818 - a classification, not a failure
    """A well-formed record that describes no policy-relevant flow; ``str()`` is the category."""


HUBBLE_KEYS = frozenset({"flow", "lost_events", "node_status", "agent_event", "debug_event"})
LEGACY_FIELDS: tuple[str, ...] = (
    "start_time", "end_time", "source_type", "source_namespace", "source_name", "source_labels",
    "dest_type", "dest_namespace", "dest_name", "dest_labels", "source_ip", "dest_ip", "proto",
    "source_port", "dest_port", "num_flows", "num_flows_started", "num_flows_completed",
    "reporter", "packets_in", "packets_out", "bytes_in", "bytes_out", "action",
)  # fmt: skip
SOURCE_KEYS = (
    "source_type", "source_namespace", "source_name", "source_name_aggr", "source_labels",
    "source_ip",
)  # fmt: skip
DEST_KEYS = ("dest_type", "dest_namespace", "dest_name", "dest_name_aggr", "dest_labels", "dest_ip")
_FRACTION = re.compile(r"(\.\d{6})\d+")


def _int(value: Any, field: str) -> int:
    """An integer field that may be a JSON number, a protojson int64 string, or null (0)."""
    if type(value) is int:
        return value
    if value is None or value == "":
        return 0
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise RecordError(f"{field}: expected an integer, got {value!r}")


def _labels(value: Any, field: str) -> tuple[str, ...] | None:
    """``{"labels": [...]}``, a list, a ``" | "``-joined string, or null (not included)."""
    if type(value) is dict:
        value = value.get("labels")
        if type(value) is list:
            return tuple(value)
    if value is None:
        return None
    if isinstance(value, Mapping):
        value = value.get("labels")
        if value is None:
            return None
    if isinstance(value, str):
        if not value or value == "-":
            return None
        return tuple(part.strip() for part in value.split("|"))
    if isinstance(value, list):
        return tuple(value)  # elements are checked when the endpoint is first built
    raise RecordError(f"{field}: expected {{'labels': [...]}}, a list or null, got {value!r}")


def _pick(record: Record, snake: str, camel: str) -> Any:
    value = record.get(camel)
    return record.get(snake) if value is None else value


def _side_labels(record: Record, side: str) -> tuple[str, ...] | None:
    return _labels(_pick(record, f"{side}_labels", f"{side}Labels"), f"{side}_labels")


class RecordMapper:
    """Maps decoded records to flows, with the caches that make repeated endpoints cheap."""

    def __init__(self) -> None:
        self.endpoints = EndpointMapper()
        self._policy_cache: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._last_time_text = ""
        self._last_time = 0.0

    def flow(self, record: Any, origin: Origin) -> Flow:
        """Any supported JSON record shape (already unwrapped from ``_source``/``items``)."""
        if type(record) is not dict and not isinstance(record, Mapping):
            raise RecordError(f"expected a JSON object, got {type(record).__name__}")
        if "Key" in record or "key" in record:
            return self.goldmane(record, origin)
        inner = record.get("flow")
        if isinstance(inner, Mapping) and ("Key" in inner or "key" in inner):
            return self.goldmane(inner, origin)
        if "protocol" in record and "proto" not in record:
            return self.whisker(record, origin)
        if "proto" in record or "source_type" in record or "dest_type" in record:
            return self.enterprise(record, origin)
        if not HUBBLE_KEYS.isdisjoint(record) or "verdict" in record:
            raise RecordError("a Hubble record, not Calico (use --source hubble or auto)")
        raise RecordError("not a Calico flow record (no proto, protocol or Key field)")

    # -- Enterprise / Elasticsearch ------------------------------------------------------------

    def enterprise(self, record: Record, origin: Origin) -> Flow:
        # Scalars first: a malformed record must fail before its endpoints are counted.
        protocol = self._protocol(record.get("proto"))
        time = self._time(
            record.get("end_time") or record.get("start_time") or record.get("@timestamp"),
            "end_time, start_time or @timestamp",
        )
        verdict = verdict_of(self._required(record, "action"))
        port = _int(record.get("dest_port"), "dest_port")
        source_port = _int(record.get("source_port"), "source_port")
        started = _int(record.get("num_flows_started"), "num_flows_started")
        count = started or _int(record.get("num_flows"), "num_flows") or 1
        policies = record.get("policies")
        return Flow(
            time=time,
            source=self._enterprise_endpoint(record, SOURCE_KEYS),
            destination=self._enterprise_endpoint(record, DEST_KEYS),
            protocol=protocol,
            port=port,
            verdict=verdict,
            direction=direction_of(record.get("reporter", "")),
            is_reply=False,
            origin=origin,
            source_port=source_port,
            dns_names=_domains(record.get("dest_domains")),
            count=count,
            node=clean(record.get("host")),
            policies=self._enterprise_policies(policies) if policies else (),
        )

    def _enterprise_endpoint(self, record: Record, keys: tuple[str, ...]) -> Endpoint:
        type_key, namespace_key, name_key, aggregated_key, labels_key, ip_key = keys
        get = record.get
        labels = get(labels_key)
        if labels is not None:
            labels = _labels(labels, labels_key)
        key = (
            get(type_key),
            get(namespace_key),
            get(name_key),
            get(aggregated_key),
            labels,
            get(ip_key),
        )
        found = self.endpoints.cached(key)
        if found is not None:
            return found
        type_text = key[0]
        endpoint_type = ENDPOINT_TYPES.get(type_text) if type_text else None
        if type_text and endpoint_type is None:
            raise RecordError(f"{type_key}: unknown endpoint type {type_text!r}")
        raw = RawEndpoint(
            endpoint_type, clean(key[1]), clean(key[2]), clean(key[3]), labels, clean(key[5])
        )
        return self._add(key, raw, labels_key)

    def _add(self, key: Hashable, raw: RawEndpoint, labels_key: str) -> Endpoint:
        try:
            return self.endpoints.add(key, raw)
        except ValueError as error:
            raise RecordError(f"{labels_key}: {error}") from None

    def _enterprise_policies(self, policies: Any) -> tuple[str, ...]:
        """Names from ``idx|tier|name|action|rule`` entries, in evaluation (index) order."""
        if not isinstance(policies, Mapping):
            raise RecordError(f"policies: expected an object, got {policies!r}")
        entries = policies.get("enforced_policies") or policies.get("all_policies") or ()
        key = tuple(entries)
        found = self._policy_cache.get(key)
        if found is None:
            ordered: list[tuple[int, str]] = []
            for entry in key:
                parts = str(entry).split("|")
                if len(parts) < 3:
                    raise RecordError(f"policies: {entry!r} is not index|tier|name|action|rule")
                index = int(parts[0]) if parts[0].isdigit() else 1 << 30
                ordered.append((index, parts[2]))
            found = tuple(dict.fromkeys(name for _, name in sorted(ordered)))
            if len(self._policy_cache) < 10_000:
                self._policy_cache[key] = found
        return found

    # -- Whisker backend ------------------------------------------------------------------------

    def whisker(self, record: Record, origin: Origin) -> Flow:
        protocol = self._protocol(record.get("protocol"))
        time = self._time(record.get("end_time") or record.get("start_time"), "end_time")
        verdict = verdict_of(self._required(record, "action"))
        port = _int(record.get("dest_port"), "dest_port")
        source_labels = _side_labels(record, "source")
        dest_labels = _side_labels(record, "dest")
        return Flow(
            time=time,
            source=self._named_endpoint(record, "source", source_labels),
            destination=self._named_endpoint(record, "dest", dest_labels),
            protocol=protocol,
            port=port,
            verdict=verdict,
            direction=direction_of(record.get("reporter", "")),
            is_reply=False,
            origin=origin,
            policies=_hit_names(record.get("policies"), "enforced"),
        )

    def _named_endpoint(self, names: Record, side: str, labels: tuple[str, ...] | None) -> Endpoint:
        """An end described by name, namespace and maybe a type (Whisker, Goldmane keys)."""
        type_value = _pick(names, f"{side}_type", f"{side}Type")
        namespace = _pick(names, f"{side}_namespace", f"{side}Namespace")
        name = _pick(names, f"{side}_name", f"{side}Name")
        key = ("named", type_value, namespace, name, labels)
        found = self.endpoints.cached(key)
        if found is not None:
            return found
        endpoint_type: EndpointType | None = None
        if type_value not in (None, "", 0, "EndpointTypeUnspecified"):
            endpoint_type = ENDPOINT_TYPES.get(str(type_value))
            if endpoint_type is None:
                raise RecordError(f"{side}_type: unknown endpoint type {type_value!r}")
        raw = RawEndpoint(endpoint_type, clean(namespace), "", clean(name), labels, "")
        return self._add(key, raw, f"{side}_labels")

    # -- Goldmane protojson ---------------------------------------------------------------------

    def goldmane(self, record: Record, origin: Origin) -> Flow:
        key = record.get("Key") or record.get("key")
        if not isinstance(key, Mapping):
            raise RecordError(f"Key: expected an object, got {key!r}")
        protocol = self._protocol(key.get("proto"))
        time = self._time(
            _pick(record, "end_time", "endTime") or _pick(record, "start_time", "startTime"),
            "endTime",
        )
        verdict = verdict_of(self._required(key, "action"))
        port = _int(_pick(key, "dest_port", "destPort"), "destPort")
        started = _int(
            _pick(record, "num_connections_started", "numConnectionsStarted"),
            "numConnectionsStarted",
        )
        live = _int(
            _pick(record, "num_connections_live", "numConnectionsLive"), "numConnectionsLive"
        )
        source_labels = _side_labels(record, "source")
        dest_labels = _side_labels(record, "dest")
        return Flow(
            time=time,
            source=self._named_endpoint(key, "source", source_labels),
            destination=self._named_endpoint(key, "dest", dest_labels),
            protocol=protocol,
            port=port,
            verdict=verdict,
            direction=direction_of(key.get("reporter", "")),
            is_reply=False,
            origin=origin,
            count=started or live or 1,
            policies=_hit_names(key.get("policies"), "enforcedPolicies", "enforced_policies"),
        )

    # -- legacy space-delimited -----------------------------------------------------------------

    def legacy(self, line: str, origin: Origin) -> Flow:
        fields = line.split()
        if len(fields) != len(LEGACY_FIELDS):
            raise RecordError(
                f"expected the {len(LEGACY_FIELDS)} space-separated fields of the legacy "
                f"flow-log format, found {len(fields)}"
            )
        record: dict[str, Any] = {}
        for name, value in zip(LEGACY_FIELDS, fields, strict=True):
            record[name] = None if value == "-" else value
        for side in ("source", "dest"):
            name = record.pop(f"{side}_name") or ""
            record[f"{side}_name_aggr"] = name
            record[f"{side}_name"] = "" if name.endswith("*") else name
            labels = record[f"{side}_labels"]
            if labels is not None:
                record[f"{side}_labels"] = [
                    item for item in labels.strip("[]{}").split(",") if item
                ]
        return self.enterprise(record, origin)

    # -- shared ---------------------------------------------------------------------------------

    @staticmethod
    def _required(record: Record, field: str) -> Any:
        value = record.get(field)
        if value is None or value == "":
            raise RecordError(f"missing {field}")
        return value

    @staticmethod
    def _protocol(value: Any) -> Protocol:
        if value is None or value == "":
            raise RecordError("missing proto")
        protocol = protocol_of(value)
        if protocol is None:
            raise NotAFlow(f"protocol {value} (no policy port)")
        return protocol

    def _time(self, value: Any, field: str) -> float:
        if type(value) is int and 0 < value < 100_000_000_000:
            return float(value)
        if isinstance(value, str) and value == self._last_time_text:
            return self._last_time
        seconds = parse_time(value, field)
        if isinstance(value, str):
            self._last_time_text, self._last_time = value, seconds
        return seconds


def parse_time(value: Any, field: str) -> float:
    """Unix seconds from seconds, milliseconds (Elasticsearch), an int64 string or RFC 3339."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
        if seconds <= 0:
            raise RecordError(f"{field}: not a time: {value!r}")
        return seconds / 1000 if seconds > 1e11 else seconds
    if isinstance(value, str) and value:
        if value.isdigit():
            return parse_time(int(value), field)
        try:
            moment = datetime.fromisoformat(_FRACTION.sub(r"\1", value))
        except ValueError:
            raise RecordError(f"{field}: not a time: {value!r}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    if value is None or value == "":
        raise RecordError(f"no {field}: cannot place the flow in time")
    raise RecordError(f"{field}: not a time: {value!r}")


def _domains(value: Any) -> tuple[str, ...]:
    if not value or not isinstance(value, list):
        return ()
    return tuple(normalize_name(str(name)) for name in value if name and name != "-")


def _hit_names(policies: Any, *keys: str) -> tuple[str, ...]:
    """``namespace/name`` of policy hits in index order; an end-of-tier hit names its trigger."""
    if not isinstance(policies, Mapping):
        return ()
    hits: Sequence[Any] = ()
    for key in keys:
        hits = policies.get(key) or ()
        if hits:
            break
    ordered: list[tuple[int, str]] = []
    for hit in hits:
        if not isinstance(hit, Mapping):
            continue
        shown = hit
        trigger = hit.get("trigger")
        if str(hit.get("kind")) in ("EndOfTier", "10") and isinstance(trigger, Mapping):
            shown = trigger
        name = str(shown.get("name") or "")
        namespace = str(shown.get("namespace") or "")
        if not name:
            continue
        index = _pick(hit, "policy_index", "policyIndex")
        position = int(index) if isinstance(index, int | str) and str(index).isdigit() else 0
        ordered.append((position, f"{namespace}/{name}" if namespace else name))
    return tuple(dict.fromkeys(name for _, name in sorted(ordered)))
