"""Fuzzing the YAML writer: any document it is given reads back exactly (YAML 1.1 loaders).

Profiles: tests/fuzzing.py (a long run: NETPOL_FUZZ_PROFILE=long).
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("hypothesis")

import yaml  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import tests.fuzzing  # noqa: E402, F401 - loads the profile
from outputs.yamlio import Commented, dump, dump_all, plain_data  # noqa: E402

TEXT = st.text(max_size=30) | st.sampled_from(
    ["yes", "No", "on", "~", "null", "010", "0x1F", "1e3", "1_000", ".inf", "- a", "a: b",
     "#x", "'q'", '"q"', "a\nb: c", " lead", "trail ", "\t", "*ref", "&anchor", "!tag",
     "%x", "@x", "`x", "2026-12-04", "12:30:00", "=", "<<", "\u2028", "\x85", "\ufeff"]
)  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=20,
)
DOCUMENTS = st.dictionaries(TEXT, VALUES, min_size=1, max_size=5)


@given(document=DOCUMENTS)
def test_fuzz_yaml_round_trip(document: dict[str, Any]) -> None:
    text = dump(document)
    assert yaml.safe_load(text) == document
    assert list(text.documents) == [document]  # what the self-check reads instead
    assert dump(document) == text  # deterministic


@given(documents=st.lists(DOCUMENTS, min_size=1, max_size=3))
def test_fuzz_yaml_round_trip_of_several_documents(documents: list[dict[str, Any]]) -> None:
    text = dump_all(documents)
    assert list(yaml.safe_load_all(text)) == documents
    assert list(text.documents) == documents


COMMENTS = st.text(max_size=40) | st.sampled_from(
    ["a\rb: 1", "x\x85y: 2", "\u2028z: 3", "evil\x01.example.com", "\ud800", "\x7f", "", " ",
     "# nested", "multi\nline\ncomment"]
)  # fmt: skip
COMMENTED = st.recursive(
    SCALARS | st.builds(Commented, SCALARS, COMMENTS),
    lambda children: (
        st.lists(children, max_size=3).map(list)
        | st.dictionaries(TEXT, children, max_size=3)
        | st.builds(Commented, st.lists(children, min_size=1, max_size=3), COMMENTS)
        | st.builds(Commented, st.dictionaries(TEXT, children, min_size=1, max_size=3), COMMENTS)
    ),
    max_leaves=12,
)


@given(document=st.dictionaries(TEXT, COMMENTED, min_size=1, max_size=4))
def test_fuzz_comments_never_change_what_the_yaml_reads_back(document: dict[str, Any]) -> None:
    """Comments carry flow data (DNS names, workload names): whatever they hold, the text
    parses, to exactly the data it carries for the self-check."""
    text = dump(document, header="header\rinjected: 1")
    assert yaml.safe_load(text) == plain_data(document)
    assert list(text.documents) == [plain_data(document)]
