"""What every renderer shares: its options, the registry of formats, and atomic writing.

A renderer is a module exposing ``FORMAT: str`` (its ``--format`` name), ``DIALECT: str`` (the
policy language it writes: ``networkpolicy``, ``cilium`` or ``calico``; what a dialect can and
cannot express is known by that name) and
``render(proposal: Proposal, options: RenderOptions) -> dict[str, str]``: relative file path →
file text. Renderers translate; they never re-learn.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from typing import Protocol

from learner.model.config import LearnConfig, RenderOptions
from learner.model.errors import UsageError
from learner.model.policy import Proposal
from outputs import (  # one line per renderer module; FORMATS sets the order
    calico,
    calico_staged,
    cilium,
    networkpolicy,
)


class Renderer(Protocol):
    FORMAT: str
    DIALECT: str

    def render(self, proposal: Proposal, options: RenderOptions) -> dict[str, str]: ...


FORMATS: dict[str, Renderer] = {
    networkpolicy.FORMAT: networkpolicy,
    cilium.FORMAT: cilium,
    calico.FORMAT: calico,
    calico_staged.FORMAT: calico_staged,
}
"""Every output format, in the order ``--format`` lists them: one line per renderer module."""


def _module(format_name: str) -> Renderer:
    module = FORMATS.get(format_name)
    if module is None:
        raise UsageError(f"unknown format {format_name!r} (choose from {', '.join(FORMATS)})")
    return module


def renderer(format_name: str) -> Callable[[Proposal, RenderOptions], dict[str, str]]:
    return _module(format_name).render


def dialect(format_name: str) -> str:
    """The policy language ``--format format_name`` writes."""
    return _module(format_name).DIALECT


def has_cilium_companion(config: LearnConfig) -> bool:
    """Whether the proposal comes with CiliumNetworkPolicy companions for Cilium's entities
    (:mod:`outputs.cilium_companion`): NetworkPolicies that Cilium enforces."""
    return config.cni == "cilium" and dialect(config.format) == "networkpolicy"


MARKER = ".netpol-learner"
MARKER_TEXT = "This directory is written by netpol-learner and replaced whole on every run.\n"


def check_relative_path(relative: str) -> None:
    """Refuse a file name that is not a plain relative path inside the output directory.

    Names come from flow data: a namespace ``../../etc`` or ``/var/lib/x`` must never become a
    place to write. The collectors already reject such names; this is the last line.
    """
    parts = relative.replace("\\", "/").split("/")
    if (
        not relative
        or os.path.isabs(relative)
        or relative.startswith(("/", "\\"))
        or any(part in ("", ".", "..") for part in parts)
        or "\0" in relative
    ):
        raise UsageError(f"refusing to write {relative!r}: not a path inside the output directory")


def _inside(root: str, path: str) -> bool:
    root = os.path.realpath(root)
    return os.path.commonpath([root, os.path.realpath(path)]) == root


_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW


def write_tree(files: Mapping[str, str], out_dir: str) -> None:
    """Replace ``out_dir`` with exactly ``files``, atomically: readers never see half of it.

    The tree is written beside ``out_dir`` and renamed into place; the previous contents are
    removed afterwards.
    """
    stage_tree(files, out_dir).commit()


class StagedTree:
    """A tree written beside the directory it is to replace, not yet in its place."""

    def __init__(self, staging: str, out_dir: str) -> None:
        self.staging = staging
        self.out_dir = out_dir

    def commit(self) -> None:
        """Put the tree in place of ``out_dir`` and remove what was there."""
        remove_replaced(self.put_in_place())

    def put_in_place(self) -> str | None:
        """Rename the tree to ``out_dir``; returns where the tree it replaced went, for the
        caller to remove (None when there was none). On failure ``out_dir`` is as it was."""
        old = None
        try:
            if os.path.exists(self.out_dir):
                old = self.out_dir + ".old-" + os.path.basename(self.staging)
                os.rename(self.out_dir, old)
            os.rename(self.staging, self.out_dir)
        except BaseException:
            if old is not None and not os.path.exists(self.out_dir):
                with contextlib.suppress(OSError):
                    os.rename(old, self.out_dir)
            self.discard()
            raise
        return old

    def discard(self) -> None:
        """Remove the staged tree; ``out_dir`` stays as it was."""
        shutil.rmtree(self.staging, ignore_errors=True)


def remove_replaced(*olds: str | None) -> None:
    """Remove the trees :meth:`StagedTree.put_in_place` moved aside (None: nothing was)."""
    for old in olds:
        if old:
            shutil.rmtree(old, ignore_errors=True)


def stage_tree(files: Mapping[str, str], out_dir: str) -> StagedTree:
    """Write ``files`` beside ``out_dir``, for :meth:`StagedTree.commit` to put in its place.

    Refuses (UsageError) an ``out_dir`` that is not a directory netpol-learner wrote, and any
    file whose path would lead outside it.
    """
    out_dir = os.path.abspath(out_dir)
    for relative in files:
        check_relative_path(relative)
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        if not os.path.exists(os.path.join(out_dir, MARKER)):
            raise UsageError(
                f"{out_dir}: refusing to replace a non-empty directory that netpol-learner did "
                "not write (choose an empty or new output directory)"
            )
    elif os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UsageError(f"{out_dir}: exists and is not a directory")
    files = {**files, MARKER: MARKER_TEXT}
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".netpol-learner-", dir=parent)
    try:
        folders = {staging}
        for relative, text in files.items():
            path = os.path.join(staging, relative)
            folder = os.path.dirname(path)
            if folder not in folders:
                # Resolved, so a link cannot lead out either; checked once a folder, as a file
                # in it is never followed (O_NOFOLLOW).
                if not _inside(staging, folder):
                    raise UsageError(
                        f"refusing to write {relative!r}: outside the output directory"
                    )
                os.makedirs(folder, exist_ok=True)
                folders.add(folder)
            with open(os.open(path, _FILE_FLAGS, 0o666), "wb") as handle:
                handle.write(text.encode("utf-8"))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return StagedTree(staging, out_dir)
