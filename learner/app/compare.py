"""Current vs proposed policies: what changes for real traffic, for the inventory, and in text.

Three views, all from the same semantics engine:

- observed: each aggregated edge's verdict under both policy sets (newly blocked / allowed);
- inventory: every workload pair × port (container ports and observed ports) that becomes
  allowed or denied, observed or not;
- unused: current rules that no observed connection matched;

plus a unified diff per file.
"""

from __future__ import annotations

import difflib
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping

from learner.app.selfcheck import documents_from_files
from learner.model.config import CNI
from learner.model.diff_result import DiffResult, EdgeChange, PairChange, UnusedRule
from learner.model.edges import EdgeKey, EdgeStore
from learner.model.errors import UsageError
from learner.model.identity import Identity, IdentityResolver
from learner.model.inventory import Inventory
from learner.semantics import (
    PolicyDocument,
    PolicySet,
    RuleRef,
    TrafficBuilder,
    compile_policies,
)
from learner.semantics.cni import as_enforced_by
from outputs.yamlio import dump

MAX_PAIR_EVALUATIONS = 2_000_000
"""Bound on inventory pair × port questions; beyond it the pair view is truncated (and says so)."""
CLUSTER = "cluster"
SERVER_FIELDS = (
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
)


def observed_changes(
    current: PolicySet, proposed: PolicySet, store: EdgeStore, builder: TrafficBuilder
) -> tuple[DiffResult, set[RuleRef]]:
    result = DiffResult()
    used: set[RuleRef] = set()
    for edge, stats in store.sorted_edges():
        traffic = builder.for_edge(edge, stats)
        before = current.evaluate(traffic)
        after = proposed.evaluate(traffic)
        used.update(current.rule_hits(traffic))
        if before.allowed == after.allowed:
            if before.allowed:
                result.unchanged += 1
            else:
                result.blocked_both += 1
            continue
        change = EdgeChange(edge, stats.count, before.reason, after.reason)
        (result.newly_allowed if after.allowed else result.newly_blocked).append(change)
    return result, used


def unused_rules(current: PolicySet, used: set[RuleRef]) -> list[UnusedRule]:
    return [
        UnusedRule(rule.policy.key, str(rule.direction).lower(), rule.index, rule.key)
        for rule in current.rules
        if rule not in used
    ]


def inventory_ports(
    inventory: Inventory, store: EdgeStore, resolver: IdentityResolver
) -> dict[Identity, set[tuple[str, int]]]:
    """Ports worth asking about per destination workload: its container ports and observed ports."""
    ports: dict[Identity, set[tuple[str, int]]] = defaultdict(set)
    for workload in inventory.workloads:
        if workload.host_network:
            continue
        identity = Identity("pod", workload.namespace, resolver.stable_labels(workload.labels))
        ports[identity].update((p.protocol, p.port) for p in workload.ports)
    for edge in store.edges:
        if edge.destination.is_pod and edge.port:
            ports[edge.destination].add((edge.protocol, edge.port))
    return ports


def pair_changes(
    current: PolicySet,
    proposed: PolicySet,
    inventory: Inventory,
    store: EdgeStore,
    builder: TrafficBuilder,
    result: DiffResult,
) -> None:
    resolver = store.resolver
    ports = inventory_ports(inventory, store, resolver)
    sources = sorted(
        {
            Identity("pod", w.namespace, resolver.stable_labels(w.labels))
            for w in inventory.workloads
            if not w.host_network
        }
        | {i for i in store.workloads if i.labels}
    )
    budget = MAX_PAIR_EVALUATIONS
    for destination in sorted(ports):
        for protocol, port in sorted(ports[destination]):
            for source in sources:
                if source == destination:
                    continue
                budget -= 1
                if budget < 0:
                    return
                result.pairs_total += 1
                traffic = builder.for_edge(EdgeKey(source, destination, protocol, port))
                before = current.evaluate(traffic).allowed
                after = proposed.evaluate(traffic).allowed
                if before != after:
                    change = PairChange(source.key, destination.key, f"{port}/{protocol}", after)
                    (result.pairs_newly_allowed if after else result.pairs_newly_denied).append(
                        change
                    )


def unified(path: str, before: str, after: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"a/{path}",
            tofile=f"b/{path}",
        )
    )


