"""The learning-mode → pull-request loop against a real git daemon on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from learner.app.git_publish import (
    GitPublisher,
    GitPublishError,
    GitTarget,
    PublishResult,
    unstable_changed_workloads,
)
from learner.model.errors import UsageError
from tests.git_server import GitServer, clone, free_port, git

POLICY = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: {name}\n"
FIELDS = {"policies": 1, "workloads": 1, "edges": 3}


def bundle(name: str = "api", report: str = "# report\n") -> dict[str, str]:
    return {
        f"shop/{name}.yaml": POLICY.format(name=name),
        "kustomization.yaml": "resources: []\n",
        "report.md": report,
        "status.json": "{}\n",
        ".netpol-learner": "marker\n",
    }


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GitServer]:
    base = tmp_path / "served"
    base.mkdir()
    with GitServer(base) as running:
        running.bare("cluster", seed={"README.md": "humans live here\n"})
        yield running


def publisher(server: GitServer, tmp_path: Path, **changes: object) -> GitPublisher:
    settings: dict[str, object] = {
        "repo": server.url("cluster"),
        "branch": "netpol-learner/proposal",
        "workdir": str(tmp_path / "work"),
        "path": "policies/learned",
        "author": "Learner Bot <bot@example.org>",
        "message": "learned {policies} policies for {workloads} workloads on {branch}",
        **changes,
    }
    return GitPublisher(GitTarget(**settings))  # type: ignore[arg-type]


def remote_log(server: GitServer, tmp_path: Path, name: str = "check") -> tuple[Path, list[str]]:
    checkout = clone(server.url("cluster"), tmp_path / name, "netpol-learner/proposal")
    return checkout, git("log", "--format=%an <%ae>|%s", cwd=checkout).splitlines()


def test_commits_the_bundle_on_top_of_the_default_branch_and_pushes(
    server: GitServer, tmp_path: Path
) -> None:
    outcome = publisher(server, tmp_path).publish(bundle(), FIELDS)
    assert outcome.result is PublishResult.PUSHED and len(outcome.commit) == 40
    checkout, log = remote_log(server, tmp_path)
    assert log[0] == "Learner Bot <bot@example.org>|learned 1 policies for 1 workloads on " + (
        "netpol-learner/proposal"
    )
    assert log[1].endswith("|seed")  # branched from main, which stays as it was
    learned = checkout / "policies" / "learned"
    assert (learned / "shop" / "api.yaml").read_text() == POLICY.format(name="api")
    assert (learned / "report.md").is_file() and (checkout / "README.md").is_file()
    assert not (learned / "status.json").exists() and not (learned / ".netpol-learner").exists()
    assert git("rev-parse", "HEAD", cwd=checkout).strip() == outcome.commit


def test_a_report_only_change_is_not_material(server: GitServer, tmp_path: Path) -> None:
    first = publisher(server, tmp_path)
    assert first.publish(bundle(), FIELDS).result is PublishResult.PUSHED
    again = first.publish(bundle(report="# numbers moved\n"), FIELDS)
    assert again.result is PublishResult.UNCHANGED
    assert len(remote_log(server, tmp_path)[1]) == 2
    changed = first.publish(bundle(name="db"), FIELDS)
    assert changed.result is PublishResult.PUSHED
    checkout, log = remote_log(server, tmp_path, "after")
    assert len(log) == 3
    assert not (checkout / "policies/learned/shop/api.yaml").exists()  # replaced whole


def test_a_human_commit_on_the_branch_is_kept_and_built_upon(
    server: GitServer, tmp_path: Path
) -> None:
    ours = publisher(server, tmp_path)
    ours.publish(bundle(), FIELDS)
    human = clone(server.url("cluster"), tmp_path / "human", "netpol-learner/proposal")
    (human / "policies" / "learned" / "NOTES.md").write_text("reviewed by a human\n")
    git("add", "-A", cwd=human)
    git("commit", "-q", "-m", "review notes", cwd=human)
    git("push", "-q", "origin", "HEAD", cwd=human)
    theirs = git("rev-parse", "HEAD", cwd=human).strip()

    outcome = ours.publish(bundle(name="db"), FIELDS)  # our clone is now behind

    assert outcome.result is PublishResult.PUSHED
    checkout, log = remote_log(server, tmp_path)
    assert [line.split("|")[1] for line in log[1:]][0] == "review notes"
    git("merge-base", "--is-ancestor", theirs, outcome.commit, cwd=checkout)
    # their file sat inside our directory, which we replace: it is gone from the new tree,
    # but their commit is history, never overwritten by a force-push
    assert (checkout / "policies/learned/shop/db.yaml").exists()


def test_a_push_the_server_refuses_is_an_error_and_changes_nothing(
    server: GitServer, tmp_path: Path
) -> None:
    hook = server.base / "cluster.git" / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'branch protected: open a PR instead' >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(GitPublishError, match="refused.*(pre-receive|protected)"):
        publisher(server, tmp_path).publish(bundle(), FIELDS)
    branches = git("ls-remote", "--heads", server.url("cluster"))
    assert "netpol-learner/proposal" not in branches


def test_an_unreachable_remote_is_an_error_naming_it(tmp_path: Path) -> None:
    closed = f"git://127.0.0.1:{free_port()}/cluster.git"
    target = GitTarget(
        repo=closed, branch="proposal", workdir=str(tmp_path / "work"), path="p", timeout=20
    )
    with pytest.raises(GitPublishError, match="git fetch failed"):
        GitPublisher(target).publish(bundle(), FIELDS)


def test_an_empty_repository_gets_the_branch_as_its_first_commit(
    server: GitServer, tmp_path: Path
) -> None:
    server.bare("empty")
    outcome = publisher(server, tmp_path, repo=server.url("empty")).publish(bundle(), FIELDS)
    assert outcome.result is PublishResult.PUSHED
    checkout = clone(server.url("empty"), tmp_path / "c", "netpol-learner/proposal")
    assert len(git("log", "--oneline", cwd=checkout).splitlines()) == 1


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"path": "."}, "--git-path"),
        ({"path": "../x"}, "--git-path"),
        ({"author": "no email"}, "--git-author"),
        ({"message": "{nope}"}, "--git-message"),
        ({"branch": "-x"}, "--git-branch"),
    ],
)
def test_settings_that_would_do_harm_are_refused_up_front(
    change: dict[str, str], complaint: str, tmp_path: Path
) -> None:
    settings = {"repo": "git://127.0.0.1/x", "branch": "b", "workdir": str(tmp_path), **change}
    with pytest.raises(UsageError, match=complaint):
        GitTarget(**settings)  # type: ignore[arg-type]


def test_only_changed_workloads_that_are_not_stable_hold_a_publication() -> None:
    statuses = [("shop/api", "Stable", 50.0), ("shop/db", "Learning", 10.0)]
    assert unstable_changed_workloads(statuses, published_clock=20.0) == []
    assert unstable_changed_workloads(statuses, published_clock=5.0) == ["shop/db"]
