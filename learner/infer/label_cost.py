"""What a label costs in a selector: names are cheap, shared and release-bound labels dear.

Costs favour the keys people use to name workloads and penalise keys that describe many
unrelated workloads (``team``, ``managed-by``) or change on release (``version``, ``chart``,
hash-like values). The set cover (:mod:`learner.infer.selectors`) and the decision tree
(:mod:`learner.infer.tree`) both rank candidates by it.
"""

from __future__ import annotations

import functools
import re

NAME_KEYS: tuple[str, ...] = ("app.kubernetes.io/name", "app", "k8s-app", "name")

INSTANCE_KEYS: tuple[str, ...] = (
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "component",
    "release",
)

GROUP_KEYS: tuple[str, ...] = ("app.kubernetes.io/part-of", "tier", "role")

GENERIC_KEYS: frozenset[str] = frozenset(
    {
        "app.kubernetes.io/managed-by",
        "heritage",
        "env",
        "environment",
        "stage",
        "team",
        "owner",
        "cost-center",
        "region",
        "zone",
        "tenant",
    }
)
"""Keys shared by many unrelated workloads: grouping by them admits strangers later."""
FRAGILE_KEY = re.compile(
    r"(^|[./-])(version|chart|revision|commit|sha|hash|build|date|timestamp|instanceName)$"
)
FRAGILE_VALUE = re.compile(r"^(v?\d+([.-]\d+)+.*|[0-9a-f]{7,40}|\d{8,})$")
"""Version numbers, commit hashes and timestamps: values a release changes."""
KEY_COST_NAME = 0.5
KEY_COST_INSTANCE = 0.7
KEY_COST_GROUP = 1.0
KEY_COST_OTHER = 1.0
KEY_COST_GENERIC = 3.0
KEY_COST_FRAGILE = 6.0


@functools.lru_cache(maxsize=65536)
def key_cost(key: str, value: str) -> float:
    """How much using ``key=value`` in a selector costs (lower is preferred)."""
    if FRAGILE_KEY.search(key) or FRAGILE_VALUE.match(value):
        return KEY_COST_FRAGILE
    if key in NAME_KEYS:
        return KEY_COST_NAME + 0.01 * NAME_KEYS.index(key)
    if key in INSTANCE_KEYS:
        return KEY_COST_INSTANCE + 0.01 * INSTANCE_KEYS.index(key)
    if key in GROUP_KEYS:
        return KEY_COST_GROUP + 0.01 * GROUP_KEYS.index(key)
    if key in GENERIC_KEYS or key.startswith("topology.kubernetes.io/"):
        return KEY_COST_GENERIC
    return KEY_COST_OTHER + 0.02
