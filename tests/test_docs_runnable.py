"""The shell blocks marked runnable in README.md and docs/ run, in order, on the bundled examples.

A block is runnable when the line before its opening ```sh fence is ``<!-- runnable -->``, or
``<!-- runnable exit=N -->`` when its last command is meant to exit N (see docs/contributing.md).
Every command in it must be a ``netpol-learner`` command; they run in a temporary directory
holding a copy of ``examples/``, page by page, and must each exit 0 unless the marker says.
"""

from __future__ import annotations

import io
import re
import shlex
import shutil
from pathlib import Path

import pytest

from learner.app.console import Env
from learner.cli.program import main

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = re.compile(r"^<!-- runnable(?: exit=(\d+))? -->$")


def runnable_commands(text: str) -> list[tuple[str, int]]:
    """(command, expected exit status) of the marked ```sh blocks, lines joined, comments dropped."""
    commands: list[tuple[str, int]] = []
    lines = text.splitlines()
    for number, line in enumerate(lines):
        marker = MARKER.match(line.strip())
        if not marker:
            continue
        fence = lines[number + 1] if number + 1 < len(lines) else ""
        assert fence.strip() == "```sh", f"line {number + 1}: {line} must precede a ```sh fence"
        block = []
        for body in lines[number + 2 :]:
            if body.startswith("```"):
                break
            block.append(body)
        joined = "\n".join(block).replace("\\\n", " ")
        block_commands = [" ".join(c.split(" #", 1)[0].split()) for c in joined.splitlines()]
        block_commands = [c for c in block_commands if c and not c.startswith("#")]
        assert block_commands, f"line {number + 1}: an empty runnable block"
        commands.extend((command, 0) for command in block_commands[:-1])
        commands.append((block_commands[-1], int(marker[1] or 0)))
    return commands


def test_marked_blocks_are_found_and_unmarked_ones_left_alone() -> None:
    page = (
        "```sh\nnetpol-learner never-run\n```\n"
        "<!-- runnable -->\n```sh\n# a comment\nnetpol-learner generate a \\\n  --output-dir b  # why\n```\n"
        "<!-- runnable exit=1 -->\n```sh\nnetpol-learner x\nnetpol-learner y\n```\n"
    )
    assert runnable_commands(page) == [
        ("netpol-learner generate a --output-dir b", 0),
        ("netpol-learner x", 0),
        ("netpol-learner y", 1),
    ]


RUNNABLE = [p for p in PAGES if runnable_commands(p.read_text(encoding="utf-8"))]


def test_the_front_page_has_runnable_examples() -> None:
    assert ROOT / "README.md" in RUNNABLE


@pytest.mark.parametrize("page", RUNNABLE, ids=lambda p: str(p.relative_to(ROOT)))
def test_runnable_blocks_run_on_the_examples(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    for command, expected in runnable_commands(page.read_text(encoding="utf-8")):
        argv = shlex.split(command)
        assert argv[0] == "netpol-learner", f"{command}: only netpol-learner commands run here"
        out, err = io.StringIO(), io.StringIO()
        status = main(argv[1:], env=Env(out, err))
        assert status == expected, f"{page.name}: `{command}` exited {status}: {err.getvalue()}"