def text_changes(
    current: Mapping[str, str], proposed: Mapping[str, str], result: DiffResult
) -> None:
    for path in sorted(set(current) | set(proposed)):
        before, after = current.get(path), proposed.get(path)
        if before == after:
            continue
        if before is None:
            result.added_files.append(path)
        elif after is None:
            result.removed_files.append(path)
        else:
            result.changed_files.append(path)
        result.text[path] = unified(path, before or "", after or "")


def read_tree(source: str) -> dict[str, str]:
    """Policy YAML files under a directory (paths relative to it), or one file by its name."""
    if os.path.isfile(source):
        with open(source, encoding="utf-8") as handle:
            return {os.path.basename(source): handle.read()}
    files = {}
    for root, dirs, names in os.walk(source):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if not name.endswith((".yaml", ".yml")) or name == "kustomization.yaml":
                continue
            path = os.path.join(root, name)
            with open(path, encoding="utf-8") as handle:
                files[os.path.relpath(path, source)] = handle.read()
    return files


def files_from_documents(documents: Iterable[PolicyDocument]) -> dict[str, str]:
    """Cluster objects as ``<namespace>/<name>.yaml`` text, without server-set fields."""
    files: dict[str, str] = {}
    for document in documents:
        body = dict(document.body)
        metadata = {
            k: v for k, v in dict(body.get("metadata") or {}).items() if k not in SERVER_FIELDS
        }
        body["metadata"] = metadata
        body.pop("status", None)
        namespace = metadata.get("namespace", "")
        files[f"{namespace}/{metadata.get('name', 'unnamed')}.yaml"] = dump(body)
    return files


def load_documents(
    source: str, kubeconfig: str | None, context: str | None
) -> tuple[list[PolicyDocument], dict[str, str]]:
    """Policy documents and their file texts from a directory, a file, or the cluster."""
    from learner.ingest.inventory_load import load_current_policies

    if source != CLUSTER and not os.path.exists(source):
        raise UsageError(f"{source}: no such file or directory")
    documents, errors = load_current_policies(source, kubeconfig=kubeconfig, context=context)
    if errors:
        raise errors[0]
    texts = files_from_documents(documents) if source == CLUSTER else read_tree(source)
    return documents, texts


def semantic_diff(
    current: list[PolicyDocument],
    proposed: list[PolicyDocument],
    store: EdgeStore,
    inventory: Inventory,
    *,
    pairs: bool = True,
    cni: CNI = CNI.GENERIC,
    cidr_match_nodes: bool = False,
) -> DiffResult:
    """Observed and pairwise changes, both sides read as ``cni`` enforces them."""
    current_set = as_enforced_by(compile_policies(current), cni, cidr_match_nodes=cidr_match_nodes)
    proposed_set = as_enforced_by(
        compile_policies(proposed), cni, cidr_match_nodes=cidr_match_nodes
    )
    builder = TrafficBuilder(inventory)
    result, used = observed_changes(current_set, proposed_set, store, builder)
    if store.edges:
        result.unused_rules = unused_rules(current_set, used)
    if pairs:
        pair_changes(current_set, proposed_set, inventory, store, builder, result)
    return result


def diff_sources(
    *,
    current: str,
    proposed_files: Mapping[str, str] | None = None,
    proposed: str | None = None,
    store: EdgeStore,
    inventory: Inventory,
    kubeconfig: str | None = None,
    context: str | None = None,
    cni: CNI = CNI.GENERIC,
    cidr_match_nodes: bool = False,
) -> DiffResult:
    """Compare current policies (directory, file or ``cluster``) with a proposal given as
    rendered files (from ``generate``) or as a directory (from ``diff --proposed``)."""
    current_documents, current_texts = load_documents(current, kubeconfig, context)
    if proposed_files is not None:
        proposed_documents = documents_from_files(proposed_files)
        proposed_texts = {p: t for p, t in proposed_files.items() if p != "kustomization.yaml"}
    elif proposed is not None:
        proposed_documents, proposed_texts = load_documents(proposed, kubeconfig, context)
    else:
        raise UsageError("nothing to compare: give the proposed policies")
    if not current_documents and not proposed_documents:
        # Two empty sides agree on everything: a gate must not pass on that.
        raise UsageError(
            f"no policy found in {current} nor in {proposed or 'the proposal'}: nothing to compare"
        )
    result = semantic_diff(
        current_documents,
        proposed_documents,
        store,
        inventory,
        cni=cni,
        cidr_match_nodes=cidr_match_nodes,
    )
    text_changes(current_texts, proposed_texts, result)
    result.current_label = current
    result.proposed_label = proposed or "proposal"
    return result
