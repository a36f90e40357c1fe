"""Workload identity: which observed endpoints count as "the same workload".

A pod's identity is its namespace plus its labels minus the volatile ones (those that change
on every rollout, job run or release, and those that operators move between pods, such as
``role``), so a rollout, a scale-up or the next CronJob run maps
onto the same identity. Non-pod endpoints keep their address (external IPs stay IPs).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from learner.model.flow import Endpoint, EndpointKind, Labels
from learner.model.hidden import hidden_address

VOLATILE_LABEL_KEYS: frozenset[str] = frozenset(
    {
        "pod-template-hash",
        "controller-revision-hash",
        "pod-template-generation",
        "statefulset.kubernetes.io/pod-name",
        "apps.kubernetes.io/pod-index",
        "job-name",
        "controller-uid",
        "rollouts-pod-template-hash",  # Argo Rollouts
        # Change on every Helm upgrade, so they would split one workload in two across a release.
        "helm.sh/chart",
        "app.kubernetes.io/version",
    }
)
VOLATILE_LABEL_PREFIXES: tuple[str, ...] = ("batch.kubernetes.io/",)
FLIP_LABEL_KEYS: frozenset[str] = frozenset(
    {"role", "cnpg.io/instanceName", "statefulset.kubernetes.io/pod-name"}
)
"""Labels that operators move between the pods of one workload (at a failover, a leader
election), so a policy keyed on them stops selecting the pod it was written for."""


def is_flip_label(key: str) -> bool:
    """``role``, ``*/role``, ``*-role``, ``*instance-role*`` (any case), leader labels and the
    per-instance names of StatefulSet and CloudNativePG pods."""
    lowered = key.lower()
    return (
        key in FLIP_LABEL_KEYS
        or lowered.endswith(("/role", "-role", "instancerole"))
        or "instance-role" in lowered
        or "leader" in lowered
    )


@dataclass(frozen=True, slots=True, order=True)
class Identity:
    """A workload (namespace + stable labels) or a non-pod address or entity."""

    kind: str
    """An :class:`~learner.model.EndpointKind` value."""
    namespace: str = ""
    labels: Labels = ()
    address: str = ""
    """IP address of a non-pod endpoint; empty for pods."""

    @property
    def is_pod(self) -> bool:
        return self.kind == EndpointKind.POD

    @property
    def key(self) -> str:
        """A stable, readable string form, e.g. ``pod:shop/app=web`` or ``world:1.2.3.4``."""
        if self.is_pod:
            return f"pod:{self.namespace}/" + ",".join(f"{k}={v}" for k, v in self.labels)
        return f"{self.kind}:{self.address}" if self.address else self.kind

    def __str__(self) -> str:
        return self.key


class IdentityResolver:
    """Maps endpoints to identities, dropping volatile label keys (plus any the user adds)."""

    def __init__(self, ignore_labels: Iterable[str] = ()) -> None:
        extra = tuple(ignore_labels)
        self._ignored_keys = VOLATILE_LABEL_KEYS | {k for k in extra if not k.endswith("*")}
        self._ignored_prefixes = VOLATILE_LABEL_PREFIXES + tuple(
            k[:-1] for k in extra if k.endswith("*")
        )
        self._cache: dict[tuple[str, str, Labels, str], Identity] = {}

    def clear_cache(self) -> None:
        self._cache.clear()

    def is_volatile(self, key: str) -> bool:
        return (
            key in self._ignored_keys
            or key.startswith(self._ignored_prefixes)
            or is_flip_label(key)
        )

    def stable_labels(self, labels: Labels) -> Labels:
        return tuple((k, v) for k, v in labels if not self.is_volatile(k))

    def resolve(self, endpoint: Endpoint) -> Identity:
        if endpoint.kind == EndpointKind.POD:
            address = "" if endpoint.labels else endpoint.ip
        else:
            address = endpoint.ip or hidden_address(endpoint)
        cache_key = (endpoint.kind, endpoint.namespace, endpoint.labels, address)
        found = self._cache.get(cache_key)
        if found is None:
            labels = (
                self.stable_labels(endpoint.labels) if endpoint.kind == EndpointKind.POD else ()
            )
            found = Identity(str(endpoint.kind), endpoint.namespace, labels, address)
            if len(self._cache) < 200_000:
                self._cache[cache_key] = found
        return found


_REPLICASET_POD = re.compile(r"^(?P<base>.+)-[a-z0-9]{8,10}-[a-z0-9]{5}$")
_JOB_POD = re.compile(r"^(?P<base>.+)-\d{8,}-[a-z0-9]{5}$")
_STATEFUL_POD = re.compile(r"^(?P<base>.+)-\d+$")
_GENERATED_POD = re.compile(r"^(?P<base>.+)-[a-z0-9]{5}$")
NAME_LABEL_KEYS: tuple[str, ...] = (
    "app.kubernetes.io/name",
    "app",
    "k8s-app",
    "name",
    "app.kubernetes.io/component",
    "component",
)


def workload_name_from_pod(pod: str) -> str:
    """Best guess of the owning workload's name from a pod name (hash suffixes removed)."""
    for pattern in (_JOB_POD, _REPLICASET_POD, _STATEFUL_POD, _GENERATED_POD):
        match = pattern.match(pod)
        if match:
            return match.group("base")
    return pod


_DNS_UNSAFE = re.compile(r"[^a-z0-9-]+")


SHORTENED_HASH_CHARS = 6


def dns_label(text: str, limit: int = 63) -> str:
    """``text`` as a lowercase RFC 1123 label (for policy and file names).

    A name longer than ``limit`` is cut at a word boundary (never mid-word) and gets a short
    hash of the whole name, so two long names sharing a beginning stay apart.
    """
    cleaned = _DNS_UNSAFE.sub("-", text.lower()).strip("-")
    if len(cleaned) <= limit:
        return cleaned or "workload"
    digest = hashlib.sha256(cleaned.encode()).hexdigest()[:SHORTENED_HASH_CHARS]
    room = limit - len(digest) - 1
    head = cleaned[: room + 1]
    cut = head.rfind("-")
    # Cut after the last whole word; a single word longer than the room is cut where it must.
    head = head[:cut] if cut > 0 else cleaned[:room]
    return f"{head.rstrip('-')}-{digest}"
