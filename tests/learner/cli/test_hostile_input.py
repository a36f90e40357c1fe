"""Hostile or damaged input is an input error (exit 2), never a crash (issue 11, item 5)."""

from __future__ import annotations

import io
import os
import random
from pathlib import Path

from learner.app.console import Env
from learner.cli.program import main
from outputs.report.markdown import md_escape
from outputs.report.mermaid import GraphEdge, GraphNode, charts
from tests.hubble_server import REAL_CAPTURE

TCP = REAL_CAPTURE / "basic-sample-400-tcp-flows.jsonl"


def run(*argv: str) -> tuple[int, str, str]:
    env = Env(io.StringIO(), io.StringIO())
    code = main(list(argv), env=env)
    return code, env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]


def test_deeply_nested_first_record_is_an_input_error(tmp_path: Path) -> None:
    flows = tmp_path / "nested.json"
    flows.write_text("[" * 70_000 + "]" * 70_000 + "\n" + TCP.read_text())
    code, _, err = run("generate", str(flows), "-o", str(tmp_path / "out"))
    assert code == 2, err
    assert f"{flows}:1: " in err and "nested too deeply" in err
    assert "internal error" not in err


def test_invalid_utf8_is_malformed_under_strict(tmp_path: Path) -> None:
    lines = TCP.read_bytes().splitlines(keepends=True)
    bad = lines[2].replace(b'"kind-control-plane"', b'"kind-\xffcontrol-plane"', 1)
    assert bad != lines[2]
    flows = tmp_path / "flows.jsonl"
    flows.write_bytes(b"".join([*lines[:2], bad, *lines[3:]]))
    code, _, err = run("generate", str(flows), "-o", str(tmp_path / "out"), "--strict")
    assert code == 2
    assert f"{flows}:3: invalid UTF-8" in err
    code, _, _ = run("generate", str(flows), "-o", str(tmp_path / "lenient"))
    assert code == 0


def test_a_damaged_state_file_is_exit_2_with_a_recovery_hint(tmp_path: Path) -> None:
    state = tmp_path / "learn.db"
    assert run("ingest", str(REAL_CAPTURE), "--state", str(state))[0] == 0
    size = os.path.getsize(state)
    assert size > 64 * 1024
    with open(state, "r+b") as handle:
        handle.seek(size // 2)
        handle.write(random.Random(11).randbytes(8192))
    code, _, err = run("export", "--state", str(state), "-o", str(tmp_path / "out"))
    assert code == 2, err
    assert "damaged" in err and "PRAGMA integrity_check" in err
    assert "internal error" not in err


def test_names_cannot_break_out_of_mermaid_or_markdown() -> None:
    evil = 'web\n```\n# owned\n<script>"`'
    node = GraphNode(group="ns\n```", label=evil, key="a")
    other = GraphNode(group="ns", label="b", key="b")
    (chart,) = charts([GraphEdge(node, other, evil)])
    block = chart.block
    inner = block.splitlines()[1:-1]
    assert block.startswith("```mermaid\n") and block.endswith("\n```")
    assert not any(line.lstrip().startswith(("```", "#")) for line in inner)
    assert "<script>" not in block
    escaped = md_escape(evil)
    assert "\n" not in escaped and "`" not in escaped and "<" not in escaped
