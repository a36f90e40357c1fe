from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest

from learner.app.console import Env
from learner.cli.program import main
from outputs.base import FORMATS

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")


def completion_script(shell: str) -> str:
    env = Env(io.StringIO(), io.StringIO())
    assert main(["completion", shell], env=env) == 0
    return env.stdout.getvalue()  # type: ignore[attr-defined,no-any-return]


def complete(tmp_path: Path, *words: str) -> list[str]:
    """What bash offers for the last word of ``netpol-learner WORDS...``."""
    script = tmp_path / "complete.bash"
    script.write_text(completion_script("bash"))
    line = " ".join(f"'{word}'" for word in ("netpol-learner", *words))
    program = (
        f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words)}; "
        '_netpol_learner_complete; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-c", program],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    return [word for word in done.stdout.splitlines() if word]


def test_subcommands_complete(tmp_path: Path) -> None:
    assert complete(tmp_path, "gen") == ["generate"]
    assert "verify" in complete(tmp_path, "")


def test_flags_of_the_subcommand_complete(tmp_path: Path) -> None:
    offered = complete(tmp_path, "generate", "--for")
    assert offered == ["--format"]


def test_flag_choices_complete(tmp_path: Path) -> None:
    offered = complete(tmp_path, "generate", "--format", "")
    assert set(offered) == set(FORMATS)


def test_paths_complete_where_no_word_list_applies(tmp_path: Path) -> None:
    (tmp_path / "flows.jsonl").write_text("")
    assert "flows.jsonl" in complete(tmp_path, "generate", "flo")


def test_zsh_script_loads_bash_completion_support() -> None:
    assert completion_script("zsh").startswith("autoload -U +X bashcompinit && bashcompinit\n")
