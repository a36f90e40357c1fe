"""CiliumNetworkPolicy (``cilium.io/v2``): one file per workload, FQDN egress, optional L7.

Layout: ``<namespace>/<name>.yaml`` per policy and a ``kustomization.yaml`` listing them. With
``--default-deny`` also ``<namespace>/default-deny.yaml`` per namespace and, for DNS,
``_clusterwide/allow-cluster-dns.yaml`` (a CiliumClusterwideNetworkPolicy). Every rule carries
its evidence as a comment.

How the format-neutral model maps onto Cilium (see docs/readme/cilium.md for the reasons):

* subject → ``endpointSelector``; pod peers → ``fromEndpoints``/``toEndpoints``. Another
  namespace is selected with ``k8s:io.kubernetes.pod.namespace`` (a namespace selected by
  ``kubernetes.io/metadata.name``) or ``k8s:io.cilium.k8s.namespace.labels.<key>`` (any other
  namespace label); an empty namespace selector (every namespace) becomes ``Exists`` on the
  namespace key, because a selector without it means the policy's own namespace.
* entities → ``fromEntities``/``toEntities``; a rule without peers → the entity ``all``.
* external blocks → ``fromCIDRSet``/``toCIDRSet`` with ``except``; on egress, blocks that carry
  FQDN selectors become ``toFQDNs`` instead, and the workload gets the DNS rule Cilium needs to
  see the lookups (``rules.dns``, limited to the names looked up when they are known). A
  ``world`` entity whose observed addresses the FQDNs all cover is left out.
* Cilium rejects a rule mixing peer kinds (endpoints, entities, CIDRs, FQDNs), and ``icmps``
  with ``toPorts``: one model rule becomes one Cilium rule per peer kind (and per ICMP).
* ``--l7``: HTTP rules go on the server's ingress only (one proxy hop, enforced where the API
  lives); HTTP rules of egress rules are not rendered.
* A direction that is isolated but allows nothing gets one rule selecting the entity ``none``
  (which never exists): an empty ``ingress: []`` would not isolate, and what an empty rule
  ``{}`` means has changed between Cilium releases.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from learner.model.config import RenderOptions
from learner.model.edges import EdgeKey
from learner.model.flow import EndpointKind
from learner.model.fqdn import is_pattern, selector_matches
from learner.model.policy import (
    NAMESPACE_NAME_LABEL,
    CIDRPeer,
    Entity,
    EntityPeer,
    LabelSelector,
    Operator,
    Peer,
    PodPeer,
    PortSpec,
    Proposal,
    ProposedPolicy,
    Requirement,
    Rule,
    namespace_name_selector,
)
from outputs.networkpolicy import (
    HEADER,
    MANAGED_BY,
    evidence_annotations,
    evidence_comment,
    kustomization,
)
from outputs.yamlio import Commented, dump

FORMAT = "cilium"
DIALECT = "cilium"
API_VERSION = "cilium.io/v2"
POLICY_KIND = "CiliumNetworkPolicy"
CLUSTERWIDE_KIND = "CiliumClusterwideNetworkPolicy"
POD_NAMESPACE_KEY = "k8s:io.kubernetes.pod.namespace"
NAMESPACE_LABELS_PREFIX = "k8s:io.cilium.k8s.namespace.labels."
CLUSTERWIDE_DIR = "_clusterwide"
"""Not a valid namespace name, so it cannot clash with a namespace directory."""
DNS_POLICY_NAME = "netpol-learner-allow-cluster-dns"
DEFAULT_DENY_NAME = "default-deny"
NO_PEER = "none"
"""Cilium's entity that can be selected but never exists."""
ANY_PEER = "all"
DNS_PORT = 53
DNS_NAME_LIMIT = 100
"""More looked-up names than this and the DNS rule admits every lookup (``*``)."""
KUBE_DNS = PodPeer(
    pods=LabelSelector(match_labels=(("k8s-app", "kube-dns"),)),
    namespaces=namespace_name_selector("kube-system"),
)
"""The usual cluster DNS, assumed when a proposal detected none."""
PORT_PROTOCOLS = frozenset({"TCP", "UDP", "SCTP"})
MAX_PORTS_PER_RULE = 40
ICMP_ECHO_REQUEST = {"ICMPv4": ("IPv4", 8), "ICMPv6": ("IPv6", 128)}
"""ICMP family and the type assumed when a flow did not record one (ping)."""


