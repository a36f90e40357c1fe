from __future__ import annotations

import io
import json

import pytest

from collectors import jsonstream
from collectors.jsonstream import JSONProblem, JSONValue, iter_json_values


def values(text: str) -> list[JSONValue | JSONProblem]:
    return list(iter_json_values(io.StringIO(text), "", 1))


@pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
def test_tokens_cut_by_a_chunk_end_are_completed(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jsonstream, "CHUNK_CHARS", chunk)
    items = [{"n": -1.2345e67, "ok": False, "s": "x" * 30, "z": None}, {"l": [1, 2, 3]}, "tail"]
    text = "\n".join(json.dumps(item, indent=2) for item in items) + "\n"
    found = values(text)
    assert [v.value for v in found if isinstance(v, JSONValue)] == items
    assert [v.line for v in found if isinstance(v, JSONValue)] == [1, 7, 14]


def test_an_array_on_one_line() -> None:
    found = values('[{"a": 1}, {"a": 2}]')
    assert [v.value for v in found if isinstance(v, JSONValue)] == [{"a": 1}, {"a": 2}]


def test_a_broken_value_is_reported_and_reading_resumes_at_the_next_sibling() -> None:
    text = '{\n  "a": 1\n}\n{\n  "a": ,\n}\n{\n  "a": 3\n}\n'
    found = values(text)
    assert isinstance(found[1], JSONProblem) and found[1].line == 5 and found[1].resumed
    assert [v.value for v in found if isinstance(v, JSONValue)] == [{"a": 1}, {"a": 3}]
