"""Learning mode → pull request: commit the proposal to a git branch and push it.

The real ``git`` binary does the work, with the credentials git itself finds (an SSH key and
known_hosts, or a credential helper, mounted from a Secret), so nothing here handles secrets.

Every publication starts again from the remote: fetch, check the branch out at the remote's
tip (or at the default branch when the branch does not exist yet), replace the proposal's
directory, commit if a manifest changed, push without force. When someone else pushed in
between, the push is refused as stale and the whole round runs again on top of their commit;
nobody's commit is ever overwritten.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from learner.model.errors import ExitStatus, NetpolLearnerError, UsageError
from outputs.networkpolicy import EVIDENCE_ANNOTATIONS

DEFAULT_MESSAGE = "netpol-learner: proposal for {workloads} workloads ({policies} policies)"
DEFAULT_AUTHOR = "netpol-learner <netpol-learner@users.noreply.github.com>"
MESSAGE_FIELDS = {"policies": 0, "workloads": 0, "edges": 0, "changed": "", "branch": ""}
LEFT_OUT = frozenset({"status.json", ".netpol-learner"})
"""Bundle files that describe the running learner, not the proposal: not committed."""
AUTHOR = re.compile(r"^\s*(?P<name>[^<>]+?)\s*<(?P<email>[^<>\s]+)>\s*$")


class PublishResult(Enum):
    PUSHED = "pushed"
    UNCHANGED = "unchanged"
    """No manifest differs from the branch: nothing to review."""
    WAITING = "waiting"
    """A changed workload is not Stable yet."""
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class GitTarget:
    repo: str
    branch: str
    workdir: str
    """A local clone that belongs to the learner (created when missing)."""
    path: str = "netpol-learner"
    """The directory inside the repository that holds the proposal, replaced whole."""
    author: str = DEFAULT_AUTHOR
    message: str = DEFAULT_MESSAGE
    attempts: int = 3
    timeout: float = 120.0

    def __post_init__(self) -> None:
        check_target(self)


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    result: PublishResult
    detail: str = ""
    commit: str = ""
    at: float = field(default_factory=time.time)

    def as_json(self) -> dict[str, object]:
        return {
            "result": self.result.value,
            "detail": self.detail,
            "commit": self.commit,
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at)),
        }


class GitPublishError(NetpolLearnerError):
    """A git command failed: the remote is unreachable, refused the push, or the clone broke."""

    exit_status = ExitStatus.SOURCE_UNAVAILABLE


def check_target(target: GitTarget) -> None:
    """Refuse, before learning starts, what would fail or do harm at the first publication."""
    parts = os.path.normpath(target.path).split(os.sep)
    if os.path.isabs(target.path) or parts[0] in (".", "..") or ".git" in parts:
        raise UsageError(
            f"--git-path {target.path!r}: name a directory inside the repository (it is "
            "replaced whole on every commit, so not the repository's root)"
        )
    if not target.branch or target.branch.startswith("-") or " " in target.branch:
        raise UsageError(f"--git-branch {target.branch!r} is not a branch name")
    if not AUTHOR.match(target.author):
        raise UsageError(f"--git-author {target.author!r}: write it as 'Name <email>'")
    try:
        target.message.format(**MESSAGE_FIELDS)
    except (KeyError, IndexError, ValueError) as error:
        fields = ", ".join("{" + name + "}" for name in MESSAGE_FIELDS)
        raise UsageError(f"--git-message: {error!s} (fields: {fields})") from None
    if target.attempts < 1:
        raise UsageError("the git publisher needs at least one attempt")


class GitPublisher:
    def __init__(self, target: GitTarget) -> None:
        self.target = target
        name_email = AUTHOR.match(target.author)
        assert name_email is not None  # checked in GitTarget
        self._name, self._email = name_email["name"], name_email["email"]

    # -- git ------------------------------------------------------------------------------

    def _git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        environment = {
            **os.environ,
            "GIT_TERMINAL_PROMPT": "0",  # a missing credential fails instead of waiting
            "GIT_AUTHOR_NAME": self._name,
            "GIT_AUTHOR_EMAIL": self._email,
            "GIT_COMMITTER_NAME": self._name,
            "GIT_COMMITTER_EMAIL": self._email,
        }
        command = ["git", "-C", self.target.workdir, *args]
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env=environment,
                timeout=self.target.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise GitPublishError(
                f"git {args[0]} timed out after {self.target.timeout:g}s"
            ) from None
        except FileNotFoundError:
            raise GitPublishError("the git executable is not installed") from None
        if check and done.returncode != 0:
            raise GitPublishError(f"git {args[0]} failed: {last_lines(done.stderr)}")
        return done

    # -- one publication ------------------------------------------------------------------

    def publish(self, files: Mapping[str, str], fields: Mapping[str, object]) -> PublishOutcome:
        """Commit ``files`` (a proposal bundle) under the target path and push the branch.

        Raises :class:`GitPublishError` when the remote cannot be reached or refuses the push.
        """
        stale = ""
        for _ in range(self.target.attempts):
            self._start_from_remote()
            changed = self._stage(files)
            manifests = [name for name in changed if name.endswith((".yaml", ".yml"))]
            if not manifests:
                self._git("reset", "-q", "--hard")
                return PublishOutcome(PublishResult.UNCHANGED, "no manifest changed")
            if not any(self._rules_changed(name) for name in manifests):
                self._git("reset", "-q", "--hard")
                return PublishOutcome(
                    PublishResult.UNCHANGED, "only flow counts and times moved; no rule changed"
                )
            message = self.target.message.format(
                **{**MESSAGE_FIELDS, **fields, "branch": self.target.branch}
            )
            self._git("commit", "-q", "--no-verify", "-m", message)
            commit = self._git("rev-parse", "HEAD").stdout.strip()
            pushed, stale = self._push()
            if pushed:
                return PublishOutcome(
                    PublishResult.PUSHED, f"{len(changed)} files changed", commit=commit
                )
        raise GitPublishError(
            f"{self.target.branch} kept moving on {self.target.repo}; gave up after "
            f"{self.target.attempts} attempts ({stale})"
        )

    def _start_from_remote(self) -> None:
        target = self.target
        if not os.path.isdir(os.path.join(target.workdir, ".git")):
            os.makedirs(target.workdir, exist_ok=True)
            self._git("init", "-q")
            self._git("remote", "add", "origin", target.repo)
        self._git("remote", "set-url", "origin", target.repo)
        self._git("fetch", "-q", "--prune", "origin", "+refs/heads/*:refs/remotes/origin/*")
        base = self._remote_ref(target.branch) or self._remote_default_branch()
        if base:
            self._git("checkout", "-q", "-f", "-B", target.branch, base)
            self._git("reset", "-q", "--hard", base)
        else:  # an empty repository: the branch starts with our first commit
            self._git("symbolic-ref", "HEAD", f"refs/heads/{target.branch}")
            self._git("update-ref", "-d", f"refs/heads/{target.branch}", check=False)
            self._git("read-tree", "--empty")
        self._git("clean", "-q", "-f", "-d", "-x")

    def _remote_ref(self, branch: str) -> str | None:
        ref = f"refs/remotes/origin/{branch}"
        found = self._git("rev-parse", "--verify", "-q", ref, check=False)
        return ref if found.returncode == 0 else None

    def _remote_default_branch(self) -> str | None:
        listing = self._git("ls-remote", "--symref", "origin", "HEAD").stdout
        match = re.search(r"^ref: refs/heads/(\S+)\s+HEAD$", listing, re.MULTILINE)
        if match:
            return self._remote_ref(match[1])
        return None

    def _stage(self, files: Mapping[str, str]) -> list[str]:
        """Replace the target directory with ``files``; the staged paths that changed."""
        directory = os.path.join(self.target.workdir, self.target.path)
        shutil.rmtree(directory, ignore_errors=True)
        for relative, text in sorted(files.items()):
            if relative in LEFT_OUT:
                continue
            path = os.path.join(directory, relative)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
        self._git("add", "-A", "--", self.target.path)
        names = self._git("diff", "--cached", "--name-only", "--", self.target.path).stdout
        return names.split()

    def _rules_changed(self, name: str) -> bool:
        """Whether staged ``name`` differs from the branch in more than its evidence.

        Every proposal's comments and evidence annotations count the flows seen so far, so
        comparing them would push a commit touching every file each time traffic flowed."""
        before = self._git("show", f"HEAD:{name}", check=False)
        if before.returncode != 0:
            return True  # a new file
        after = self._git("show", f":{name}", check=False)
        if after.returncode != 0:
            return True  # a removed file: the policy is gone from the proposal
        return rule_lines(before.stdout) != rule_lines(after.stdout)

    def _push(self) -> tuple[bool, str]:
        """Push without force: (True, "") or (False, why) when the branch moved meanwhile."""
        done = self._git(
            "push", "--porcelain", "origin", f"HEAD:refs/heads/{self.target.branch}", check=False
        )
        if done.returncode == 0:
            return True, ""
        report = done.stdout + done.stderr
        if "[rejected]" in report and "[remote rejected]" not in report:
            return False, last_lines(report)
        raise GitPublishError(f"git push to {self.target.repo} refused: {last_lines(report)}")


def rule_lines(manifest: str) -> list[str]:
    """``manifest`` without comments and evidence annotations: what a change is judged on."""
    kept = []
    for line in manifest.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.split(":", 1)[0] in EVIDENCE_ANNOTATIONS:
            continue
        kept.append(line)
    return kept


def last_lines(text: str, count: int = 3) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " / ".join(lines[-count:]) or "no message"


def unstable_changed_workloads(
    statuses: Sequence[tuple[str, str, float]], published_clock: float
) -> list[str]:
    """Names of workloads that gained an edge after the last publication and are not Stable.

    ``statuses`` are (name, status, when the newest edge was first seen).
    """
    return sorted(
        name
        for name, status, last_new_edge in statuses
        if last_new_edge > published_clock and status != "Stable"
    )


__all__ = [
    "DEFAULT_AUTHOR",
    "DEFAULT_MESSAGE",
    "GitPublishError",
    "GitPublisher",
    "GitTarget",
    "PublishOutcome",
    "PublishResult",
    "unstable_changed_workloads",
]
