"""The merged aggregate as a JSON-lines file (``--save-edges`` / ``--from-edges``).

One JSON object per line: a ``run`` line with the read counters, then every edge, workload,
namespace and denied edge. Floats are written with Python's shortest exact repr, so every
:class:`EdgeStats` field comes back bit for bit and learning from the file gives the same
policies as learning from the logs that made it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

from learner.ingest.state import (
    COUNTER_FIELDS,
    decode_identity,
    edge_details,
    edge_stats_from_document,
    encode_identity,
    workload_document,
    workload_from_document,
)
from learner.model.edges import EdgeKey, EdgeStore
from learner.model.errors import InputError
from learner.model.run_stats import CollectorStats, NormalizeStats, SkipReason

FORMAT = "netpol-learner-edges/1"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _key(key: EdgeKey) -> dict[str, Any]:
    return {
        "source": encode_identity(key.source),
        "destination": encode_identity(key.destination),
        "protocol": key.protocol,
        "port": key.port,
    }


def _lines(
    store: EdgeStore, collected: CollectorStats, normalized: NormalizeStats, cni: str
) -> Iterator[str]:
    yield _dumps(
        {
            "kind": "run",
            "format": FORMAT,
            "cni": cni,
            "records": collected.records,
            "flows": collected.flows,
            "non_flow": dict(collected.non_flow),
            "lost_events": collected.lost_events,
            "malformed": collected.malformed,
            "errors": [[e.path, e.line, e.reason] for e in collected.errors],
            "files": collected.files,
            "warnings": dict(collected.warnings),
            "seen": normalized.seen,
            "included": normalized.included,
            "skipped": {str(reason): n for reason, n in normalized.skipped.items()},
        }
    )
    for key, stats in store.sorted_edges():
        yield _dumps(
            {
                "kind": "edge",
                **_key(key),
                **{name: getattr(stats, name) for name in COUNTER_FIELDS},
                **edge_details(stats),
            }
        )
    for identity, info in sorted(store.workloads.items()):
        yield _dumps(
            {
                "kind": "workload",
                "identity": encode_identity(identity),
                **workload_document(info),
            }
        )
    for namespace, labels in sorted(store.namespace_labels.items()):
        yield _dumps({"kind": "namespace", "namespace": namespace, "labels": labels})
    for key, count in sorted(store.denied.items()):
        yield _dumps({"kind": "denied", **_key(key), "count": count})
    for name, addresses in sorted(store.dns_answers.items()):
        yield _dumps({"kind": "dns-answers", "name": name, "addresses": sorted(addresses)})


def save_edges(
    path: str, store: EdgeStore, collected: CollectorStats, normalized: NormalizeStats, cni: str
) -> None:
    """Write the aggregate; ``cni`` is the one the flows came from, for ``--cni auto`` later."""
    with open(path, "w", encoding="utf-8") as out:
        for line in _lines(store, collected, normalized, cni):
            out.write(line + "\n")


def _labels(raw: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), str(v)) for k, v in raw)


def _edge_key(doc: dict[str, Any]) -> EdgeKey:
    return EdgeKey(
        decode_identity(doc["source"]),
        decode_identity(doc["destination"]),
        str(doc["protocol"]),
        int(doc["port"]),
    )


def _load_line(
    doc: dict[str, Any], store: EdgeStore, collected: CollectorStats, normalized: NormalizeStats
) -> None:
    kind = doc["kind"]
    if kind == "run":
        if doc.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} file")
        read = CollectorStats(
            records=doc["records"],
            flows=doc["flows"],
            non_flow=Counter(doc["non_flow"]),
            lost_events=doc["lost_events"],
            malformed=doc["malformed"],
            errors=[InputError(p, line, reason) for p, line, reason in doc["errors"]],
            files=doc["files"],
            warnings=Counter(doc["warnings"]),
        )
        collected.merge(read)
        normalized.merge(
            NormalizeStats(
                seen=doc["seen"],
                included=doc["included"],
                skipped=Counter({SkipReason(r): n for r, n in doc["skipped"].items()}),
            )
        )
    elif kind == "edge":
        store.edges[_edge_key(doc)] = edge_stats_from_document(doc)
    elif kind == "workload":
        store.workloads[decode_identity(doc["identity"])] = workload_from_document(doc)
    elif kind == "namespace":
        store.namespace_labels[doc["namespace"]] = _labels(doc["labels"])
    elif kind == "denied":
        store.denied[_edge_key(doc)] = int(doc["count"])
    elif kind == "dns-answers":
        store.add_answers(str(doc["name"]), [str(a) for a in doc["addresses"]])
    else:
        raise ValueError(f"unknown kind {kind!r}")


def load_edges(
    path: str, store: EdgeStore, collected: CollectorStats, normalized: NormalizeStats
) -> None:
    """Merge the aggregate saved at ``path`` into ``store`` and its counters into the stats."""
    loaded = EdgeStore(store.resolver)
    try:
        with open(path, encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                try:
                    _load_line(json.loads(line), loaded, collected, normalized)
                except (ValueError, KeyError, TypeError) as exc:
                    raise InputError(path, number, f"not a saved edges line: {exc}") from exc
    except OSError as exc:
        raise InputError(path, 0, f"cannot read: {exc.strerror or exc}") from exc
    store.merge(loaded)


def saved_cni(path: str) -> str:
    """The CNI recorded in a saved aggregate's first line (``generic`` if it does not say)."""
    try:
        with open(path, encoding="utf-8") as lines:
            first = json.loads(lines.readline() or "{}")
    except (OSError, ValueError):
        return "generic"  # load_edges reports the problem with file and line
    return str(first.get("cni", "generic")) if isinstance(first, dict) else "generic"