@dataclass(frozen=True, slots=True)
class _Direction:
    key: str
    endpoints: str
    entities: str
    cidr_set: str


INGRESS = _Direction("ingress", "fromEndpoints", "fromEntities", "fromCIDRSet")
EGRESS = _Direction("egress", "toEndpoints", "toEntities", "toCIDRSet")
FQDNS = "toFQDNs"


# --- selectors ---------------------------------------------------------------------------

_IDENTITY_FILTERED_KEYS = frozenset(
    {"pod-template-generation", "pod-template-hash", "controller-revision-hash",
     "controller-uid", "etcd_node"}
)  # fmt: skip


def in_cilium_identity(key: str) -> bool:
    """Whether Cilium's default label filter keeps pod label ``key`` in the identity.

    A selector on a key Cilium drops (``kubernetes.io`` keys other than ``app.kubernetes.io``,
    ``k8s.io`` keys, template hashes) can never match, so such keys are left out of selectors.
    """
    if key.startswith("app.kubernetes.io"):
        return True
    if key.startswith(("io.kubernetes", "k8s.io", "annotation.")) or "kubernetes.io" in key:
        return False
    return key not in _IDENTITY_FILTERED_KEYS


def _selector_dict(labels: Iterable[tuple[str, str]], expressions: Iterable[Requirement]) -> Any:
    out: dict[str, Any] = {}
    match_labels = dict(sorted(labels))
    if match_labels:
        out["matchLabels"] = match_labels
    rendered = []
    for requirement in sorted(expressions):
        item: dict[str, Any] = {"key": requirement.key, "operator": str(requirement.operator)}
        if requirement.values:
            item["values"] = list(requirement.values)
        rendered.append(item)
    if rendered:
        out["matchExpressions"] = rendered
    return out


def _identity_selector(selector: LabelSelector) -> LabelSelector:
    return LabelSelector(
        match_labels=tuple((k, v) for k, v in selector.match_labels if in_cilium_identity(k)),
        match_expressions=tuple(r for r in selector.match_expressions if in_cilium_identity(r.key)),
    )


def _namespace_key(key: str) -> str:
    if key == NAMESPACE_NAME_LABEL:
        return POD_NAMESPACE_KEY
    return NAMESPACE_LABELS_PREFIX + key


def endpoint_selector(peer: PodPeer, policy_namespace: str) -> dict[str, Any]:
    """The Cilium endpoint selector for a pod peer of a policy in ``policy_namespace``.

    ``policy_namespace`` is empty for a clusterwide policy, where a selector without a
    namespace key matches pods of every namespace.
    """
    pods = _identity_selector(peer.pods) if peer.pods is not None else LabelSelector()
    labels = list(pods.match_labels)
    expressions = list(pods.match_expressions)
    namespaces = peer.namespaces
    if namespaces is not None and namespaces.is_empty:
        expressions.append(Requirement(POD_NAMESPACE_KEY, Operator.EXISTS))
    elif namespaces is not None and namespaces != namespace_name_selector(policy_namespace):
        labels.extend((_namespace_key(k), v) for k, v in namespaces.match_labels)
        expressions.extend(
            Requirement(_namespace_key(r.key), r.operator, r.values)
            for r in namespaces.match_expressions
        )
    return dict(_selector_dict(labels, expressions))


# --- peers -------------------------------------------------------------------------------


def _fqdn_entry(selector: str) -> dict[str, str]:
    return {"matchPattern": selector} if is_pattern(selector) else {"matchName": selector}


def _cidr_entry(peer: CIDRPeer) -> dict[str, Any]:
    entry: dict[str, Any] = {"cidr": peer.cidr}
    if peer.excepts:
        entry["except"] = list(peer.excepts)
    return entry


