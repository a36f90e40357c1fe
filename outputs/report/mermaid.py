"""Mermaid flowcharts for report.md, written to survive GitHub's and GitLab's renderers and to
fit a pull-request column (about 880 px wide).

Rules learned the hard way (see the design notes): every node and edge label quoted,
``linkStyle`` indices generated from the same edge list, changes marked by colour *and* by
label text (``+ 8080/TCP``, ``- 5432/TCP``), colours that read in light and dark themes.
``graph TB`` with one subgraph per namespace;
outside peers stand free (an ``external`` box pulls every edge across the picture). Fan-out
(one scraper to every workload, every workload to the API server) becomes one edge to a group
node, listed under the graph; parts that do not talk to each other are stacked, and nodes sit
closer than Mermaid's default. Measured in Chromium with Mermaid 11, the demo's graph renders
at 94 % of its natural size in an 880 px column (22 % before), bookinfo's at 87 % (34 %).
A big cluster gets an overview of namespaces first.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from learner.model.diff_result import DiffResult
from learner.model.edges import EdgeStore
from learner.model.identity import Identity
from learner.model.infra import is_dns_port, is_dns_server
from outputs.report.names import WorkloadNames, parse_identity_key, place

ADDED_COLOUR = "#2da44e"
REMOVED_COLOUR = "#cf222e"
MAX_NODES_PER_GRAPH = 30
FAN_OUT = 5
"""A node with this many plain edges on one side gets them drawn as one group edge."""
MAX_PORTS_IN_LABEL = 3
INIT = '%%{init: {"flowchart": {"nodeSpacing": 20, "rankSpacing": 40}}}%%'
"""Tighter spacing than Mermaid's default (50/50); GitHub and GitLab honour init directives."""
EXTERNAL = "external"
"""The group of outside peers: drawn without a box."""

ADDED = "added"
"""Observed traffic the proposal newly allows."""
REMOVED = "removed"
"""Observed traffic the proposal newly blocks."""
REACHABLE = "reachable"
"""Traffic not observed that the proposal newly allows (a widened rule)."""


@dataclass(frozen=True, slots=True, order=True)
class GraphNode:
    group: str
    """Subgraph (namespace, or ``external``); empty for none."""
    label: str
    key: str
    """Unique identity of the node."""


@dataclass(frozen=True, slots=True, order=True)
class GraphEdge:
    source: GraphNode
    destination: GraphNode
    label: str
    change: str = ""
    """``added``, ``removed``, ``reachable`` or empty."""


@dataclass(frozen=True, slots=True)
class FanOut:
    """Edges drawn as one: ``hub`` to (or from) every member of ``members``."""

    hub: GraphNode
    outgoing: bool
    members: tuple[GraphEdge, ...]


_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def quote(text: str) -> str:
    """A Mermaid label in double quotes; quotes, angle brackets and backticks become entities
    and control characters spaces, so no name can end the label, the line or the block."""
    cleaned = (
        _LINE_BREAKS.sub(" ", text)
        .replace("&", "#amp;")
        .replace('"', "#quot;")
        .replace("<", "#lt;")
        .replace(">", "#gt;")
        .replace("`", "#96;")
    )
    return f'"{cleaned}"'


_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def _subgraph_id(name: str, index: int) -> str:
    return f"ns{index}_{_ID_UNSAFE.sub('_', name)[:30]}"


def port_summary(labels: Sequence[str]) -> str:
    ports = sorted({port for label in labels for port in label.split(", ") if port})
    shown = ", ".join(ports[:MAX_PORTS_IN_LABEL])
    return shown + (
        f" +{len(ports) - MAX_PORTS_IN_LABEL}" if len(ports) > MAX_PORTS_IN_LABEL else ""
    )


def flowchart(edges: Sequence[GraphEdge], direction: str = "TB") -> str:
    """One flowchart (without the fences) for ``edges``."""
    nodes = sorted({e.source for e in edges} | {e.destination for e in edges})
    ids = {node.key: f"n{i}" for i, node in enumerate(nodes)}
    groups: dict[str, list[GraphNode]] = defaultdict(list)
    for node in nodes:
        groups[node.group].append(node)
    lines = [INIT, f"graph {direction}"]
    for index, (group, members) in enumerate(sorted(groups.items())):
        indent = "  "
        boxed = group and group != EXTERNAL
        if boxed:
            lines.append(f"  subgraph {_subgraph_id(group, index)}[{quote(group)}]")
            indent = "    "
        for node in members:
            lines.append(f"{indent}{ids[node.key]}[{quote(node.label)}]")
        if boxed:
            lines.append("  end")
    styles = []
    for index, edge in enumerate(sorted(edges)):
        label, arrow = edge.label, "-->"
        if edge.change == ADDED:
            label = f"+ {label}"
            styles.append(f"  linkStyle {index} stroke:{ADDED_COLOUR},stroke-width:2px")
        elif edge.change == REACHABLE:
            label, arrow = f"+ {label}", "-.->"
            styles.append(f"  linkStyle {index} stroke:{ADDED_COLOUR},stroke-width:2px")
        elif edge.change == REMOVED:
            label = f"- {label}"
            styles.append(f"  linkStyle {index} stroke:{REMOVED_COLOUR},stroke-width:2px")
        source, destination = ids[edge.source.key], ids[edge.destination.key]
        lines.append(f"  {source} {arrow}|{quote(label)}| {destination}")
    # After every drawn edge, so that linkStyle indices still count drawn edges only.
    for upper, lower in stacking_links(sorted(edges)):
        lines.append(f"  {ids[upper.key]} ~~~ {ids[lower.key]}")
    lines.extend(styles)
    return "\n".join(lines)


