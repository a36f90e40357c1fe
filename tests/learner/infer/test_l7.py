from __future__ import annotations

import random
import re

import pytest

from learner.infer.l7 import (
    escape_literal,
    generalize_http,
    generalize_http_report,
    http_rule_allows,
    request_target,
)
from learner.model.policy import HTTPRule

UUID_A = "0b7e2f1c-9a2d-4e0b-8f1e-0123456789ab"
UUID_B = "f00dcafe-1234-4abc-9def-00000000beef"


def allows(rules: tuple[HTTPRule, ...], method: str, path: str) -> bool:
    return any(http_rule_allows(rule, method, path) for rule in rules)


def test_distinct_numeric_ids_become_a_number_class() -> None:
    rules = generalize_http([("GET", "/api/v1/users/123"), ("GET", "/api/v1/users/456")])
    assert [r.path for r in rules] == ["^/api/v1/users/[0-9]+([?].*)?$"]
    assert allows(rules, "GET", "/api/v1/users/789")
    assert not allows(rules, "GET", "/api/v1/users/abc")
    assert not allows(rules, "GET", "/api/v1/users/1/delete")


def test_a_single_number_stays_literal() -> None:
    rules = generalize_http([("GET", "/api/1/status")])
    assert allows(rules, "GET", "/api/1/status")
    assert not allows(rules, "GET", "/api/2/status")


def test_uuids_and_long_hex_ids_are_generalised_even_alone() -> None:
    rules = generalize_http(
        [("GET", f"/orders/{UUID_A}"), ("GET", "/blobs/9f86d081884c7d659a2feaa0c55ad015")]
    )
    assert allows(rules, "GET", f"/orders/{UUID_B}")
    assert allows(rules, "GET", "/blobs/0123456789abcdef0123")
    assert not allows(rules, "GET", "/orders/not-a-uuid")
    assert not allows(rules, "GET", "/blobs/short1")


def test_literals_are_escaped_and_anchored() -> None:
    rules = generalize_http([("GET", "/v1.0/a+b/(x)")])
    assert allows(rules, "GET", "/v1.0/a+b/(x)")
    assert not allows(rules, "GET", "/v1x0/a+b/(x)")
    assert not allows(rules, "GET", "/v1.0/aab/(x)")
    assert not allows(rules, "GET", "/prefix/v1.0/a+b/(x)")
    assert not allows(rules, "GET", "/v1.0/a+b/(x)/more")
    assert all(r.path.startswith("^/") and r.path.endswith("$") for r in rules)


def test_query_strings_are_admitted_on_learned_paths_only() -> None:
    rules = generalize_http([("GET", "/search")])
    assert allows(rules, "GET", "/search?q=shoes&page=2")
    assert not allows(rules, "GET", "/searchx?q=1")


def test_full_urls_are_reduced_to_their_path() -> None:
    rules = generalize_http([("GET", "http://reviews:9080/reviews/0")])
    assert allows(rules, "GET", "/reviews/0")
    assert allows(rules, "GET", "http://reviews:9080/reviews/0")
    assert request_target("http://h:1/a/b?x=1") == "/a/b?x=1"


def test_methods_are_kept_apart() -> None:
    rules = generalize_http([("get", "/items"), ("POST", "/items/7")])
    assert allows(rules, "GET", "/items")
    assert not allows(rules, "POST", "/items")
    assert not allows(rules, "GET", "/items/7")


def test_root_and_trailing_slash_survive_merging() -> None:
    requests = [("GET", "/"), ("GET", "/a/"), *(("GET", f"/p{i}") for i in range(30))]
    rules = generalize_http(requests, max_rules=2)
    for method, path in requests:
        assert allows(rules, method, path)


def test_many_literal_siblings_collapse_and_are_reported() -> None:
    requests = [("GET", f"/static/file{i}.js") for i in range(25)]
    report = generalize_http_report(requests, collapse_after=20)
    assert [r.path for r in report.rules] == ["^/static/[^/]+([?].*)?$"]
    assert len(report.collapsed) == 1
    assert "/static" in report.collapsed[0] and "25" in report.collapsed[0]


def test_few_literal_siblings_stay_literal() -> None:
    requests = [("GET", f"/static/file{i}.js") for i in range(5)]
    report = generalize_http_report(requests, collapse_after=20)
    assert len(report.rules) == 5
    assert report.collapsed == ()
    assert not allows(report.rules, "GET", "/static/other.js")


@pytest.mark.parametrize("max_rules", [1, 3, 10, 50])
def test_output_is_bounded_and_still_admits_every_request(max_rules: int) -> None:
    requests = [("GET", f"/a{i}/b{j}") for i in range(15) for j in range(8)]
    requests += [("POST", f"/api/v2/users/{i}") for i in range(40)]
    requests += [("GET", "/" + "/".join(["x"] * depth)) for depth in range(1, 8)]
    report = generalize_http_report(requests, max_rules=max_rules)
    assert len(report.rules) <= max(max_rules, 2)  # never fewer than one rule per method
    for method, path in requests:
        assert allows(report.rules, method, path), (max_rules, method, path)
    if len(report.rules) < 120:
        assert report.collapsed


def test_same_requests_in_any_order_give_the_same_rules() -> None:
    requests = [("GET", f"/u/{i}") for i in range(10)] + [("PUT", f"/o/{UUID_A}"), ("GET", "/")]
    shuffled = list(requests)
    random.Random(7).shuffle(shuffled)
    assert generalize_http(requests) == generalize_http(shuffled)


def test_generated_regexes_avoid_python_only_syntax() -> None:
    requests = [("GET", f"/u/{i}/x") for i in range(30)] + [("GET", f"/o/{UUID_A}")]
    for rule in generalize_http(requests, max_rules=3):
        assert "(?" not in rule.path and "\\d" not in rule.path
        re.compile(rule.path)


def test_empty_rule_fields_admit_anything() -> None:
    assert http_rule_allows(HTTPRule("", ""), "DELETE", "/anything")
    assert http_rule_allows(HTTPRule("GET|HEAD", ""), "HEAD", "/x")
    assert not http_rule_allows(HTTPRule("GET", ""), "GETX", "/x")


def test_escape_literal_round_trips() -> None:
    text = "a.b*c+d?e(f)[g]{h}|i\\j^k$l/-_"
    assert re.fullmatch(escape_literal(text), text)
    assert not re.fullmatch(escape_literal(text), text.replace(".", "x"))


def test_many_numeric_ids_stay_numeric_rather_than_any_segment() -> None:
    requests = [("GET", f"/users/{i}/orders") for i in range(100)]
    report = generalize_http_report(requests, collapse_after=20)
    assert [r.path for r in report.rules] == ["^/users/[0-9]+/orders([?].*)?$"]
    assert report.collapsed == ()
