"""Deterministic, readable policy names derived from workload identities."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from learner.model.edges import EdgeStore
from learner.model.identity import NAME_LABEL_KEYS, Identity, dns_label


def workload_display_name(identity: Identity, store: EdgeStore) -> str:
    """The workload's name as seen (controller or pod-derived), else its best name label."""
    info = store.workloads.get(identity)
    if info is not None and info.name:
        return info.name
    labels = dict(identity.labels)
    for key in NAME_LABEL_KEYS:
        if key in labels:
            return labels[key]
    return identity.key


def policy_names(identities: Iterable[Identity], store: EdgeStore) -> dict[Identity, str]:
    """A unique RFC 1123 name per identity within its namespace.

    Names come from the workload name; clashes (two identities that look like one workload)
    get a short hash of the identity so the result does not depend on input order.
    """
    wanted: dict[Identity, str] = {
        identity: dns_label(workload_display_name(identity, store), limit=56)
        for identity in sorted(identities)
    }
    taken: dict[tuple[str, str], int] = {}
    for identity, name in wanted.items():
        key = (identity.namespace, name)
        taken[key] = taken.get(key, 0) + 1
    names: dict[Identity, str] = {}
    for identity, name in wanted.items():
        if taken[(identity.namespace, name)] > 1:
            digest = hashlib.sha256(identity.key.encode()).hexdigest()[:6]
            name = f"{name}-{digest}"
        names[identity] = name
    return names
