"""Kubernetes ``networking.k8s.io/v1`` NetworkPolicy: one file per workload.

Layout: ``<namespace>/<name>.yaml`` per policy (plus ``<namespace>/default-deny.yaml`` with
``--default-deny``) and a ``kustomization.yaml`` listing them. Each rule carries its evidence
as a comment; the policy carries a summary as annotations.

NetworkPolicy cannot name entities or DNS names, so: the kube-apiserver, remote nodes and hosts
become ``ipBlock``s of the addresses observed for them; external blocks with DNS names get the
names in a comment; ICMP is undefined for NetworkPolicy and is left out (with a comment).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from learner.model.config import RenderOptions
from learner.model.policy import (
    CIDRPeer,
    Entity,
    LabelSelector,
    Peer,
    PodPeer,
    PortSpec,
    Proposal,
    ProposedPolicy,
    Rule,
)
from outputs.yamlio import Commented, dump

FORMAT = "networkpolicy"
DIALECT = "networkpolicy"
"""The policy language of the files (what the semantics engine and the report judge)."""
API_VERSION = "networking.k8s.io/v1"
MANAGED_BY = {"app.kubernetes.io/managed-by": "netpol-learner"}
ANNOTATION_PREFIX = "netpol-learner.io/"
EVIDENCE_ANNOTATIONS = tuple(
    ANNOTATION_PREFIX + name for name in ("observed-flows", "first-seen", "last-seen")
)
"""Annotations that move with every flow seen, as the rule comments do."""
PORT_PROTOCOLS = frozenset({"TCP", "UDP", "SCTP"})
WORLD_CIDRS = ("0.0.0.0/0", "::/0")


def timestamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def selector_dict(selector: LabelSelector) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if selector.match_labels:
        out["matchLabels"] = dict(selector.match_labels)
    if selector.match_expressions:
        expressions = []
        for requirement in selector.match_expressions:
            item: dict[str, Any] = {"key": requirement.key, "operator": str(requirement.operator)}
            if requirement.values:
                item["values"] = list(requirement.values)
            expressions.append(item)
        out["matchExpressions"] = expressions
    return out


def peer_dicts(peer: Peer) -> list[Any]:
    """NetworkPolicy peers for one model peer (an entity may need several ipBlocks)."""
    if isinstance(peer, PodPeer):
        out: dict[str, Any] = {}
        if peer.namespaces is not None:
            out["namespaceSelector"] = selector_dict(peer.namespaces)
        if peer.pods is not None:
            out["podSelector"] = selector_dict(peer.pods)
        if not out:
            out["podSelector"] = {}
        return [out]
    if isinstance(peer, CIDRPeer):
        block: dict[str, Any] = {"cidr": peer.cidr}
        if peer.excepts:
            block["except"] = list(peer.excepts)
        item: Any = {"ipBlock": block}
        if peer.names:
            shown = ", ".join(peer.names[:5]) + (" ..." if len(peer.names) > 5 else "")
            item = Commented(item, f"DNS: {shown} (addresses behind names change)")
        return [item]
    cidrs = peer.cidrs or (WORLD_CIDRS if peer.entity in (Entity.WORLD,) else ())
    return [Commented({"ipBlock": {"cidr": cidr}}, str(peer.entity)) for cidr in cidrs]


def port_dict(spec: PortSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"protocol": spec.protocol}
    if spec.name:
        out["port"] = spec.name
    elif spec.port is not None:
        out["port"] = spec.port
        if spec.end_port:
            out["endPort"] = spec.end_port
    return out


def evidence_comment(rule: Rule) -> str:
    lines = []
    if rule.purpose:
        lines.append(rule.purpose)
    ev = rule.evidence
    if ev.flows:
        flows = f"{ev.flows} flow" + ("s" if ev.flows != 1 else "")
        edges = f"{len(rule.edges)} edge" + ("s" if len(rule.edges) != 1 else "")
        lines.append(
            f"observed {flows} over {edges}, {timestamp(ev.first_seen)} .. {timestamp(ev.last_seen)}"
        )
    if rule.admits:
        shown = ", ".join(rule.admits[:5]) + (" ..." if len(rule.admits) > 5 else "")
        lines.append(f"also admits (never observed): {shown}")
    return "\n".join(lines)


def rule_dict(rule: Rule, peer_key: str) -> Any:
    """One ingress/egress rule, or None when nothing of it is expressible."""
    ports = [port_dict(p) for p in rule.ports if p.protocol in PORT_PROTOCOLS]
    dropped = [p for p in rule.ports if p.protocol not in PORT_PROTOCOLS]
    if rule.ports and not ports:
        return None  # ICMP only: NetworkPolicy cannot express it
    out: dict[str, Any] = {}
    if rule.peers:
        peers = [d for p in rule.peers for d in peer_dicts(p)]
        if not peers:
            return None
        out[peer_key] = peers
    if ports:
        out["ports"] = ports
    comment = evidence_comment(rule)
    if dropped:
        comment += ("\n" if comment else "") + "ICMP left out: undefined in NetworkPolicy"
    return Commented(out, comment) if comment else out


def evidence_annotations(policy: ProposedPolicy, options: RenderOptions) -> dict[str, str]:
    """The workload a policy is for and, with evidence on, the flows behind all its rules."""
    annotations = {ANNOTATION_PREFIX + "workload": policy.workload}
    seen = [
        r.evidence for r in (*(policy.ingress or ()), *(policy.egress or ())) if r.evidence.flows
    ]
    if seen and options.evidence:
        flows, first_seen, last_seen = EVIDENCE_ANNOTATIONS
        annotations[flows] = str(sum(e.flows for e in seen))
        annotations[first_seen] = timestamp(min(e.first_seen for e in seen))
        annotations[last_seen] = timestamp(max(e.last_seen for e in seen))
    return annotations


def policy_document(policy: ProposedPolicy, options: RenderOptions) -> dict[str, Any]:
    annotations = evidence_annotations(policy, options)
    spec: dict[str, Any] = {
        "podSelector": selector_dict(policy.subject),
        "policyTypes": list(policy.policy_types),
    }
    for direction, key, peer_key in (
        (policy.ingress, "ingress", "from"),
        (policy.egress, "egress", "to"),
    ):
        if direction is None:
            continue
        rendered = [rule_dict(r, peer_key) for r in direction]
        spec[key] = [r for r in rendered if r is not None]
    return {
        "apiVersion": API_VERSION,
        "kind": "NetworkPolicy",
        "metadata": {
            "name": policy.name,
            "namespace": policy.namespace,
            "labels": dict(MANAGED_BY),
            "annotations": annotations,
        },
        "spec": spec,
    }


def default_deny_document(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny", "namespace": namespace, "labels": dict(MANAGED_BY)},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def kustomization(paths: list[str]) -> str:
    doc: Mapping[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted(paths),
    }
    return dump(doc, header="Generated by netpol-learner. Review before applying.")


HEADER = (
    "Generated by netpol-learner from observed flows; review before applying.\n"
    "Each rule's comment gives the evidence it stands for."
)


def render(proposal: Proposal, options: RenderOptions) -> dict[str, str]:
    files: dict[str, str] = {}
    for policy in proposal.policies:
        path = f"{policy.namespace}/{policy.name}.yaml"
        files[path] = dump(policy_document(policy, options), header=HEADER)
    if options.default_deny:
        for namespace in proposal.namespaces:
            path = f"{namespace}/default-deny.yaml"
            files[path] = dump(default_deny_document(namespace), header=HEADER)
    files["kustomization.yaml"] = kustomization(list(files))
    return dict(sorted(files.items()))
