from __future__ import annotations

import pytest

from learner.model.fqdn import (
    fqdn_selectors,
    is_public_suffix,
    is_valid_name,
    normalize_name,
    selector_matches,
)

BUCKETS = ("logs.s3.amazonaws.com", "assets.s3.amazonaws.com", "backup.s3.amazonaws.com")


def test_names_are_normalised_deduplicated_and_sorted() -> None:
    names = ["API.GitHub.com.", "api.github.com", "example.org", " example.org "]
    assert fqdn_selectors(names) == ("api.github.com", "example.org")


def test_invalid_names_are_left_out() -> None:
    assert fqdn_selectors(["good.example.com", "bad..example.com", "sp ace.com", ""]) == (
        "good.example.com",
    )


def test_without_budget_every_name_stays_exact() -> None:
    assert fqdn_selectors(BUCKETS) == tuple(sorted(BUCKETS))


def test_siblings_collapse_to_a_pattern_when_the_budget_allows() -> None:
    names = (*BUCKETS, "api.github.com")
    assert fqdn_selectors(names, max_overreach=1) == ("*.s3.amazonaws.com", "api.github.com")


def test_too_few_siblings_stay_exact() -> None:
    names = BUCKETS[:2]
    assert fqdn_selectors(names, max_overreach=5) == tuple(sorted(names))
    assert fqdn_selectors(names, max_overreach=5, min_siblings=2) == ("*.s3.amazonaws.com",)


@pytest.mark.parametrize(
    "names",
    [
        ("a.com", "b.com", "c.com", "d.com"),
        ("ec2.amazonaws.com", "sts.amazonaws.com", "sqs.amazonaws.com"),
        ("x.co.uk", "y.co.uk", "z.co.uk"),
        ("a-1.us-east-1.elb.amazonaws.com", "b-2.us-east-1.elb.amazonaws.com", "c.us-east-1.elb.amazonaws.com"),
        ("one.herokuapp.com", "two.herokuapp.com", "three.herokuapp.com"),
        ("db.shop.svc.cluster.local", "api.shop.svc.cluster.local", "x.shop.svc.cluster.local"),
    ],
)  # fmt: skip
def test_public_and_shared_suffixes_never_become_patterns(names: tuple[str, ...]) -> None:
    selectors = fqdn_selectors(names, max_overreach=10)
    parents = {n.partition(".")[2] for n in names}
    # The shared cluster.local case may collapse one level down, never onto the suffix itself.
    assert not any(s == f"*.{p}" and is_public_suffix(p) for s in selectors for p in parents)
    assert not any(
        s in ("*.com", "*.amazonaws.com", "*.co.uk", "*.herokuapp.com") for s in selectors
    )


def test_budget_goes_to_the_parents_covering_most_names() -> None:
    api = ("a.api.example.com", "b.api.example.com", "c.api.example.com")
    cdn = ("1.cdn.example.net", "2.cdn.example.net", "3.cdn.example.net", "4.cdn.example.net")
    assert fqdn_selectors((*api, *cdn), max_overreach=1) == ("*.cdn.example.net", *api)
    assert fqdn_selectors((*api, *cdn), max_overreach=2) == (
        "*.api.example.com",
        "*.cdn.example.net",
    )


def test_selectors_admit_every_input_name() -> None:
    names = (*BUCKETS, "api.github.com", "a.b.example.org", "x.example.org", "y.example.org",
             "z.example.org")  # fmt: skip
    for budget in (0, 1, 3):
        selectors = fqdn_selectors(names, max_overreach=budget)
        for name in names:
            assert any(selector_matches(s, name) for s in selectors), (budget, name)


def test_order_of_input_does_not_matter() -> None:
    names = [*BUCKETS, "api.github.com", "z.example.org"]
    assert fqdn_selectors(names, max_overreach=1) == fqdn_selectors(
        list(reversed(names)), max_overreach=1
    )


@pytest.mark.parametrize(
    ("selector", "name", "expected"),
    [
        ("api.github.com", "API.github.com.", True),
        ("api.github.com", "github.com", False),
        ("*.s3.amazonaws.com", "logs.s3.amazonaws.com", True),
        ("*.s3.amazonaws.com", "s3.amazonaws.com", False),
        ("*.s3.amazonaws.com", "a.b.s3.amazonaws.com", False),
        ("sub*.cilium.io", "subdomain.cilium.io", True),
        ("sub*.cilium.io", "www.cilium.io", False),
        ("*cilium.io", "cilium.io", True),
        ("*cilium.io", "www.cilium.io", True),
        ("*cilium.io", "a.b.cilium.io", False),
        ("**.cilium.io", "a.b.cilium.io", True),
        ("**.cilium.io", "cilium.io", False),
        ("*", "anything.at.all", True),
    ],
)
def test_selector_matching_follows_cilium(selector: str, name: str, expected: bool) -> None:
    assert selector_matches(selector, name) is expected


def test_validity_follows_ciliums_name_syntax() -> None:
    assert is_valid_name("a-b_c.example.com.")
    assert not is_valid_name("a..b")
    assert not is_valid_name(".a")
    assert not is_valid_name("a b")
    # A long invalid name is rejected without exponential backtracking.
    assert not is_valid_name("a" * 5000 + "!")


def test_normalize_name() -> None:
    assert normalize_name(" WWW.Example.COM. ") == "www.example.com"
