"""One workload per owning controller: pods of one Deployment, StatefulSet, DaemonSet, Job or
CronJob that the flows show with different label sets become one identity.

A pod's owner comes from the inventory: the pod's own owner references (ReplicaSet ->
Deployment, Job -> CronJob), else the controller in the inventory whose name the pod's name
derives from and whose pod-template labels the pod carries. The owner's identity keeps the
labels that every one of its observed pods shares (volatile and flip labels are already gone),
restricted to its pod template's when the template is known, so a policy selects every pod of
the owner: both ReplicaSets of a rollout, every replica of a StatefulSet.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from learner.model.edges import EdgeStore, WorkloadInfo
from learner.model.flow import Labels
from learner.model.identity import Identity, workload_name_from_pod
from learner.model.inventory import Inventory, Workload

OWNER_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"})


@dataclass(slots=True)
class OwnerGrouping:
    """What :func:`group_by_owner` did, for the report."""

    merged: dict[str, int] = field(default_factory=dict)
    """``namespace/Kind/name`` -> how many observed label sets became that one workload."""
    kept_apart: list[str] = field(default_factory=list)
    """Owners whose pods share no label, or whose shared labels are another workload's."""


def group_by_owner(store: EdgeStore, inventory: Inventory) -> OwnerGrouping:
    """Re-key the store's pod identities onto one identity per owning controller."""
    result = OwnerGrouping()
    resolver = store.resolver
    pods = {(w.namespace, w.name): w for w in inventory.workloads if w.kind == "Pod"}
    templates = {(w.namespace, w.name): w for w in inventory.workloads if w.kind in OWNER_KINDS}
    groups: dict[tuple[str, str], list[Identity]] = {}
    for identity, info in store.workloads.items():
        if not identity.labels:
            continue
        owners = {
            _owner_of(identity, pod, pods, templates, resolver.stable_labels) for pod in info.pods
        }
        owners.discard("")
        if len(owners) == 1:
            groups.setdefault((identity.namespace, owners.pop()), []).append(identity)
    moves: dict[Identity, Identity] = {}
    infos: dict[Identity, WorkloadInfo] = {}
    for (namespace, owner), members in sorted(groups.items()):
        kind, _, name = owner.partition("/")
        shared = set.intersection(*(set(m.labels) for m in members))
        template = templates.get((namespace, name))
        if template is not None and template.kind == kind:
            restricted = shared & set(resolver.stable_labels(template.labels))
            shared = restricted or shared
        target = Identity(members[0].kind, namespace, tuple(sorted(shared)))
        # A selector that would also pick another workload's pods would widen its policy.
        clash = any(
            other.namespace == namespace and other not in members and shared <= set(other.labels)
            for other in store.workloads
            if other.is_pod
        )
        if not shared or clash or target in infos:
            result.kept_apart.append(f"{namespace}/{owner}")
            continue
        info = WorkloadInfo()
        for member in members:
            old = store.workloads[member]
            info.pods |= old.pods
            info.ips |= old.ips
            info.service_accounts |= old.service_accounts
            info.full_labels = info.full_labels or old.full_labels
            for pod in old.pods:
                info.pod_names[pod] = (name, kind)
            if member != target:
                moves[member] = target
        info.names = Counter({name: max(len(info.pods), 1)})
        info.kinds = Counter({kind: max(len(info.pods), 1)})
        infos[target] = info
        result.merged[f"{namespace}/{owner}"] = len(members)
    store.rekey(moves)
    for identity in moves:
        del store.workloads[identity]
    store.workloads.update(infos)
    return result


def _owner_of(
    identity: Identity,
    pod: str,
    pods: dict[tuple[str, str], Workload],
    templates: dict[tuple[str, str], Workload],
    stable: Callable[[Labels], Labels],
) -> str:
    listed = pods.get((identity.namespace, pod))
    if listed is not None:
        return listed.owner
    template = templates.get((identity.namespace, workload_name_from_pod(pod)))
    if template is None:
        return ""
    if set(stable(template.labels)) <= set(identity.labels):
        return f"{template.kind}/{template.name}"
    return ""


OWNERS_UNKNOWN = (
    "owners unknown (no --inventory): workloads are told apart by their labels only, so "
    "pods of one controller that show different labels get separate policies"
)


def owner_warnings(grouping: OwnerGrouping | None) -> tuple[str, ...]:
    """One report line when owners were unknown, one per owner kept apart."""
    if grouping is None:
        return (OWNERS_UNKNOWN,)
    return tuple(
        f"{owner}: its pods share no label that another workload lacks; kept as one policy "
        "per label set"
        for owner in grouping.kept_apart
    )
