"""A run's writing waits for its self-check: with several cores the check runs beside the
report and the writing (learner/app/run.py), and a proposal that fails it is never put in
place of the good one."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from learner.app import run, selfcheck
from learner.app.console import Env
from learner.app.run import learn_and_render
from learner.model.config import LearnConfig
from learner.model.errors import SelfCheckError
from tests.learner.app.test_selfcheck import broken_files
from tests.outputs.report.test_proposal_report import real_samples


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def generate(out: Path, jobs: int) -> None:
    env = Env(stdout=io.StringIO(), stderr=io.StringIO())
    learn_and_render(
        inputs=[str(real_samples())], output=str(out), config=LearnConfig(), env=env, jobs=jobs
    )


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_proposal_that_fails_its_check_leaves_the_good_one_in_place(
    jobs: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selfcheck, "ASIDE_MIN_EDGES", 0)  # the capture is a small run
    out = tmp_path / "policies"
    generate(out, jobs)
    written = tree(out)
    report = tree(tmp_path / "policies-report")
    assert written and report
    rendered = run.render_policies
    monkeypatch.setattr(
        run, "render_policies", lambda *args, **kwargs: broken_files(rendered(*args, **kwargs))
    )
    with pytest.raises(SelfCheckError, match="would deny"):
        generate(out, jobs)
    assert tree(out) == written
    assert tree(tmp_path / "policies-report") == report
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policies", "policies-report"]


def test_a_check_aside_writes_what_a_check_here_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here, aside = tmp_path / "here", tmp_path / "aside"  # one name: report.md links to it
    generate(here / "policies", jobs=1)
    monkeypatch.setattr(selfcheck, "ASIDE_MIN_EDGES", 0)
    generate(aside / "policies", jobs=2)
    assert tree(aside) == tree(here)
