"""Persistent learning state in one SQLite file; the only module that imports ``sqlite3``.

It holds what a long-running ``learn`` (and every ``ingest``) has learned: edges by
:class:`~learner.aggregate.EdgeKey`, workload and namespace information, an inventory snapshot,
each collector's position (newest flow time plus the keys of the flows at exactly that time),
cumulative counters, and per-workload learning status. The file is in WAL mode and every write is
one transaction, so a ``kill -9`` loses at most the batch being written and never corrupts the
store; readers (``export``) never block the writer. The schema evolves through numbered
migrations recorded in ``PRAGMA user_version``. All SQL is parameterised.

Writes carry absolute values taken from the in-memory :class:`~learner.aggregate.EdgeStore`
(not deltas), so writing the same edge twice is harmless.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from learner.model.edges import EdgeKey, EdgeStats, EdgeStore, WorkloadInfo
from learner.model.errors import UsageError
from learner.model.external import PeerCap
from learner.model.flow import Labels
from learner.model.identity import Identity, IdentityResolver
from learner.model.inventory import ContainerPort, Inventory, Namespace, Workload

__all__ = [
    "SCHEMA_VERSION",
    "CollectorPosition",
    "PositionLike",
    "StateStore",
    "StoredStatus",
    "load_store",
]

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE edges (
        source TEXT NOT NULL,
        destination TEXT NOT NULL,
        protocol TEXT NOT NULL,
        port INTEGER NOT NULL,
        first_seen REAL NOT NULL,
        last_seen REAL NOT NULL,
        egress_count INTEGER NOT NULL,
        ingress_count INTEGER NOT NULL,
        other_count INTEGER NOT NULL,
        details TEXT NOT NULL,
        PRIMARY KEY (source, destination, protocol, port)
    ) WITHOUT ROWID;
    CREATE TABLE workloads (identity TEXT PRIMARY KEY, info TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE namespaces (namespace TEXT PRIMARY KEY, labels TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE positions (
        collector TEXT PRIMARY KEY,
        time_ns INTEGER NOT NULL,
        boundary TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE inventory (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        taken_at REAL NOT NULL,
        document TEXT NOT NULL
    );
    CREATE TABLE workload_status (
        identity TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        last_new_edge REAL NOT NULL,
        updated_at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE ingested_files (
        digest TEXT PRIMARY KEY,
        path TEXT NOT NULL,
        ingested_at REAL NOT NULL
    ) WITHOUT ROWID;
    """,
    # 2: dropped flows per edge, so a connection one end allowed and the other dropped stays
    # contested across restarts (EdgeStore.denied).
    """
    CREATE TABLE denied (
        source TEXT NOT NULL,
        destination TEXT NOT NULL,
        protocol TEXT NOT NULL,
        port INTEGER NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (source, destination, protocol, port)
    ) WITHOUT ROWID;
    """,
    # 3: what DNS responses said names resolve to (EdgeStore.dns_answers), so addresses a
    # client's name resolved to but that it has not connected to yet survive restarts.
    """
    CREATE TABLE dns_answers (
        name TEXT NOT NULL,
        address TEXT NOT NULL,
        PRIMARY KEY (name, address)
    ) WITHOUT ROWID;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True, slots=True)
class CollectorPosition:
    """Where a live collector has got to: resume after this, without counting anything twice."""

    time_ns: int
    boundary: tuple[str, ...] = ()
    """Keys of the flows already counted whose time is exactly ``time_ns`` (sorted, with
    repeats: identical flows each count)."""


class PositionLike(Protocol):
    """Any collector's position type with the same two fields (e.g. a Hubble StreamPosition)."""

    @property
    def time_ns(self) -> int: ...

    @property
    def boundary(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class StoredStatus:
    identity: Identity
    status: str
    last_new_edge: float
    updated_at: float


# --- encoding ----------------------------------------------------------------------------------


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _labels(raw: Iterable[Iterable[str]]) -> Labels:
    return tuple((str(k), str(v)) for k, v in raw)


def encode_identity(identity: Identity) -> str:
    return _dumps([identity.kind, identity.namespace, identity.labels, identity.address])


def decode_identity(text: str) -> Identity:
    kind, namespace, labels, address = json.loads(text)
    return Identity(kind, namespace, _labels(labels), address)


COUNTER_FIELDS = ("first_seen", "last_seen", "egress_count", "ingress_count", "other_count")
"""EdgeStats fields kept as numbers (columns of the state's edge table)."""


def edge_details(stats: EdgeStats) -> dict[str, Any]:
    """The EdgeStats fields that are collections, as JSON-ready values (sorted, so stable)."""
    details: dict[str, Any] = {
        "source_pods": stats.source_pods,
        "destination_pods": stats.destination_pods,
        "dns_names": sorted(stats.dns_names),
        "http": sorted(stats.http),
        "dns_queries": sorted(stats.dns_queries),
    }
    if stats.folded:  # only folded edges carry it, so other files stay as they were
        details["folded"] = stats.folded
    return details


def edge_stats_from_document(document: Mapping[str, Any]) -> EdgeStats:
    """The inverse of :data:`COUNTER_FIELDS` plus :func:`edge_details`."""
    return EdgeStats(
        **{name: document[name] for name in COUNTER_FIELDS},
        source_pods=list(document["source_pods"]),
        destination_pods=list(document["destination_pods"]),
        dns_names=set(document["dns_names"]),
        http={(method, path) for method, path in document["http"]},
        dns_queries=set(document["dns_queries"]),
        folded=int(document.get("folded", 0)),
    )


def workload_document(info: WorkloadInfo) -> dict[str, Any]:
    return {
        "names": dict(info.names),
        "kinds": dict(info.kinds),
        "pods": sorted(info.pods),
        "ips": sorted(info.ips),
        "service_accounts": sorted(info.service_accounts),
        "full_labels": info.full_labels,
        "pod_names": {pod: list(pair) for pod, pair in sorted(info.pod_names.items())},
    }


def workload_from_document(document: Mapping[str, Any]) -> WorkloadInfo:
    return WorkloadInfo(
        names=Counter(document["names"]),
        kinds=Counter(document["kinds"]),
        pods=set(document["pods"]),
        ips=set(document["ips"]),
        service_accounts=set(document["service_accounts"]),
        full_labels=_labels(document["full_labels"]),
        pod_names={
            pod: (name, kind) for pod, (name, kind) in document.get("pod_names", {}).items()
        },
    )


def _edge_row(key: EdgeKey, stats: EdgeStats) -> tuple[Any, ...]:
    details = edge_details(stats)
    return (
        encode_identity(key.source),
        encode_identity(key.destination),
        key.protocol,
        key.port,
        stats.first_seen,
        stats.last_seen,
        stats.egress_count,
        stats.ingress_count,
        stats.other_count,
        _dumps(details),
    )


def _edge_from_row(row: sqlite3.Row) -> tuple[EdgeKey, EdgeStats]:
    key = EdgeKey(
        decode_identity(row["source"]),
        decode_identity(row["destination"]),
        row["protocol"],
        row["port"],
    )
    document = {**json.loads(row["details"]), **{name: row[name] for name in COUNTER_FIELDS}}
    return key, edge_stats_from_document(document)


def _workload_row(identity: Identity, info: WorkloadInfo) -> tuple[str, str]:
    return encode_identity(identity), _dumps(workload_document(info))


def _workload_from_row(row: sqlite3.Row) -> tuple[Identity, WorkloadInfo]:
    return decode_identity(row["identity"]), workload_from_document(json.loads(row["info"]))


def inventory_to_json(inventory: Inventory) -> str:
    return _dumps(
        {
            "namespaces": [[n.name, n.labels] for n in inventory.namespaces],
            "workloads": [
                {
                    "namespace": w.namespace,
                    "name": w.name,
                    "labels": w.labels,
                    "kind": w.kind,
                    "ips": w.ips,
                    "ports": [[p.port, p.protocol, p.name] for p in w.ports],
                    "host_network": w.host_network,
                }
                for w in inventory.workloads
            ],
            "policies": list(inventory.policies),
            "inferred": inventory.inferred,
        }
    )


def inventory_from_json(text: str) -> Inventory:
    document = json.loads(text)
    return Inventory(
        namespaces=tuple(
            Namespace(name, _labels(labels)) for name, labels in document["namespaces"]
        ),
        workloads=tuple(
            Workload(
                namespace=w["namespace"],
                name=w["name"],
                labels=_labels(w["labels"]),
                kind=w["kind"],
                ips=tuple(w["ips"]),
                ports=tuple(
                    ContainerPort(port, protocol, name) for port, protocol, name in w["ports"]
                ),
                host_network=w["host_network"],
            )
            for w in document["workloads"]
        ),
        policies=tuple(document["policies"]),
        inferred=document["inferred"],
    )


# --- the store ---------------------------------------------------------------------------------


class StateStore:
    """One open state file. Not shared between threads: use it from one thread at a time."""

    def __init__(self, path: str, *, create: bool = True) -> None:
        if path != ":memory:" and not create and not os.path.exists(path):
            raise UsageError(f"{path}: no such state file (create one with ingest or learn)")
        self.path = path
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA busy_timeout = 10000")
            self._db.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode: a committed transaction survives a process crash; only a power
            # loss can undo the last few, and nothing can corrupt the file.
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as error:
            raise UsageError(f"{path}: not a usable state file: {error}") from error

    # -- schema ---------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise UsageError(
                f"{self.path}: written by a newer netpol-learner (schema {version}, this one "
                f"knows up to {SCHEMA_VERSION})"
            )
        for number in range(version, SCHEMA_VERSION):
            with self.transaction():
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                # PRAGMA takes no parameters; the value is our own integer.
                self._db.execute(f"PRAGMA user_version = {number + 1:d}")
                if number == 0:
                    self._set_meta("created_at", repr(time.time()))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic write: everything inside commits together or not at all."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def integrity_check(self) -> str:
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    # -- meta -----------------------------------------------------------------------------

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self._set_meta(key, value)

    def meta(self, key: str, default: str = "") -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row["value"]) if row else default

    # -- edges, workloads, namespaces -----------------------------------------------------

    def load_into(self, store: EdgeStore) -> None:
        """Add everything saved to ``store`` (normally an empty one)."""
        for row in self._db.execute("SELECT * FROM edges"):
            key, stats = _edge_from_row(row)
            mine = store.edges.get(key)
            if mine is None:
                store.edges[key] = stats
            else:
                mine.merge(stats)
        for row in self._db.execute("SELECT identity, info FROM workloads"):
            identity, info = _workload_from_row(row)
            store.workloads[identity] = info
        for row in self._db.execute("SELECT namespace, labels FROM namespaces"):
            store.namespace_labels.setdefault(row["namespace"], _labels(json.loads(row["labels"])))
        for row in self._db.execute("SELECT * FROM denied"):
            key = EdgeKey(
                decode_identity(row["source"]),
                decode_identity(row["destination"]),
                row["protocol"],
                row["port"],
            )
            store.denied[key] = store.denied.get(key, 0) + int(row["count"])
        for row in self._db.execute("SELECT name, address FROM dns_answers ORDER BY 1, 2"):
            store.add_answers(row["name"], (row["address"],))
        # A state written under a larger cap (or none) is folded to this run's cap.
        store.enforce_peer_cap()

    def edge_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM edges").fetchone()[0])

    def save(
        self,
        store: EdgeStore,
        edges: Collection[EdgeKey] | None = None,
        *,
        positions: Mapping[str, PositionLike] | None = None,
        counters: Mapping[str, int] | None = None,
    ) -> None:
        """Write ``edges`` (all when None), their workloads, the namespaces, ``positions`` and
        ``counters``, in one transaction."""
        rows = SaveBatch.capture(store, edges, positions=positions, counters=counters)
        self.write(rows)

    def write(self, batch: SaveBatch) -> None:
        """Write a batch captured with :meth:`SaveBatch.capture`, in one transaction."""
        with self.transaction():
            self._db.executemany(
                "DELETE FROM edges WHERE source = ? AND destination = ? AND protocol = ? "
                "AND port = ?",
                batch.removed,
            )
            self._db.executemany(
                "DELETE FROM denied WHERE source = ? AND destination = ? AND protocol = ? "
                "AND port = ?",
                batch.removed_denied,
            )
            self._db.executemany(
                "INSERT INTO edges (source, destination, protocol, port, first_seen, last_seen, "
                "egress_count, ingress_count, other_count, details) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (source, destination, protocol, port) DO UPDATE SET "
                "first_seen = excluded.first_seen, last_seen = excluded.last_seen, "
                "egress_count = excluded.egress_count, ingress_count = excluded.ingress_count, "
                "other_count = excluded.other_count, details = excluded.details",
                batch.edges,
            )
            self._db.executemany(
                "INSERT INTO workloads (identity, info) VALUES (?, ?) "
                "ON CONFLICT (identity) DO UPDATE SET info = excluded.info",
                batch.workloads,
            )
            self._db.executemany(
                "INSERT INTO namespaces (namespace, labels) VALUES (?, ?) "
                "ON CONFLICT (namespace) DO UPDATE SET labels = excluded.labels",
                batch.namespaces,
            )
            self._db.executemany(
                "INSERT INTO positions (collector, time_ns, boundary) VALUES (?, ?, ?) "
                "ON CONFLICT (collector) DO UPDATE SET "
                "time_ns = excluded.time_ns, boundary = excluded.boundary",
                batch.positions,
            )
            self._db.executemany(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                batch.counters,
            )
            self._db.executemany(
                "INSERT INTO ingested_files (digest, path, ingested_at) VALUES (?, ?, ?) "
                "ON CONFLICT (digest) DO NOTHING",
                batch.files,
            )
            self._db.executemany(
                "INSERT INTO denied (source, destination, protocol, port, count) "
                "VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (source, destination, protocol, port) DO UPDATE SET "
                "count = excluded.count",
                batch.denied,
            )
            self._db.executemany(
                "INSERT INTO dns_answers (name, address) VALUES (?, ?) "
                "ON CONFLICT (name, address) DO NOTHING",
                batch.dns_answers,
            )

    # -- positions and counters -----------------------------------------------------------

    def position(self, collector: str) -> CollectorPosition | None:
        row = self._db.execute(
            "SELECT time_ns, boundary FROM positions WHERE collector = ?", (collector,)
        ).fetchone()
        if row is None:
            return None
        return CollectorPosition(int(row["time_ns"]), tuple(json.loads(row["boundary"])))

    def counters(self) -> Counter[str]:
        return Counter(
            {row["name"]: int(row["value"]) for row in self._db.execute("SELECT * FROM counters")}
        )

    # -- ingested files -------------------------------------------------------------------

    def ingested(self, digest: str) -> str | None:
        """The path a file with this content digest was ingested from, if it was."""
        row = self._db.execute(
            "SELECT path FROM ingested_files WHERE digest = ?", (digest,)
        ).fetchone()
        return str(row["path"]) if row else None

    # -- inventory ------------------------------------------------------------------------

    def save_inventory(self, inventory: Inventory, taken_at: float | None = None) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT INTO inventory (id, taken_at, document) VALUES (1, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET "
                "taken_at = excluded.taken_at, document = excluded.document",
                (time.time() if taken_at is None else taken_at, inventory_to_json(inventory)),
            )

    def inventory(self) -> tuple[Inventory, float] | None:
        """The saved inventory snapshot and when it was taken, if any."""
        row = self._db.execute("SELECT taken_at, document FROM inventory WHERE id = 1").fetchone()
        if row is None:
            return None
        return inventory_from_json(row["document"]), float(row["taken_at"])

    # -- learning status ------------------------------------------------------------------

    def save_statuses(self, statuses: Iterable[StoredStatus]) -> None:
        rows = [
            (encode_identity(s.identity), s.status, s.last_new_edge, s.updated_at) for s in statuses
        ]
        with self.transaction():
            self._db.execute("DELETE FROM workload_status")
            self._db.executemany(
                "INSERT INTO workload_status (identity, status, last_new_edge, updated_at) "
                "VALUES (?, ?, ?, ?)",
                rows,
            )

    def statuses(self) -> list[StoredStatus]:
        return [
            StoredStatus(
                decode_identity(row["identity"]),
                row["status"],
                float(row["last_new_edge"]),
                float(row["updated_at"]),
            )
            for row in self._db.execute("SELECT * FROM workload_status ORDER BY identity")
        ]


