"""Mermaid flowcharts for report.md, written to survive GitHub's renderer.

Rules learned the hard way (see the design notes): ``graph TB`` with one subgraph per
namespace, every node and edge label quoted, ``linkStyle`` indices generated from the same edge
list, changes marked by colour *and* by label text (``+ 8080/TCP``, ``- 5432/TCP``), colours
that read in light and dark themes, and large graphs split per namespace.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

ADDED_COLOUR = "#2da44e"
REMOVED_COLOUR = "#cf222e"
MAX_NODES_PER_GRAPH = 30


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
    """``added``, ``removed`` or empty."""


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


def flowchart(edges: Sequence[GraphEdge]) -> str:
    """One ``graph TB`` block (without the fences) for ``edges``."""
    nodes = sorted({e.source for e in edges} | {e.destination for e in edges})
    ids = {node.key: f"n{i}" for i, node in enumerate(nodes)}
    groups: dict[str, list[GraphNode]] = defaultdict(list)
    for node in nodes:
        groups[node.group].append(node)
    lines = ["graph TB"]
    for index, (group, members) in enumerate(sorted(groups.items())):
        indent = "  "
        if group:
            lines.append(f"  subgraph {_subgraph_id(group, index)}[{quote(group)}]")
            indent = "    "
        for node in members:
            lines.append(f"{indent}{ids[node.key]}[{quote(node.label)}]")
        if group:
            lines.append("  end")
    ordered = sorted(edges)
    styles = []
    for index, edge in enumerate(ordered):
        label = edge.label
        if edge.change == "added":
            label = f"+ {label}"
            styles.append(f"  linkStyle {index} stroke:{ADDED_COLOUR},stroke-width:2px")
        elif edge.change == "removed":
            label = f"- {label}"
            styles.append(f"  linkStyle {index} stroke:{REMOVED_COLOUR},stroke-width:2px")
        lines.append(f"  {ids[edge.source.key]} -->|{quote(label)}| {ids[edge.destination.key]}")
    lines.extend(styles)
    return "\n".join(lines)


def split_by_group(edges: Sequence[GraphEdge]) -> list[tuple[str, list[GraphEdge]]]:
    """All edges as one graph when small; else one graph per destination namespace."""
    nodes = {e.source for e in edges} | {e.destination for e in edges}
    if len(nodes) <= MAX_NODES_PER_GRAPH:
        return [("", list(edges))]
    by_group: dict[str, list[GraphEdge]] = defaultdict(list)
    for edge in edges:
        group = (
            edge.destination.group if edge.destination.group != "external" else edge.source.group
        )
        by_group[group].append(edge)
    return sorted(by_group.items())


def blocks(edges: Sequence[GraphEdge]) -> list[tuple[str, str]]:
    """(title, fenced mermaid block) pairs ready for Markdown."""
    out = []
    for title, part in split_by_group(edges):
        out.append((title, "```mermaid\n" + flowchart(part) + "\n```"))
    return out