def _networks(cidrs: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out = []
    for cidr in cidrs:
        try:
            out.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            continue
    return out


def _port_admits(ports: Sequence[PortSpec], protocol: str, port: int) -> bool:
    if not ports:
        return True
    return any(
        spec.protocol == protocol
        and not spec.name
        and (spec.port is None or spec.port <= port <= (spec.end_port or spec.port))
        for spec in ports
    )


def _world_covered(edges: Sequence[EdgeKey], coverage: Sequence[_FQDNBlock]) -> bool:
    """Whether every world connection observed for a rule goes to an address and port that a
    ``toFQDNs`` rule of the policy covers."""
    world = [e for e in edges if e.destination.kind == EndpointKind.WORLD]
    if not world or not coverage:
        return False
    for edge in world:
        try:
            ip = ipaddress.ip_address(edge.destination.address)
        except ValueError:
            return False
        if not any(
            ip in block.network and _port_admits(block.ports, edge.protocol, edge.port)
            for block in coverage
        ):
            return False
    return True


@dataclass(frozen=True, slots=True)
class _FQDNBlock:
    """An egress block rendered as ``toFQDNs``, with the ports of its rule."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    ports: tuple[PortSpec, ...]


@dataclass(frozen=True, slots=True)
class _Scope:
    """What rendering one policy's rules needs to know beyond the rule itself."""

    namespace: str
    options: RenderOptions
    fqdn_blocks: tuple[_FQDNBlock, ...] = ()
    """The egress blocks rendered as ``toFQDNs`` (they may cover ``world``)."""
    fqdns: tuple[str, ...] = ()
    """Every FQDN selector of the policy (the DNS rule must let them resolve)."""


def _peer_groups(
    rule: Rule, direction: _Direction, scope: _Scope
) -> tuple[list[tuple[str, list[Any]]], list[str]]:
    """Cilium peer fields for ``rule``, one (field, items) per peer kind, and notes."""
    endpoints: list[Any] = []
    entities: list[str] = []
    cidrs: list[Any] = []
    fqdns: list[str] = []
    notes: list[str] = []
    for peer in rule.peers:
        if isinstance(peer, PodPeer):
            selector = endpoint_selector(peer, scope.namespace)
            if selector not in endpoints:
                endpoints.append(selector)
        elif isinstance(peer, EntityPeer):
            if (
                direction is EGRESS
                and peer.entity is Entity.WORLD
                and _world_covered(rule.edges, scope.fqdn_blocks)
            ):
                notes.append("world left out: every observed address is covered by toFQDNs")
                continue
            if str(peer.entity) not in entities:
                entities.append(str(peer.entity))
        elif direction is EGRESS and peer.fqdns:
            fqdns.extend(s for s in peer.fqdns if s not in fqdns)
        else:
            entry = _cidr_entry(peer)
            if entry not in cidrs:
                cidrs.append(entry)
    if not rule.peers:
        entities.append(ANY_PEER)
    groups: list[tuple[str, list[Any]]] = []
    if endpoints:
        groups.append((direction.endpoints, endpoints))
    if entities:
        groups.append((direction.entities, sorted(entities)))
    if cidrs:
        groups.append((direction.cidr_set, cidrs))
    if fqdns:
        groups.append((FQDNS, [_fqdn_entry(s) for s in sorted(fqdns)]))
        patterns = [s for s in sorted(fqdns) if is_pattern(s)]
        if patterns:
            notes.append(f"{', '.join(patterns)}: admits every name matching, observed or not")
    return groups, notes


# --- ports -------------------------------------------------------------------------------


def _port_protocol(spec: PortSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if spec.name:
        out["port"] = spec.name
    else:
        # Port 0 is Cilium's "every port of this protocol".
        out["port"] = str(spec.port or 0)
        if spec.end_port and spec.port:
            out["endPort"] = spec.end_port
    out["protocol"] = spec.protocol
    return out


def _http_rules(rule: Rule) -> list[dict[str, str]]:
    out = []
    for http in sorted(rule.http):
        item = {}
        if http.method:
            item["method"] = http.method
        if http.path:
            item["path"] = http.path
        out.append(item)
    return out


@dataclass(frozen=True, slots=True)
class _Ports:
    to_ports: list[dict[str, Any]]
    icmps: list[dict[str, Any]]
    notes: list[str]


def _port_order(spec: PortSpec) -> tuple[str, int, int, str]:
    return (spec.protocol, spec.port or 0, spec.end_port or 0, spec.name)


def _chunks(ports: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Cilium takes at most 40 ports per port rule."""
    return [ports[i : i + MAX_PORTS_PER_RULE] for i in range(0, len(ports), MAX_PORTS_PER_RULE)]


def _dns_ports(rule: Rule) -> list[int]:
    found = {
        spec.port
        for spec in rule.ports
        if spec.port and not spec.end_port and not spec.name and spec.protocol in ("UDP", "TCP")
    }
    return sorted(found) or [DNS_PORT]


def _ports(rule: Rule, direction: _Direction, scope: _Scope, dns: list[Any] | None) -> _Ports:
    """``toPorts`` and ``icmps`` of ``rule``; ``dns`` set makes its DNS ports (UDP and TCP)
    one port rule with those DNS rules (for DNS visibility)."""
    notes: list[str] = []
    tcp: list[dict[str, Any]] = []
    other: list[dict[str, Any]] = []
    icmp_fields: list[dict[str, Any]] = []
    dns_ports = _dns_ports(rule) if dns is not None else []
    for spec in sorted(rule.ports, key=_port_order):
        if spec.port in dns_ports and not spec.end_port and spec.protocol in ("UDP", "TCP"):
            continue
        if spec.protocol in ICMP_ECHO_REQUEST:
            family, echo = ICMP_ECHO_REQUEST[spec.protocol]
            field = {"family": family, "type": spec.port if spec.port is not None else echo}
            if spec.port is None:
                notes.append(f"{spec.protocol} type not recorded: echo request (ping) assumed")
            if field not in icmp_fields:
                icmp_fields.append(field)
        elif spec.protocol in PORT_PROTOCOLS:
            (tcp if spec.protocol == "TCP" else other).append(_port_protocol(spec))
        else:
            notes.append(f"{spec.key} left out: Cilium cannot match this protocol")
    to_ports: list[dict[str, Any]] = []
    if dns is not None:
        ports = [{"port": str(port), "protocol": "ANY"} for port in dns_ports]
        to_ports.append({"ports": ports, "rules": {"dns": dns}})
    http = _http_rules(rule) if scope.options.l7 else []
    if http and direction is EGRESS:
        notes.append("HTTP rules are enforced on the server's ingress, not rendered here")
        http = []
    if http and tcp:
        for chunk in _chunks(tcp):
            to_ports.append({"ports": chunk, "rules": {"http": http}})
        to_ports.extend({"ports": chunk} for chunk in _chunks(other))
    else:
        if http:
            notes.append("HTTP rules need a TCP port; left out")
        to_ports.extend({"ports": chunk} for chunk in _chunks(tcp + other))
    icmps = [{"fields": icmp_fields}] if icmp_fields else []
    return _Ports(to_ports, icmps, notes)


# --- rules -------------------------------------------------------------------------------


def is_dns_rule(rule: Rule) -> bool:
    """A rule for the workload's DNS lookups: marked so by the learner, or port 53 only."""
    if rule.dns_names or "dns" in rule.purpose.lower():
        return True
    return bool(rule.ports) and all(
        p.port == DNS_PORT and not p.end_port and p.protocol in ("UDP", "TCP") for p in rule.ports
    )


def dns_patterns(rule: Rule, fqdns: Iterable[str]) -> list[dict[str, str]]:
    """``rules.dns`` for a DNS rule: the names looked up (plus every FQDN of the policy, so
    they resolve), or every name when the lookups are unknown or too many."""
    if not rule.dns_names:
        return [{"matchPattern": "*"}]
    patterns = {s for s in fqdns if is_pattern(s)}
    names = {
        name
        for name in (*rule.dns_selectors, *fqdns)
        if not any(selector_matches(p, name) for p in patterns if p != name)
    }
    if len(names) > DNS_NAME_LIMIT:
        return [{"matchPattern": "*"}]
    return [_fqdn_entry(name) for name in sorted(names)]


def _comment(rule: Rule, notes: Sequence[str], options: RenderOptions) -> str:
    head = evidence_comment(rule) if options.evidence else rule.purpose
    return "\n".join(line for line in (head, *notes) if line)


def rule_documents(
    rule: Rule, direction: _Direction, scope: _Scope, *, dns: list[Any] | None = None
) -> list[Any]:
    """The Cilium rules for one model rule: one per peer kind, ICMP apart."""
    groups, notes = _peer_groups(rule, direction, scope)
    ports = _ports(rule, direction, scope, dns)
    notes += ports.notes
    has_l4 = bool(rule.ports) and bool(ports.to_ports or ports.icmps)
    documents: list[Any] = []
    for field, items in groups:
        if ports.to_ports or not has_l4:
            document: dict[str, Any] = {field: items}
            if ports.to_ports:
                document["toPorts"] = ports.to_ports
            documents.append(document)
        if ports.icmps:
            documents.append({field: items, "icmps": ports.icmps})
    if rule.ports and not has_l4:
        documents = []
    if not documents:
        return []
    comment = _comment(rule, notes, scope.options)
    if comment:
        documents[0] = Commented(documents[0], comment)
    for i in range(1, len(documents)):
        documents[i] = Commented(documents[i], "(same rule: Cilium needs one peer kind per rule)")
    return documents


def _isolating_rule(direction: _Direction) -> Any:
    return Commented(
        {direction.entities: [NO_PEER]},
        f"isolated: no {direction.key} allowed ('{NO_PEER}' selects nothing)",
    )


def _direction_rules(
    rules: tuple[Rule, ...], direction: _Direction, scope: _Scope, dns_peers: tuple[Peer, ...]
) -> list[Any]:
    ordered = sorted(rules, key=lambda r: r.sort_key)
    needs_dns = direction is EGRESS and bool(scope.fqdns)
    if needs_dns and not any(is_dns_rule(r) for r in ordered):
        purpose = "DNS visibility, which Cilium needs to enforce toFQDNs"
        if not dns_peers:
            purpose += " (no cluster DNS observed: kube-system/k8s-app=kube-dns assumed)"
        ordered.append(
            Rule(
                peers=dns_peers or (KUBE_DNS,),
                ports=(PortSpec("UDP", DNS_PORT), PortSpec("TCP", DNS_PORT)),
                purpose=purpose,
            )
        )
    out: list[Any] = []
    for rule in ordered:
        dns = dns_patterns(rule, scope.fqdns) if needs_dns and is_dns_rule(rule) else None
        out.extend(rule_documents(rule, direction, scope, dns=dns))
    return out or [_isolating_rule(direction)]


# --- documents ---------------------------------------------------------------------------


def _scope(policy: ProposedPolicy, options: RenderOptions) -> _Scope:
    blocks: list[_FQDNBlock] = []
    fqdns: set[str] = set()
    for rule in policy.egress or ():
        for peer in rule.peers:
            if isinstance(peer, CIDRPeer) and peer.fqdns:
                fqdns.update(peer.fqdns)
                blocks.extend(_FQDNBlock(net, rule.ports) for net in _networks((peer.cidr,)))
    return _Scope(
        namespace=policy.namespace,
        options=options,
        fqdn_blocks=tuple(blocks),
        fqdns=tuple(sorted(fqdns)),
    )


def _subject(policy: ProposedPolicy) -> Any:
    selector = _identity_selector(policy.subject)
    if selector.is_empty and not policy.subject.is_empty:
        # Widening the subject would impose these rules on every pod of the namespace.
        return Commented(
            _selector_dict(policy.subject.match_labels, policy.subject.match_expressions),
            "warning: Cilium keeps none of these labels in identities; this selects nothing",
        )
    return _selector_dict(selector.match_labels, selector.match_expressions)


def policy_document(
    policy: ProposedPolicy, options: RenderOptions, dns_peers: tuple[Peer, ...] = ()
) -> dict[str, Any]:
    """The CiliumNetworkPolicy for one proposed policy."""
    scope = _scope(policy, options)
    spec: dict[str, Any] = {
        "description": f"netpol-learner: least-privilege policy for {policy.workload}",
        "endpointSelector": _subject(policy),
    }
    if policy.ingress is not None:
        spec["ingress"] = _direction_rules(policy.ingress, INGRESS, scope, dns_peers)
    if policy.egress is not None:
        spec["egress"] = _direction_rules(policy.egress, EGRESS, scope, dns_peers)
    return {
        "apiVersion": API_VERSION,
        "kind": POLICY_KIND,
        "metadata": {
            "name": policy.name,
            "namespace": policy.namespace,
            "labels": dict(MANAGED_BY),
            "annotations": evidence_annotations(policy, options),
        },
        "spec": spec,
    }


def default_deny_document(namespace: str, name: str = DEFAULT_DENY_NAME) -> dict[str, Any]:
    """Every endpoint of ``namespace`` isolated both ways, allowing nothing by itself."""
    return {
        "apiVersion": API_VERSION,
        "kind": POLICY_KIND,
        "metadata": {"name": name, "namespace": namespace, "labels": dict(MANAGED_BY)},
        "spec": {
            "description": "netpol-learner: default deny for every endpoint of the namespace",
            "endpointSelector": {},
            "enableDefaultDeny": {"egress": True, "ingress": True},
            "ingress": [_isolating_rule(INGRESS)],
            "egress": [_isolating_rule(EGRESS)],
        },
    }


def cluster_dns_document(namespaces: Sequence[str], dns_peers: tuple[Peer, ...]) -> dict[str, Any]:
    """A clusterwide policy letting every endpoint of ``namespaces`` resolve names, with DNS
    visibility, without isolating anything (``enableDefaultDeny`` off both ways)."""
    scope = _Scope(namespace="", options=RenderOptions(evidence=False))
    purpose = "cluster DNS for every endpoint, with DNS visibility (for toFQDNs)"
    if not dns_peers:
        purpose += "; no cluster DNS observed: kube-system/k8s-app=kube-dns assumed"
    rule = Rule(
        peers=dns_peers or (KUBE_DNS,),
        ports=(PortSpec("UDP", DNS_PORT), PortSpec("TCP", DNS_PORT)),
        purpose=purpose,
    )
    egress = rule_documents(rule, EGRESS, scope, dns=[{"matchPattern": "*"}])
    return {
        "apiVersion": API_VERSION,
        "kind": CLUSTERWIDE_KIND,
        "metadata": {"name": DNS_POLICY_NAME, "labels": dict(MANAGED_BY)},
        "spec": {
            "description": "netpol-learner: cluster DNS for the namespaces under default deny",
            "endpointSelector": _selector_dict(
                (), [Requirement(POD_NAMESPACE_KEY, Operator.IN, tuple(sorted(namespaces)))]
            ),
            "enableDefaultDeny": {"egress": False, "ingress": False},
            "egress": egress,
        },
    }


def render(proposal: Proposal, options: RenderOptions) -> dict[str, str]:
    files: dict[str, str] = {}
    for policy in proposal.policies:
        path = f"{policy.namespace}/{policy.name}.yaml"
        document = policy_document(policy, options, proposal.dns_peers)
        files[path] = dump(document, header=HEADER)
    if options.default_deny:
        namespaces = proposal.namespaces or tuple(sorted({p.namespace for p in proposal.policies}))
        for namespace in namespaces:
            name = DEFAULT_DENY_NAME
            if f"{namespace}/{name}.yaml" in files:
                name = f"netpol-learner-{DEFAULT_DENY_NAME}"
            files[f"{namespace}/{name}.yaml"] = dump(
                default_deny_document(namespace, name), header=HEADER
            )
        if namespaces:
            files[f"{CLUSTERWIDE_DIR}/allow-cluster-dns.yaml"] = dump(
                cluster_dns_document(namespaces, proposal.dns_peers), header=HEADER
            )
    files["kustomization.yaml"] = kustomization(list(files))
    return dict(sorted(files.items()))