def components(edges: Sequence[GraphEdge]) -> list[list[GraphEdge]]:
    """The edges of each weakly connected part of the graph, in order of first appearance."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for edge in edges:
        parent[root(edge.source.key)] = root(edge.destination.key)
    parts: dict[str, list[GraphEdge]] = {}
    for edge in edges:
        parts.setdefault(root(edge.source.key), []).append(edge)
    return list(parts.values())


def depths(edges: Sequence[GraphEdge]) -> dict[GraphNode, int]:
    """How far below the top each node of one connected part sits: breadth-first from the
    nodes nothing points to (then from any node a cycle left unreached)."""
    targets: dict[GraphNode, list[GraphNode]] = defaultdict(list)
    for edge in edges:
        targets[edge.source].append(edge.destination)
    nodes = sorted({e.source for e in edges} | {e.destination for e in edges})
    pointed_to = {e.destination for e in edges if e.destination != e.source}
    depth: dict[GraphNode, int] = {}
    for start in [n for n in nodes if n not in pointed_to] + nodes:
        if start in depth:
            continue
        depth[start] = 0
        queue = [start]
        for node in queue:
            for target in targets[node]:
                if target not in depth:
                    depth[target] = depth[node] + 1
                    queue.append(target)
    return depth


def stacking_links(edges: Sequence[GraphEdge]) -> list[tuple[GraphNode, GraphNode]]:
    """Invisible links that put each unconnected part of the graph below the previous one,
    largest part first.

    Mermaid lays unconnected parts side by side, so a cluster with a few separate conversations
    grows wider than a pull-request column; stacked, the small parts form a column beside the
    big one and the graph grows downwards instead."""
    parts = sorted(components(edges), key=lambda part: -len(part))
    links = []
    for upper, lower in zip(parts, parts[1:], strict=False):
        upper_depth, lower_depth = depths(upper), depths(lower)
        deepest = max(sorted(upper_depth), key=lambda n: upper_depth[n])
        top = min(sorted(lower_depth), key=lambda n: lower_depth[n])
        links.append((deepest, top))
    return links


def collapse_fan_out(
    edges: Sequence[GraphEdge], threshold: int = FAN_OUT
) -> tuple[list[GraphEdge], list[FanOut]]:
    """Plain edges of a node with ``threshold`` or more peers on one side, replaced by one edge
    to a group node. Changed edges are always drawn one by one: they are what a reviewer
    reviews. Sources fanning out are collapsed first (a scraper), then destinations (an API)."""
    remaining = list(edges)
    fans: list[FanOut] = []
    for outgoing in (True, False):
        by_hub: dict[GraphNode, list[GraphEdge]] = defaultdict(list)
        for edge in remaining:
            if not edge.change:
                by_hub[edge.source if outgoing else edge.destination].append(edge)
        for hub, members in sorted(by_hub.items()):
            if len(members) < threshold:
                continue
            fans.append(FanOut(hub, outgoing, tuple(sorted(members))))
            taken = set(members)
            remaining = [e for e in remaining if e not in taken]
    collapsed = list(remaining)
    for index, fan in enumerate(fans):
        group = GraphNode("", f"{len(fan.members)} peers", f"fan-out:{index}")
        labels = [e.label for e in fan.members]
        counted = all(label.isdigit() for label in labels)  # the overview's connection counts
        label = str(sum(map(int, labels))) if counted else port_summary(labels)
        edge = (
            GraphEdge(fan.hub, group, label) if fan.outgoing else GraphEdge(group, fan.hub, label)
        )
        collapsed.append(edge)
    return collapsed, fans


OUTSIDE = "outside the cluster"
"""The overview's one node for every outside peer named by DNS name or address."""


def namespace_overview(edges: Sequence[GraphEdge]) -> list[GraphEdge]:
    """One node per namespace, one edge per pair of namespaces labelled with how many workload
    connections it stands for. Traffic inside a namespace is left to that namespace's graph,
    and outside peers other than the API server and the nodes become one node."""
    counts: dict[tuple[GraphNode, GraphNode, str], int] = defaultdict(int)

    def node(n: GraphNode) -> GraphNode:
        if n.group == EXTERNAL:
            label = n.label if n.label in ("kube-apiserver", "nodes") else OUTSIDE
            return GraphNode(EXTERNAL, label, f"external:{label}")
        if not n.group:
            return n
        return GraphNode("", n.group, f"namespace:{n.group}")

    for edge in edges:
        source, destination = node(edge.source), node(edge.destination)
        if source == destination:
            continue
        change = edge.change if edge.change != REACHABLE else ADDED
        counts[(source, destination, change)] += 1
    return [
        GraphEdge(source, destination, str(count), change)
        for (source, destination, change), count in counts.items()
    ]


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    """Empty for the only chart; else ``overview`` or a namespace."""
    block: str
    """The fenced ``mermaid`` block."""
    fans: tuple[FanOut, ...]


