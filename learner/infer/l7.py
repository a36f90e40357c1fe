"""HTTP requests as L7 rules: method plus a path regex, generalised only where it is safe.

:func:`generalize_http` turns the (method, path) pairs observed on one edge into
:class:`~learner.policy.HTTPRule` values with Cilium semantics (``rules.http``): ``method`` and
``path`` are regular expressions matched against the whole request method and path (Envoy
matches the ``:path`` header, query string included). Every path is anchored (``^…$``) so an
older, search-style matcher admits no more than a full-match one does.

How paths are generalised, segment by segment, from the root down:

* a UUID segment becomes the UUID class; a hex string of 16 or more digits (at least one a
  decimal digit) becomes ``[0-9a-fA-F]{16,}``;
* two or more distinct numbers under the same prefix become ``[0-9]+``
  (``/users/123`` and ``/users/456`` → ``/users/[0-9]+``); one number alone stays literal;
* ``collapse_after`` or more distinct literal segments under one prefix become ``[^/]+`` (each
  such collapse is reported);
* if the rules still exceed ``max_rules``, the siblings under the deepest branching prefix
  merge into ``[^/]+``, again and again until they fit (also reported); only nested paths
  that cannot merge fall back to ``/.*``;
* everything else stays literal, regex-escaped;
* every path ends in ``([?].*)?``: Envoy matches ``:path`` with its query string, which flow
  collectors drop (and whose values vary far more than paths), so any query is admitted.

The pipeline fills ``Rule.http`` from ``EdgeStats.http`` with :func:`generalize_http` when
``--l7`` is set. :func:`http_rule_allows` judges one request against one rule the way Cilium
does (the semantics engine's HTTP matcher agrees with it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import urlsplit

from learner.model.policy import HTTPRule

DEFAULT_COLLAPSE_AFTER = 20
"""Distinct literal segments under one prefix that make it ``prefix/[^/]+``."""
DEFAULT_MAX_RULES = 50
"""Most HTTP rules one edge may produce."""


class _Kind(Enum):
    LITERAL = 0
    NUMBER = 1
    UUID = 2
    HEX = 3
    SEGMENT = 4
    """Any one segment (``[^/]+``)."""


_CLASS_REGEX = {
    _Kind.NUMBER: "[0-9]+",
    _Kind.UUID: "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    _Kind.HEX: "[0-9a-fA-F]{16,}",
    _Kind.SEGMENT: "[^/]+",
}
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_LONG_HEX = re.compile(r"^[0-9a-fA-F]{16,}$")
_REGEX_SPECIAL = frozenset(".^$*+?()[]{}|\\")
QUERY_SUFFIX = "([?].*)?"

Token = tuple[_Kind, str]


def escape_literal(text: str) -> str:
    """``text`` as a regex matching only itself, valid in both RE2 and POSIX ERE."""
    return "".join("\\" + c if c in _REGEX_SPECIAL else c for c in text)


def split_request(raw: str) -> tuple[str, str]:
    """(path, query) of a request target, which may be a full URL (Hubble's ``http.url``)."""
    if "://" in raw:
        parts = urlsplit(raw)
        return parts.path or "/", parts.query
    path, _, query = raw.partition("?")
    path = path.partition("#")[0]
    if not path.startswith("/"):
        path = "/" + path
    return path, query


def request_target(raw: str) -> str:
    """The path and query as Envoy sees them in ``:path`` (a full URL reduced to its path)."""
    path, query = split_request(raw)
    return f"{path}?{query}" if query else path


def _classify(segment: str) -> Token:
    if _UUID.match(segment):
        return (_Kind.UUID, "")
    if _LONG_HEX.match(segment) and any(c.isdigit() for c in segment):
        return (_Kind.HEX, "")
    return (_Kind.LITERAL, segment)


@dataclass
class _Node:
    children: dict[Token, _Node] = field(default_factory=dict)
    terminal: bool = False
    """A request path ends here."""
    rest: bool = False
    """Collapsed: every path is allowed (set on a method's root only)."""

    def merge(self, other: _Node) -> None:
        self.terminal |= other.terminal
        self.rest |= other.rest
        for token, child in other.children.items():
            mine = self.children.get(token)
            if mine is None:
                self.children[token] = child
            else:
                mine.merge(child)

    def rule_count(self) -> int:
        if self.rest:
            return 1
        return int(self.terminal) + sum(c.rule_count() for c in self.children.values())


def _token_regex(token: Token) -> str:
    kind, literal = token
    return escape_literal(literal) if kind is _Kind.LITERAL else _CLASS_REGEX[kind]


def _token_label(token: Token) -> str:
    kind, literal = token
    return literal if kind is _Kind.LITERAL else _CLASS_REGEX[kind]


def _sort_key(token: Token) -> tuple[int, str]:
    return (token[0].value, token[1])


_EMPTY: Token = (_Kind.LITERAL, "")
"""The empty segment (``/`` alone, or a trailing slash): ``[^/]+`` cannot stand for it."""


def _mergeable(node: _Node) -> list[Token]:
    return sorted((t for t in node.children if t != _EMPTY), key=_sort_key)


def _merge_children(node: _Node, tokens: list[Token], into: Token) -> None:
    merged = node.children.pop(into, None) or _Node()
    for token in tokens:
        child = node.children.pop(token, None)
        if child is not None:
            merged.merge(child)
    node.children[into] = merged


def _generalize(node: _Node, prefix: str, collapse_after: int, notes: list[str]) -> None:
    literals = sorted(
        (t for t in node.children if t[0] is _Kind.LITERAL and t != _EMPTY), key=_sort_key
    )
    numbers = [t for t in literals if t[1].isdigit()]
    if len(numbers) >= 2:
        _merge_children(node, numbers, (_Kind.NUMBER, ""))
        literals = [t for t in literals if not t[1].isdigit()]
    if len(literals) >= collapse_after:
        _merge_children(node, literals, (_Kind.SEGMENT, ""))
        notes.append(
            f"{prefix or '/'}: {len(literals)} distinct path segments collapsed to {prefix}/[^/]+"
        )
    for token in sorted(node.children, key=_sort_key):
        child_prefix = f"{prefix}/{_token_label(token)}"
        _generalize(node.children[token], child_prefix, collapse_after, notes)


_Found = tuple[int, int, str, "_Node | None"]


def _deepest_branch(node: _Node, prefix: str, depth: int, best: _Found) -> _Found:
    """The deepest node with two or more mergeable children (then: most), and its prefix."""
    branches = len(_mergeable(node))
    if branches >= 2 and (depth, branches) > best[:2]:
        best = (depth, branches, prefix, node)
    for token in sorted(node.children, key=_sort_key):
        child_prefix = f"{prefix}/{_token_label(token)}"
        best = _deepest_branch(node.children[token], child_prefix, depth + 1, best)
    return best


def _reduce(roots: dict[str, _Node], max_rules: int, notes: list[str]) -> None:
    """Merge siblings into ``[^/]+``, deepest first, until the rules fit in ``max_rules``."""
    while sum(r.rule_count() for r in roots.values()) > max(max_rules, len(roots)):
        found = [(_deepest_branch(roots[m], "", 0, (-1, 0, "", None)), m) for m in sorted(roots)]
        (_, children, prefix, node), method = max(found, key=lambda f: f[0][:2])
        if node is None:
            # Only chains of nested prefixes are left: allow everything under the method.
            for method in sorted(roots):
                if roots[method].rule_count() > 1:
                    roots[method] = _Node(rest=True)
                    notes.append(f"{method} /: nested paths collapsed to /.* (over {max_rules})")
            return
        _merge_children(node, _mergeable(node), (_Kind.SEGMENT, ""))
        notes.append(
            f"{method} {prefix or '/'}: {children} branches merged into {prefix}/[^/]+ "
            f"to stay within {max_rules} rules"
        )


def _emit(node: _Node, segments: list[str], method: str, out: list[HTTPRule]) -> None:
    if node.rest:
        out.append(HTTPRule(method=method, path="^/.*$"))
        return
    if node.terminal:
        out.append(HTTPRule(method=method, path="^/" + "/".join(segments) + QUERY_SUFFIX + "$"))
    for token in sorted(node.children, key=_sort_key):
        _emit(node.children[token], [*segments, _token_regex(token)], method, out)


@dataclass(frozen=True, slots=True)
class HTTPGeneralization:
    rules: tuple[HTTPRule, ...]
    collapsed: tuple[str, ...] = ()
    """One line per place where many paths were collapsed into a wildcard (for the report)."""


def generalize_http_report(
    requests: Iterable[tuple[str, str]],
    *,
    collapse_after: int = DEFAULT_COLLAPSE_AFTER,
    max_rules: int = DEFAULT_MAX_RULES,
) -> HTTPGeneralization:
    """Like :func:`generalize_http`, also saying where paths were collapsed."""
    roots: dict[str, _Node] = {}
    for method, raw in requests:
        path, _ = split_request(raw)
        node = roots.setdefault(escape_literal(method.upper()), _Node())
        for segment in path[1:].split("/"):
            node = node.children.setdefault(_classify(segment), _Node())
        node.terminal = True
    notes: list[str] = []
    for method in sorted(roots):
        method_notes: list[str] = []
        _generalize(roots[method], "", collapse_after, method_notes)
        notes.extend(f"{method} {note}" for note in method_notes)
    _reduce(roots, max_rules, notes)
    rules: list[HTTPRule] = []
    for method in sorted(roots):
        _emit(roots[method], [], method, rules)
    return HTTPGeneralization(tuple(sorted(set(rules))), tuple(notes))


def generalize_http(
    requests: Iterable[tuple[str, str]],
    *,
    collapse_after: int = DEFAULT_COLLAPSE_AFTER,
    max_rules: int = DEFAULT_MAX_RULES,
) -> tuple[HTTPRule, ...]:
    """HTTP rules admitting every observed ``(method, path)`` request, generalised safely.

    See the module docstring for the generalisation rules. The result is sorted, holds at
    most ``max_rules`` rules per method set, and is the same for the same set of requests.
    """
    return generalize_http_report(
        requests, collapse_after=collapse_after, max_rules=max_rules
    ).rules


_REGEX_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(regex: str) -> re.Pattern[str]:
    found = _REGEX_CACHE.get(regex)
    if found is None:
        found = re.compile(regex)
        if len(_REGEX_CACHE) < 4096:
            _REGEX_CACHE[regex] = found
    return found


def http_rule_allows(rule: HTTPRule, method: str, path: str) -> bool:
    """Whether ``rule`` admits the request (Cilium: both regexes must match in full).

    ``path`` may be a full URL; it is reduced to path and query first. An empty method or path
    in the rule admits any.

    Raises ``re.error`` for a rule whose regex Python cannot compile.
    """
    if rule.method and _compiled(rule.method).fullmatch(method) is None:
        return False
    return not rule.path or _compiled(rule.path).fullmatch(request_target(path)) is not None
