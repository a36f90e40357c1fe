"""``generate`` proves its own output: every observed, included edge must be allowed by the
rendered policies (parsed back from the YAML bytes it is about to write) under the semantics
engine. A failure is a bug in the learner or a renderer, so it stops the run loudly.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import yaml

from learner.aggregate import EdgeKey, EdgeStore
from learner.errors import SelfCheckError
from learner.inventory import Inventory
from learner.model import Protocol
from learner.pipeline import LearnConfig
from learner.policy import Proposal
from learner.semantics import PolicyDocument, PolicySet, compile_policies, traffic_for_edge

log = logging.getLogger(__name__)
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

PORTLESS_UNDEFINED_FORMATS = frozenset({"networkpolicy"})
"""Dialects in which ICMP is undefined, so ICMP edges are not checked."""


def documents_from_files(files: Mapping[str, str]) -> list[PolicyDocument]:
    documents = []
    for path, text in sorted(files.items()):
        if not path.endswith((".yaml", ".yml")) or path.endswith("kustomization.yaml"):
            continue
        # The C parser: the pure-Python one took most of the self-check on large rules.
        for index, document in enumerate(yaml.load_all(text, Loader=_Loader)):
            if isinstance(document, dict):
                documents.append(PolicyDocument(path, index, document))
    return documents


def checked_edges(store: EdgeStore, proposal: Proposal, config: LearnConfig) -> list[EdgeKey]:
    pending = {p.edge for p in proposal.pending}
    out = []
    for edge in store.edges:
        if edge in pending:
            continue
        if config.format in PORTLESS_UNDEFINED_FORMATS and not Protocol(edge.protocol).has_ports:
            continue
        out.append(edge)
    return sorted(out)


def denied_edges(
    policies: PolicySet, edges: list[EdgeKey], store: EdgeStore, inventory: Inventory
) -> list[str]:
    problems = []
    for edge in edges:
        decision = policies.evaluate(traffic_for_edge(edge, inventory, store.edges.get(edge)))
        if not decision.allowed:
            problems.append(f"{edge.key}: {decision.reason}")
    return problems


def self_check(
    proposal: Proposal,
    files: Mapping[str, str],
    store: EdgeStore,
    inventory: Inventory,
    config: LearnConfig,
) -> None:
    policies = compile_policies(documents_from_files(files))
    problems = denied_edges(policies, checked_edges(store, proposal, config), store, inventory)
    if problems:
        shown = "; ".join(problems[:3])
        raise SelfCheckError(
            f"the proposal would deny {len(problems)} observed connections it was learned from "
            f"(a bug: please report it): {shown}"
        )
