"""report.json's text is what ``json.dumps`` gives, though orjson writes it."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("hypothesis")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from outputs.report.json_report import dumps  # noqa: E402


def reference(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


texts = st.text(st.characters(), max_size=12)  # controls, quotes, astral, surrogates
scalars = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | texts
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=600, deadline=None)
@given(st.dictionaries(texts, values, max_size=6))
def test_the_text_is_what_json_dumps_writes(data: dict[str, Any]) -> None:
    assert dumps(data) == reference(data)


def test_what_a_report_holds_is_written_by_orjson_the_same() -> None:
    data = {
        "é": [{"b": None, "a": True}, [], {}],
        '\x01\x1f\x7f"\\\n\t': 2**63 - 1,
        "\U0001f600": "\u2028\ufeff",
    }
    assert dumps(data) == reference(data)
    assert dumps({"big": 2**64}) == reference({"big": 2**64})  # past orjson: json writes it
