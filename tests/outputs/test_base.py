from __future__ import annotations

from pathlib import Path

import pytest

from learner.model.errors import UsageError
from outputs.base import write_tree


@pytest.mark.parametrize(
    "relative",
    ["../escaped.yaml", "a/../../escaped.yaml", "/abs/escaped.yaml", "..", "a//b.yaml", "./a"],
)
def test_write_tree_refuses_paths_that_leave_the_output_directory(
    relative: str, tmp_path: Path
) -> None:
    out = tmp_path / "x" / "out"
    with pytest.raises(UsageError, match="refusing to write"):
        write_tree({relative: "kind: Secret\n"}, str(out))
    assert not list(tmp_path.rglob("escaped.yaml"))
    assert not out.exists()


def test_write_tree_writes_plain_relative_paths(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree({"ns/a.yaml": "a: 1\n", "kustomization.yaml": "b: 2\n"}, str(out))
    assert (out / "ns" / "a.yaml").read_text() == "a: 1\n"


def test_write_tree_writes_the_text_as_utf8_bytes_untranslated(tmp_path: Path) -> None:
    out = tmp_path / "out"
    text = "# caf\u00e9 \u2014 \U0001f600\r\nkind: NetworkPolicy\n"
    write_tree({"a/b/c.yaml": text, "a/d.yaml": "x\n"}, str(out))
    assert (out / "a" / "b" / "c.yaml").read_bytes() == text.encode("utf-8")
    assert (out / "a" / "d.yaml").read_bytes() == b"x\n"