@dataclass(frozen=True, slots=True)
class SaveBatch:
    """Rows ready to write: captured under the caller's lock, written outside it."""

    edges: list[tuple[Any, ...]]
    workloads: list[tuple[str, str]]
    namespaces: list[tuple[str, str]]
    positions: list[tuple[str, int, str]]
    counters: list[tuple[str, int]]
    files: list[tuple[str, str, float]]
    denied: list[tuple[str, str, str, int, int]]
    dns_answers: list[tuple[str, str]]
    removed: list[tuple[str, str, str, int]] = field(default_factory=list)
    """Edges folded away by the peer cap since the last save (deleted from the file)."""
    removed_denied: list[tuple[str, str, str, int]] = field(default_factory=list)
    """The same for dropped edges (``EdgeStore.denied``)."""

    @staticmethod
    def capture(
        store: EdgeStore,
        edges: Collection[EdgeKey] | None = None,
        *,
        positions: Mapping[str, PositionLike] | None = None,
        counters: Mapping[str, int] | None = None,
        files: Iterable[tuple[str, str]] = (),
        denied: Iterable[EdgeKey] | None = None,
        removed: Iterable[EdgeKey] = (),
        removed_denied: Iterable[EdgeKey] = (),
    ) -> SaveBatch:
        """Serialise ``edges`` (all when None) with the workloads at their ends, every
        namespace, ``positions``, ``counters``, ingested ``files`` ((digest, path) pairs) and
        the dropped-flow counts of ``denied`` (all when ``edges`` is None)."""
        keys = store.edges.keys() if edges is None else edges
        edge_rows = [_edge_row(key, store.edges[key]) for key in keys if key in store.edges]
        identities = {i for key in keys for i in (key.source, key.destination) if i.is_pod}
        if edges is None:
            identities.update(store.workloads)
        workload_rows = [
            _workload_row(identity, store.workloads[identity])
            for identity in sorted(identities)
            if identity in store.workloads
        ]
        namespace_rows = [
            (namespace, _dumps(labels)) for namespace, labels in store.namespace_labels.items()
        ]
        position_rows = [
            (collector, p.time_ns, _dumps(sorted(p.boundary)))
            for collector, p in (positions or {}).items()
        ]
        counter_rows = list((counters or {}).items())
        now = time.time()
        denied_keys = store.denied.keys() if edges is None else (denied or ())
        denied_rows = [
            (
                encode_identity(key.source),
                encode_identity(key.destination),
                key.protocol,
                key.port,
                store.denied[key],
            )
            for key in denied_keys
            if key in store.denied
        ]
        return SaveBatch(
            edges=edge_rows,
            denied=denied_rows,
            # Few and only ever added to: written whole, existing rows left alone.
            dns_answers=[
                (name, address)
                for name, addresses in sorted(store.dns_answers.items())
                for address in sorted(addresses)
            ],
            workloads=workload_rows,
            namespaces=namespace_rows,
            positions=position_rows,
            counters=counter_rows,
            files=[(digest, path, now) for digest, path in files],
            removed=[
                (encode_identity(k.source), encode_identity(k.destination), k.protocol, k.port)
                for k in sorted(removed)
                if k not in store.edges
            ],
            removed_denied=[
                (encode_identity(k.source), encode_identity(k.destination), k.protocol, k.port)
                for k in sorted(removed_denied)
                if k not in store.denied
            ],
        )


def load_store(
    path: str, *, ignore_labels: Iterable[str] = (), peer_cap: PeerCap | None = None
) -> EdgeStore:
    """The edge store saved in the state file at ``path`` (which must exist), folded to
    ``peer_cap``."""
    store = EdgeStore(IdentityResolver(ignore_labels), peer_cap)
    with StateStore(path, create=False) as state:
        state.load_into(store)
    return store
