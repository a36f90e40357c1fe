from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from outputs.yamlio import Commented, dump, dump_all, plain_data, scalar

TRICKY = ["true", "yes", "on", "off", "no", "y", "n", "010", "1e3", "0x1F", "0o17", "null", "~",
          "", "1_000", "10:20", "-1", "+1", ".5", "1.", "a: b", "#x", "x #y", "'q'", '"d"',
          "@at", "*star", "&amp", "!tag", "%pct", "{a}", "[a]", "a,b", "NULL", "True", "-",
          " lead", "trail ", "multi\nline", "ünïcode", "1.2.3.4/32", "::/0"]  # fmt: skip


@pytest.mark.parametrize("value", TRICKY)
def test_strings_stay_strings(value: str) -> None:
    text = dump({"labels": {"k": value}, "list": [value]})
    loaded = yaml.safe_load(text)
    assert loaded == {"labels": {"k": value}, "list": [value]}


@given(st.text("abyYnNoOtTfFeElLuU019._/:@-~", min_size=1, max_size=8))
def test_a_plain_string_is_quoted_exactly_when_yaml_would_read_it_otherwise(value: str) -> None:
    try:
        read_otherwise = yaml.safe_load(value) != value
    except yaml.YAMLError:
        read_otherwise = True
    if read_otherwise:
        assert scalar(value) != value
    assert yaml.safe_load(f"k: {scalar(value)}") == {"k": value}


def test_plain_strings_are_not_quoted() -> None:
    assert scalar("app.kubernetes.io/name") == "app.kubernetes.io/name"
    assert scalar("web-frontend") == "web-frontend"
    assert scalar("10.0.0.0/8") == "10.0.0.0/8"


def test_comments_do_not_change_data() -> None:
    doc = {
        "spec": {
            "ingress": [
                Commented({"from": [{"podSelector": {}}], "ports": [{"port": 80}]}, "why\nmore"),
                Commented({"ports": [{"port": 81}]}, "single"),
            ],
            "egress": [],
            "name": Commented("x", "trailing"),
        }
    }
    text = dump(doc)
    assert "# why" in text and "# more" in text and "name: x  # trailing" in text
    assert yaml.safe_load(text) == plain_data(doc)


def test_same_input_same_bytes_and_order_kept() -> None:
    doc = {"b": 1, "a": [{"z": 1, "y": 2}], "c": {}}
    assert dump(doc) == dump(dict(doc))
    assert dump(doc).index("b:") < dump(doc).index("a:")


def test_dump_all_separates_documents() -> None:
    text = dump_all([{"a": 1}, {"b": 2}], header="hello")
    assert list(yaml.safe_load_all(text)) == [{"a": 1}, {"b": 2}]
    assert text.startswith("# hello\n")


@pytest.mark.parametrize(
    "value",
    ["\x7f", "a\x85b", "\u2028", "\ufeffx", "\x9f", 1e-05, 1e16, -2.5e-300, 0.1, "A\n", "1\n"],
)
def test_values_the_fuzzer_found_read_back_exactly(value: object) -> None:
    assert yaml.safe_load(dump({"k": value})) == {"k": value}
    assert yaml.safe_load(dump({value: "v"})) == {value: "v"}
