"""Calico selector language: the operator table of tigera/docs ``_selectors.mdx``."""

from __future__ import annotations

import pytest

from learner.semantics.calico_selector import SelectorSyntaxError, parse_selector

LABELS = {"app": "web", "tier": "front", "env": "prod-eu", "team": "shop"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("all()", True),
        ("", True),
        ("global()", False),
        ("app == 'web'", True),
        ('app == "web"', True),
        ("app == 'db'", False),
        ("app != 'db'", True),
        ("missing != 'x'", True),  # != also matches objects without the key
        ("has(tier)", True),
        ("!has(tier)", False),
        ("has(missing)", False),
        ("app in {'web', 'api'}", True),
        ("app in {}", False),
        ("missing in {'x'}", False),
        ("app not in {'db'}", True),
        ("missing not in {'x'}", True),
        ("env contains 'od-e'", True),
        ("env starts with 'prod'", True),
        ("env ends with 'eu'", True),
        ("missing contains ''", False),
        ("app == 'web' && tier == 'back'", False),
        ("app == 'db' || tier == 'front'", True),
        ("!(app == 'db' || tier == 'back')", True),
        ("app == 'db' || tier == 'front' && env == 'x'", False),  # && binds tighter
        ("(app == 'db' || tier == 'front') && team == 'shop'", True),
        ("!!has(app)", True),
        ("k8s-app.io/part_of != 'x'", True),
    ],
)
def test_operators(selector: str, expected: bool) -> None:
    assert parse_selector(selector).matches(LABELS.get) is expected


def test_global_matches_only_objects_outside_namespaces() -> None:
    assert parse_selector("global()").matches({"": "global"}.get)


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("app = 'web'", "unexpected '=' at position 4"),
        ("app == web", "expected a quoted string at position 7"),
        ("app == 'web' &&", "at position 15, found the end"),
        ("has(app", "expected ')' at position 7"),
        ("app in {'a' 'b'}", "expected ',' or '}'"),
        ("app not {'a'}", "expected 'in'"),
        ("(app == 'a'", "expected ')'"),
        ("app == 'a' app", "expected && or ||"),
        ("app ~ 'a'", "unexpected '~'"),
    ],
)
def test_syntax_errors_say_where(selector: str, message: str) -> None:
    with pytest.raises(SelectorSyntaxError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_selector(selector)


def test_round_trip_and_required_label() -> None:
    expression = parse_selector("tier == 'front' && (app == 'web' || !has(x))")
    assert str(expression) == "tier == 'front' && (app == 'web' || !has(x))"
    assert parse_selector(str(expression)) == expression
    assert expression.required_label == ("tier", "front")
    assert parse_selector("app == 'a' || app == 'b'").required_label is None