def fenced(edges: Sequence[GraphEdge]) -> tuple[str, list[FanOut]]:
    drawn, fans = collapse_fan_out(edges)
    return "```mermaid\n" + flowchart(drawn) + "\n```", fans


def charts(edges: Sequence[GraphEdge]) -> list[Chart]:
    """One chart when small; else an overview of namespaces and one chart per namespace (the
    traffic into it, and its traffic to the outside)."""
    nodes = {e.source for e in edges} | {e.destination for e in edges}
    if len(nodes) <= MAX_NODES_PER_GRAPH:
        block, fans = fenced(edges)
        return [Chart("", block, tuple(fans))]
    overview, overview_fans = fenced(namespace_overview(edges))
    out = [Chart("overview", overview, tuple(overview_fans))]
    by_group: dict[str, list[GraphEdge]] = defaultdict(list)
    for edge in edges:
        group = edge.destination.group if edge.destination.group != EXTERNAL else edge.source.group
        by_group[group].append(edge)
    for group, part in sorted(by_group.items()):
        block, fans = fenced(part)
        out.append(Chart(group, block, tuple(fans)))
    return out


def graph_node(
    identity: Identity, names: WorkloadNames, dns_names: set[str] | None = None
) -> GraphNode:
    """One node per workload, named as its policy; outside peers by DNS name or place (one
    node for all internet clients, all nodes ...), so graphs stay readable."""
    if identity.is_pod:
        name = names.name(identity)
        return GraphNode(identity.namespace, name, f"{identity.namespace}/{name}")
    label = place(identity, dns_names or ())
    return GraphNode("external", label, f"external:{label}")


def _node(
    identity: Identity,
    names: WorkloadNames,
    dns_names: set[str] | None,
    pod_nodes: dict[Identity, GraphNode],
) -> GraphNode:
    if not identity.is_pod:
        return graph_node(identity, names, dns_names)
    node = pod_nodes.get(identity)
    if node is None:
        node = pod_nodes[identity] = graph_node(identity, names, dns_names)
    return node


def observed_graph(
    store: EdgeStore, diff: DiffResult | None, names: WorkloadNames
) -> list[GraphEdge]:
    """Workload-level edges with their ports; with a diff, changed edges marked, and pairs the
    proposal newly opens without observed traffic (a widened rule) added as ``reachable``."""
    change: dict[tuple[str, str, str], str] = {}
    if diff is not None:
        for item in diff.newly_allowed:
            e = item.edge
            change[(e.source.key, e.destination.key, f"{e.port}/{e.protocol}")] = ADDED
        for item in diff.newly_blocked:
            e = item.edge
            change[(e.source.key, e.destination.key, f"{e.port}/{e.protocol}")] = REMOVED
    grouped: dict[tuple[GraphNode, GraphNode, str], list[str]] = defaultdict(list)
    # A rule over many ports is one edge per port between the same two workloads: their
    # nodes are looked up once (a pod's node does not depend on the edge).
    pod_nodes: dict[Identity, GraphNode] = {}
    for edge, stats in store.sorted_edges():
        if edge.source.kind == "host" and edge.destination.is_pod:
            continue  # probes from the pod's own node: always allowed, only clutter
        if is_dns_server(edge.destination.labels) and is_dns_port(edge.protocol, edge.port):
            continue  # every workload's lookups: one shared rule, said in a sentence
        port = f"{edge.port}/{edge.protocol}" if edge.port else edge.protocol
        state = (
            change.get((edge.source.key, edge.destination.key, f"{edge.port}/{edge.protocol}"), "")
            if change
            else ""
        )
        src = _node(edge.source, names, None, pod_nodes)
        dst = _node(edge.destination, names, stats.dns_names, pod_nodes)
        if src.group == "external" and dst.group == "external":
            continue
        grouped[(src, dst, state)].append(port)
    newly_allowed = diff.pairs_newly_allowed if diff is not None else ()
    observed = (
        {(e.source.key, e.destination.key, f"{e.port}/{e.protocol}") for e in store.edges}
        if newly_allowed
        else set()
    )
    for pair in newly_allowed:
        source, destination = parse_identity_key(pair.source), parse_identity_key(pair.destination)
        if (
            source is None
            or destination is None
            or (pair.source, pair.destination, pair.port) in observed
        ):
            continue
        key = (graph_node(source, names), graph_node(destination, names), REACHABLE)
        grouped[key].append(pair.port)
    edges = []
    for (src, dst, state), ports in grouped.items():
        shown = sorted(set(ports))
        label = ", ".join(shown[:4]) + (f" +{len(shown) - 4}" if len(shown) > 4 else "")
        edges.append(GraphEdge(src, dst, label, state))
    return edges
