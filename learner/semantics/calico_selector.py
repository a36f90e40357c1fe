"""Calico's selector language, parsed once into an expression tree that answers ``matches``.

Grammar (tigera/docs ``_selectors.mdx``), loosest binding first::

    expression := and ( "||" and )*
    and        := unary ( "&&" unary )*
    unary      := "!" unary | "(" expression ")" | term
    term       := "all()" | "global()" | "has(" key ")"
                | key ( "==" | "!=" ) string
                | key ( "in" | "not in" ) "{" [ string ( "," string )* ] "}"
                | key ( "contains" | "starts with" | "ends with" ) string

Strings are quoted with ``'`` or ``"`` and have no escapes. ``k != 'v'`` and ``k not in {...}``
also match objects without ``k``; ``==``, ``in``, ``contains``, ``starts with`` and ``ends with``
need ``k``. ``global()`` matches objects outside any namespace (never a pod).

Expressions are evaluated against a label lookup (``get(key) -> value or None``), so callers
decide which labels an object has (pod labels plus the ones Calico adds, namespace labels ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

Lookup = Callable[[str], str | None]


class SelectorSyntaxError(ValueError):
    """``str()`` says what was expected and where (a 0-based character position)."""


class Expression:
    __slots__ = ()

    def matches(self, get: Lookup) -> bool:
        raise NotImplementedError

    @property
    def required_label(self) -> tuple[str, str] | None:
        """A ``(key, value)`` every match must carry, if the expression requires one."""
        return None


@dataclass(frozen=True, slots=True)
class All(Expression):
    def matches(self, get: Lookup) -> bool:
        return True

    def __str__(self) -> str:
        return "all()"


@dataclass(frozen=True, slots=True)
class Global(Expression):
    """Objects outside namespaces; the lookup answers ``get("") == "global"`` for those."""

    def matches(self, get: Lookup) -> bool:
        return get("") == "global"

    def __str__(self) -> str:
        return "global()"


@dataclass(frozen=True, slots=True)
class Has(Expression):
    key: str

    def matches(self, get: Lookup) -> bool:
        return get(self.key) is not None

    def __str__(self) -> str:
        return f"has({self.key})"


@dataclass(frozen=True, slots=True)
class Equals(Expression):
    key: str
    value: str

    def matches(self, get: Lookup) -> bool:
        return get(self.key) == self.value

    @property
    def required_label(self) -> tuple[str, str] | None:
        return (self.key, self.value)

    def __str__(self) -> str:
        return f"{self.key} == {_quote(self.value)}"


@dataclass(frozen=True, slots=True)
class NotEquals(Expression):
    key: str
    value: str

    def matches(self, get: Lookup) -> bool:
        return get(self.key) != self.value

    def __str__(self) -> str:
        return f"{self.key} != {_quote(self.value)}"


@dataclass(frozen=True, slots=True)
class In(Expression):
    key: str
    values: frozenset[str]

    def matches(self, get: Lookup) -> bool:
        return get(self.key) in self.values

    def __str__(self) -> str:
        return f"{self.key} in {_set(self.values)}"


@dataclass(frozen=True, slots=True)
class NotIn(Expression):
    key: str
    values: frozenset[str]

    def matches(self, get: Lookup) -> bool:
        return get(self.key) not in self.values

    def __str__(self) -> str:
        return f"{self.key} not in {_set(self.values)}"


@dataclass(frozen=True, slots=True)
class StringTest(Expression):
    """``contains``, ``starts with``, ``ends with``."""

    key: str
    operator: str
    value: str

    def matches(self, get: Lookup) -> bool:
        found = get(self.key)
        if found is None:
            return False
        if self.operator == "contains":
            return self.value in found
        if self.operator == "starts with":
            return found.startswith(self.value)
        return found.endswith(self.value)

    def __str__(self) -> str:
        return f"{self.key} {self.operator} {_quote(self.value)}"


@dataclass(frozen=True, slots=True)
class Not(Expression):
    operand: Expression

    def matches(self, get: Lookup) -> bool:
        return not self.operand.matches(get)

    def __str__(self) -> str:
        return f"!{_wrapped(self.operand)}"


@dataclass(frozen=True, slots=True)
class And(Expression):
    operands: tuple[Expression, ...]

    def matches(self, get: Lookup) -> bool:
        return all(operand.matches(get) for operand in self.operands)

    @property
    def required_label(self) -> tuple[str, str] | None:
        for operand in self.operands:
            found = operand.required_label
            if found is not None:
                return found
        return None

    def __str__(self) -> str:
        return " && ".join(_wrapped(o) for o in self.operands)


@dataclass(frozen=True, slots=True)
class Or(Expression):
    operands: tuple[Expression, ...]

    def matches(self, get: Lookup) -> bool:
        return any(operand.matches(get) for operand in self.operands)

    def __str__(self) -> str:
        return " || ".join(_wrapped(o) for o in self.operands)


def _quote(value: str) -> str:
    return f"'{value}'" if "'" not in value else f'"{value}"'


def _set(values: frozenset[str]) -> str:
    return "{" + ", ".join(_quote(v) for v in sorted(values)) + "}"


def _wrapped(expression: Expression) -> str:
    return f"({expression})" if isinstance(expression, And | Or) else str(expression)


# --- parsing ---------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'[^']*'|"[^"]*")
      | (?P<op>&&|\|\||==|!=|!|\(|\)|\{|\}|,)
      | (?P<word>[A-Za-z0-9_./-]+)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    """``string``, ``op``, ``word`` or ``end``."""
    text: str
    position: int


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        if text[position:].isspace():
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            start = position + len(text[position:]) - len(text[position:].lstrip())
            raise SelectorSyntaxError(f"unexpected {text[start]!r} at position {start}")
        kind = match.lastgroup or "word"
        start = match.start(kind)
        tokens.append(_Token(kind, match.group(kind), start))
        position = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.index = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text or token.kind == "string":
            raise self.error(f"expected {text!r}", token)

    @staticmethod
    def error(what: str, token: _Token) -> SelectorSyntaxError:
        found = "the end" if token.kind == "end" else repr(token.text)
        return SelectorSyntaxError(f"{what} at position {token.position}, found {found}")

    def parse(self) -> Expression:
        expression = self.disjunction()
        if self.current.kind != "end":
            raise self.error("expected && or || or the end", self.current)
        return expression

    def disjunction(self) -> Expression:
        operands = [self.conjunction()]
        while self.current.text == "||" and self.current.kind == "op":
            self.take()
            operands.append(self.conjunction())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def conjunction(self) -> Expression:
        operands = [self.unary()]
        while self.current.text == "&&" and self.current.kind == "op":
            self.take()
            operands.append(self.unary())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def unary(self) -> Expression:
        token = self.current
        if token.kind == "op" and token.text == "!":
            self.take()
            return Not(self.unary())
        if token.kind == "op" and token.text == "(":
            self.take()
            inner = self.disjunction()
            self.expect(")")
            return inner
        return self.term()

    def term(self) -> Expression:
        token = self.take()
        if token.kind != "word":
            raise self.error("expected a label key, all(), global() or has(...)", token)
        following = self.current
        if token.text in ("all", "global", "has") and following.text == "(":
            self.take()
            if token.text == "has":
                name = self.take()
                if name.kind != "word":
                    raise self.error("expected a label key", name)
                self.expect(")")
                return Has(name.text)
            self.expect(")")
            return All() if token.text == "all" else Global()
        key = token.text
        operator = self.take()
        if operator.kind == "op" and operator.text in ("==", "!="):
            value = self.string()
            return Equals(key, value) if operator.text == "==" else NotEquals(key, value)
        if operator.kind == "word" and operator.text == "in":
            return In(key, self.string_set())
        if operator.kind == "word" and operator.text == "not":
            self.word("in")
            return NotIn(key, self.string_set())
        if operator.kind == "word" and operator.text == "contains":
            return StringTest(key, "contains", self.string())
        if operator.kind == "word" and operator.text in ("starts", "ends"):
            self.word("with")
            return StringTest(key, f"{operator.text} with", self.string())
        raise self.error(
            "expected ==, !=, in, not in, contains, starts with or ends with", operator
        )

    def word(self, text: str) -> None:
        token = self.take()
        if token.kind != "word" or token.text != text:
            raise self.error(f"expected {text!r}", token)

    def string(self) -> str:
        token = self.take()
        if token.kind != "string":
            raise self.error("expected a quoted string", token)
        return token.text[1:-1]

    def string_set(self) -> frozenset[str]:
        self.expect("{")
        values: list[str] = []
        if self.current.text == "}" and self.current.kind == "op":
            self.take()
            return frozenset()
        while True:
            values.append(self.string())
            token = self.take()
            if token.kind == "op" and token.text == "}":
                return frozenset(values)
            if token.kind != "op" or token.text != ",":
                raise self.error("expected ',' or '}'", token)


_cache: dict[str, Expression] = {}


def parse_selector(text: str) -> Expression:
    """Parse a selector; raises :class:`SelectorSyntaxError`. An empty selector is ``all()``."""
    found = _cache.get(text)
    if found is None:
        found = _Parser(text).parse() if text.strip() else All()
        if len(_cache) < 10_000:
            _cache[text] = found
    return found
