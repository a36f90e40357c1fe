"""A syntax check for the Mermaid flowchart subset report.md uses.

Mermaid itself needs a browser; this checks what breaks GitHub's renderer in practice:
the header, quoted labels with no raw quotes or brackets inside, node ids defined before use,
balanced subgraph/end, linkStyle indices within the edge count, and invisible links (which
linkStyle counts too) only after every drawn edge.
"""

from __future__ import annotations

import re

HEADER = re.compile(r"^graph (TB|TD|BT|LR|RL)$")
INIT = re.compile(r"^%%\{init: \{.*\}\}%%$")
LABEL = r'"[^"\n]*"'
SUBGRAPH = re.compile(rf"^subgraph ([A-Za-z0-9_]+)\[{LABEL}\]$")
NODE = re.compile(rf"^([A-Za-z][A-Za-z0-9_]*)\[{LABEL}\]$")
EDGE = re.compile(rf"^([A-Za-z][A-Za-z0-9_]*) (?:-->|-\.->)\|{LABEL}\| ([A-Za-z][A-Za-z0-9_]*)$")
INVISIBLE = re.compile(r"^([A-Za-z][A-Za-z0-9_]*) ~~~ ([A-Za-z][A-Za-z0-9_]*)$")
LINK_STYLE = re.compile(r"^linkStyle (\d+) stroke:#[0-9a-fA-F]{3,6}(,stroke-width:\d+px)?$")


def check(block: str) -> list[str]:
    """Problems found in one flowchart (without the ``` fences)."""
    lines = [line.strip() for line in block.strip().splitlines() if line.strip()]
    problems = []
    if lines and INIT.match(lines[0]):
        lines = lines[1:]
    if not lines or not HEADER.match(lines[0]):
        return [f"line 1: expected 'graph TB', got {lines[0] if lines else 'nothing'!r}"]
    nodes: set[str] = set()
    edges = 0
    invisible = 0
    depth = 0
    for number, line in enumerate(lines[1:], start=2):
        if m := SUBGRAPH.match(line):
            depth += 1
        elif line == "end":
            depth -= 1
            if depth < 0:
                problems.append(f"line {number}: 'end' without subgraph")
        elif m := NODE.match(line):
            nodes.add(m.group(1))
        elif m := EDGE.match(line):
            for node in (m.group(1), m.group(2)):
                if node not in nodes:
                    problems.append(f"line {number}: node {node} used before it is defined")
            if invisible:
                problems.append(
                    f"line {number}: an edge after an invisible link: linkStyle counts it"
                )
            edges += 1
        elif m := INVISIBLE.match(line):
            for node in (m.group(1), m.group(2)):
                if node not in nodes:
                    problems.append(f"line {number}: node {node} used before it is defined")
            invisible += 1
        elif m := LINK_STYLE.match(line):
            if int(m.group(1)) >= edges:
                problems.append(f"line {number}: linkStyle {m.group(1)} but only {edges} edges")
        else:
            problems.append(f"line {number}: not valid here: {line!r}")
    if depth != 0:
        problems.append("unbalanced subgraph/end")
    return problems


def blocks(markdown: str) -> list[str]:
    return re.findall(r"```mermaid\n(.*?)```", markdown, flags=re.S)
