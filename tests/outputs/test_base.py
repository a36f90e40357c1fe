from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from learner.model.errors import UsageError
from outputs.base import stage_tree, write_tree
from outputs.bundle import stage_bundle


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


def test_a_staged_tree_is_in_place_only_once_committed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree({"a.yaml": "old\n"}, str(out))
    staged = stage_tree({"a.yaml": "new\n"}, str(out))
    assert (out / "a.yaml").read_text() == "old\n"
    staged.commit()
    assert (out / "a.yaml").read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the old tree is gone
    stage_tree({"a.yaml": "newer\n"}, str(out)).discard()
    assert (out / "a.yaml").read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_bundle_whose_report_cannot_be_staged_stages_nothing(tmp_path: Path) -> None:
    reports = tmp_path / "out-report"
    reports.mkdir()
    (reports / "notes.txt").write_text("not ours\n")
    with pytest.raises(UsageError, match="refusing to replace"):
        stage_bundle({"a.yaml": "a: 1\n", "report.md": "# r\n"}, str(tmp_path / "out"), None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out-report"]


def test_a_tree_that_cannot_be_put_in_place_leaves_the_old_one(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree({"a.yaml": "old\n"}, str(out))
    staged = stage_tree({"a.yaml": "new\n"}, str(out))
    shutil.rmtree(staged.staging)  # its rename into place fails
    with pytest.raises(FileNotFoundError):
        staged.commit()
    assert (out / "a.yaml").read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
