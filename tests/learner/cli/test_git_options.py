"""learn's --git-* flags are checked before anything connects."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from learner.app.console import Env
from learner.cli.program import main
from learner.model.errors import ExitStatus


@pytest.mark.parametrize(
    ("flags", "complaint"),
    [
        (["--git-repo", "git://127.0.0.1/x.git"], "--git-repo needs --git-branch"),
        (["--git-branch", "b"], "--git-branch needs --git-repo"),
        (
            ["--git-repo", "git://127.0.0.1/x.git", "--git-branch", "b", "--git-path", "."],
            "--git-path",
        ),
        (
            ["--git-repo", "git://127.0.0.1/x.git", "--git-branch", "b", "--git-message", "{x}"],
            "--git-message",
        ),
    ],
)
def test_bad_git_settings_are_usage_errors(
    flags: list[str], complaint: str, tmp_path: Path
) -> None:
    err = io.StringIO()
    argv = ["learn", "--state", str(tmp_path / "s.db"), "--output-dir", str(tmp_path / "o"), *flags]
    status = main(argv, env=Env(io.StringIO(), err))
    assert status == ExitStatus.USAGE and complaint in err.getvalue()
    assert not (tmp_path / "s.db").exists()  # refused before the state was opened
