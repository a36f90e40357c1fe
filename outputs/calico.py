"""Calico ``projectcalico.org/v3`` NetworkPolicy: one file per workload.

Layout: ``<namespace>/<name>.yaml`` per policy (plus ``<namespace>/default-deny.yaml`` with
``--default-deny``) and a ``kustomization.yaml`` listing them. :mod:`outputs.calico_staged`
writes the same policies as StagedNetworkPolicy. Every rule carries its evidence as a comment.

How the format-neutral model maps onto Calico (docs/readme/calico.md gives the reasons):

* subject → ``selector`` in Calico's selector language; pod peers → ``selector`` plus
  ``namespaceSelector`` (``projectcalico.org/name == 'ns'`` for a namespace by name, ``all()``
  for every namespace; no namespaceSelector = the policy's own namespace).
* external blocks → ``nets``/``notNets``; on egress, blocks that carry FQDN selectors become
  ``domains`` instead (Calico Enterprise/Cloud only). ``world`` → ``nets: [0.0.0.0/0, ::/0]``;
  host, remote-node and kube-apiserver → ``nets`` of the addresses observed for them (left out,
  with the rest of the rule, when none were); ``cluster`` → every pod (``namespaceSelector:
  all()``).
* A Calico rule has one protocol and one peer: a model rule becomes one rule per peer and
  protocol; ports go on ``destination.ports`` (ranges as ``'from:to'``, named ports by name).
* Every rule is ``action: Allow``; the policy is at ``order`` 1000 in ``RenderOptions.tier``
  (name prefixed ``<tier>.`` outside the ``default`` tier), ``types`` always explicit. The
  default deny selects ``all()`` both ways with no rules at order 10000, after the allows.
* HTTP (L7) rules are not rendered: Calico's ``http`` match needs Istio or application-layer
  policy and matches exact or prefix paths, not the learner's regular expressions.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from outputs.calico_selector_syntax import ALL, selector_expression
from outputs.networkpolicy import (
    HEADER,
    MANAGED_BY,
    evidence_annotations,
    evidence_comment,
    kustomization,
)
from outputs.yamlio import Commented, dump

FORMAT = "calico"
DIALECT = "calico"
API_VERSION = "projectcalico.org/v3"
KIND = "NetworkPolicy"
DEFAULT_TIER = "default"
ALLOW_ORDER = 1000
DEFAULT_DENY_ORDER = 10000
"""Higher orders come later: the default deny only decides what no allow matched."""
DEFAULT_DENY_NAME = "default-deny"
WORLD_NETS = ("0.0.0.0/0", "::/0")
PROTOCOLS: dict[str, str] = {
    "TCP": "TCP",
    "UDP": "UDP",
    "SCTP": "SCTP",
    "ICMPv4": "ICMP",
    "ICMPv6": "ICMPv6",
}
"""Model protocol → Calico ``protocol``."""
PORT_PROTOCOLS = frozenset({"TCP", "UDP", "SCTP"})
ENTERPRISE_DOMAINS_NOTE = "domains: Calico Enterprise/Cloud only; on Calico Open Source use nets: "


def policy_name(name: str, tier: str) -> str:
    """Calico names policies outside the default tier ``<tier>.<name>``."""
    return name if tier == DEFAULT_TIER else f"{tier}.{name}"


# --- peers -----------------------------------------------------------------------------------


def pod_peer_fields(peer: PodPeer) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if peer.pods is not None or peer.namespaces is None:
        fields["selector"] = selector_expression(peer.pods or LabelSelector())
    if peer.namespaces is not None:
        fields["namespaceSelector"] = selector_expression(peer.namespaces, namespace=True)
    return fields


def peer_fields(peer: Peer, egress: bool) -> tuple[dict[str, Any] | None, str]:
    """The EntityRule fields naming ``peer`` and a note for the comment; None: inexpressible."""
    if isinstance(peer, PodPeer):
        return pod_peer_fields(peer), ""
    if isinstance(peer, CIDRPeer):
        if egress and peer.fqdns:
            return {"domains": list(peer.fqdns)}, ENTERPRISE_DOMAINS_NOTE + peer.cidr
        fields: dict[str, Any] = {"nets": [peer.cidr]}
        if peer.excepts:
            fields["notNets"] = list(peer.excepts)
        note = ""
        if peer.names:
            shown = ", ".join(peer.names[:5]) + (" ..." if len(peer.names) > 5 else "")
            note = f"DNS: {shown} (addresses behind names change)"
        return fields, note
    if peer.entity is Entity.CLUSTER:
        return {"namespaceSelector": ALL}, "cluster: every pod"
    cidrs = peer.cidrs or (WORLD_NETS if peer.entity is Entity.WORLD else ())
    if not cidrs:
        return None, f"{peer.entity}: no addresses observed, cannot be expressed"
    return {"nets": list(cidrs)}, str(peer.entity)


# --- ports -----------------------------------------------------------------------------------


def _port_value(spec: PortSpec, port: int) -> int | str:
    if spec.name:
        return spec.name
    return f"{port}:{spec.end_port}" if spec.end_port else port


def port_groups(ports: Sequence[PortSpec]) -> list[tuple[str | None, list[int | str]]]:
    """(Calico protocol, ports) per protocol, in first-seen order; ``[]`` ports: every port.

    No port specs at all: one group without protocol (every protocol, every port).
    """
    if not ports:
        return [(None, [])]
    groups: dict[str, list[int | str] | None] = {}
    for spec in ports:
        protocol = PROTOCOLS.get(spec.protocol, spec.protocol)
        current = groups.setdefault(protocol, [])
        if spec.protocol not in PORT_PROTOCOLS or (spec.port is None and not spec.name):
            groups[protocol] = None  # every port of the protocol
        elif current is not None:
            value = _port_value(spec, spec.port or 0)
            if value not in current:
                current.append(value)
    return [(protocol, values or []) for protocol, values in groups.items()]


def icmp_types(ports: Sequence[PortSpec]) -> dict[str, list[int | None]]:
    """Calico ICMP protocol → the observed types, one rule each (``icmp`` takes one type);
    absent when any type of that protocol is allowed."""
    types: dict[str, list[int | None]] = {}
    every: set[str] = set()
    for spec in ports:
        if spec.protocol in PORT_PROTOCOLS:
            continue
        protocol = PROTOCOLS.get(spec.protocol, spec.protocol)
        if spec.port is None:
            every.add(protocol)
        elif spec.port not in types.setdefault(protocol, []):
            types[protocol].append(spec.port)
    return {protocol: found for protocol, found in types.items() if protocol not in every}


# --- rules -----------------------------------------------------------------------------------


def _comment(rule: Rule, notes: Sequence[str], options: RenderOptions) -> str:
    head = evidence_comment(rule) if options.evidence else rule.purpose
    return "\n".join(line for line in (head, *notes) if line)


def calico_rules(rule: Rule, *, egress: bool, options: RenderOptions) -> list[Any]:
    """The Calico rules for one model rule: one per peer, protocol and ICMP type."""
    peers: list[dict[str, Any]] = []
    notes: list[str] = []
    for peer in rule.peers:
        fields, note = peer_fields(peer, egress)
        if note and note not in notes:
            notes.append(note)
        if fields is not None and fields not in peers:
            peers.append(fields)
    if rule.peers and not peers:
        return []
    out: list[Any] = []
    types = icmp_types(rule.ports)
    for fields in peers or [{}]:
        for protocol, ports in port_groups(rule.ports):
            for icmp_type in types.get(protocol or "") or (None,):
                calico_rule: dict[str, Any] = {"action": "Allow"}
                if protocol:
                    calico_rule["protocol"] = protocol
                if icmp_type is not None:
                    calico_rule["icmp"] = {"type": icmp_type}
                destination = dict(fields) if egress else {}
                if ports:
                    destination["ports"] = ports
                if not egress and fields:
                    calico_rule["source"] = fields
                if destination:
                    calico_rule["destination"] = destination
                out.append(calico_rule)
    comment = _comment(rule, notes, options)
    if comment:
        out[0] = Commented(out[0], comment)
    for index in range(1, len(out)):
        out[index] = Commented(out[index], "(same learned rule: one peer and protocol per rule)")
    return out


def _direction(rules: tuple[Rule, ...], *, egress: bool, options: RenderOptions) -> list[Any]:
    out: list[Any] = []
    for rule in sorted(rules, key=lambda r: r.sort_key):
        out.extend(calico_rules(rule, egress=egress, options=options))
    return out


# --- documents -------------------------------------------------------------------------------


def _document(kind: str, metadata: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    if kind.startswith("Staged"):
        spec = {"stagedAction": "Set", **spec}
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


def policy_document(
    policy: ProposedPolicy, options: RenderOptions, kind: str = KIND
) -> dict[str, Any]:
    """The Calico policy (``kind`` NetworkPolicy or StagedNetworkPolicy) for one proposal."""
    spec: dict[str, Any] = {
        "tier": options.tier,
        "order": ALLOW_ORDER,
        "selector": selector_expression(policy.subject),
        "types": list(policy.policy_types),
    }
    if policy.ingress is not None:
        spec["ingress"] = _direction(policy.ingress, egress=False, options=options)
    if policy.egress is not None:
        spec["egress"] = _direction(policy.egress, egress=True, options=options)
    metadata = {
        "name": policy_name(policy.name, options.tier),
        "namespace": policy.namespace,
        "labels": dict(MANAGED_BY),
        "annotations": evidence_annotations(policy, options),
    }
    return _document(kind, metadata, spec)


def default_deny_document(
    namespace: str, options: RenderOptions, kind: str = KIND
) -> dict[str, Any]:
    """Every endpoint of ``namespace`` isolated both ways, after every allow."""
    metadata = {
        "name": policy_name(DEFAULT_DENY_NAME, options.tier),
        "namespace": namespace,
        "labels": dict(MANAGED_BY),
    }
    spec = {
        "tier": options.tier,
        "order": DEFAULT_DENY_ORDER,
        "selector": ALL,
        "types": ["Ingress", "Egress"],
    }
    return _document(kind, metadata, spec)


def render_kind(proposal: Proposal, options: RenderOptions, kind: str) -> dict[str, str]:
    files: dict[str, str] = {}
    for policy in proposal.policies:
        path = f"{policy.namespace}/{policy.name}.yaml"
        files[path] = dump(policy_document(policy, options, kind), header=HEADER)
    if options.default_deny:
        for namespace in proposal.namespaces:
            path = f"{namespace}/{DEFAULT_DENY_NAME}.yaml"
            files[path] = dump(default_deny_document(namespace, options, kind), header=HEADER)
    files["kustomization.yaml"] = kustomization(list(files))
    return dict(sorted(files.items()))


def render(proposal: Proposal, options: RenderOptions) -> dict[str, str]:
    return render_kind(proposal, options, KIND)
