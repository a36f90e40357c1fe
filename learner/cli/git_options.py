"""``learn --git-repo URL --git-branch BRANCH``: publish each material, Stable proposal to git."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from learner.app.git_publish import DEFAULT_AUTHOR, DEFAULT_MESSAGE, GitPublisher, GitTarget
from learner.model.durations import parse_duration
from learner.model.errors import UsageError

if TYPE_CHECKING:
    from learner.app.git_loop import ProposalPublishing
    from learner.ingest.state import StateStore

DEFAULT_PATH = "netpol-learner"


def add_git_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "pull request",
        "commit the proposal and report to a branch when a manifest changed and every changed "
        "workload is Stable; push with git's own credentials (SSH key or credential helper)",
    )
    group.add_argument(
        "--git-repo",
        metavar="URL",
        default="",
        help="repository to push to (ssh://, https://, git@host:path or a path; default: off)",
    )
    group.add_argument(
        "--git-branch", metavar="BRANCH", default="", help="branch to commit to (never forced)"
    )
    group.add_argument(
        "--git-path",
        metavar="DIR",
        default=DEFAULT_PATH,
        help=f"directory inside the repository that holds the proposal (default {DEFAULT_PATH})",
    )
    group.add_argument(
        "--git-author",
        metavar="'NAME <EMAIL>'",
        default=DEFAULT_AUTHOR,
        help=f"author and committer of the commits (default {DEFAULT_AUTHOR})",
    )
    group.add_argument(
        "--git-message",
        metavar="TEMPLATE",
        default=DEFAULT_MESSAGE,
        help="commit message; fields {policies} {workloads} {edges} {branch} "
        f"(default {DEFAULT_MESSAGE!r})",
    )
    group.add_argument(
        "--git-workdir",
        metavar="DIR",
        default="",
        help="the learner's own clone (default: beside --state, STATE.git)",
    )
    group.add_argument(
        "--git-timeout",
        metavar="D",
        default="2m",
        help="longest a single git command may take (default 2m)",
    )


def git_target_from_args(args: argparse.Namespace) -> GitTarget | None:
    """The git target, checked before learning starts; None without ``--git-repo``."""
    if not args.git_repo:
        if args.git_branch:
            raise UsageError("--git-branch needs --git-repo")
        return None
    if not args.git_branch:
        raise UsageError("--git-repo needs --git-branch (the branch to commit to)")
    timeout = parse_duration(args.git_timeout, "--git-timeout")
    if timeout <= 0:
        raise UsageError("--git-timeout must be > 0")
    return GitTarget(
        repo=args.git_repo,
        branch=args.git_branch,
        workdir=args.git_workdir or os.path.abspath(args.state) + ".git",
        path=args.git_path,
        author=args.git_author,
        message=args.git_message,
        timeout=timeout,
    )


def publishing_for(target: GitTarget | None, state: StateStore) -> ProposalPublishing | None:
    from learner.app.git_loop import ProposalPublishing

    return ProposalPublishing(GitPublisher(target), state) if target else None
