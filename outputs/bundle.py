"""Where a run's files go: Kubernetes objects in the manifest directory, the report beside it.

``kubectl apply -R -f DIR`` tries to apply every ``.yaml``/``.yml``/``.json`` file below DIR
(hidden directories included), and Argo CD and Flux directory apps read the same files, so the
manifest directory holds only policies and the kustomization. The report files (and ``learn``'s
status.json) go to a separate directory: ``--report-dir``, by default a sibling named
``<manifest directory>-report``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from learner.model.errors import UsageError
from outputs.base import StagedTree, remove_replaced, stage_tree

REPORT_FILES = frozenset({"report.md", "report.json", "status.json"})
"""Bundle entries that are not Kubernetes objects: they go to the report directory."""

REPORT_DIR_SUFFIX = "-report"


def default_report_dir(manifest_dir: str) -> str:
    return os.path.abspath(manifest_dir) + REPORT_DIR_SUFFIX


def report_dir_for(manifest_dir: str, report_dir: str | None) -> str:
    """The report directory to use; refuses one inside the manifest directory (or around it)."""
    chosen = os.path.abspath(report_dir) if report_dir else default_report_dir(manifest_dir)
    manifests = os.path.abspath(manifest_dir)
    if os.path.commonpath([chosen, manifests]) in (chosen, manifests):
        raise UsageError(
            f"--report-dir {report_dir}: must not be inside the manifest directory {manifest_dir} "
            "or contain it (kubectl apply -R -f and Argo CD/Flux would read the report as "
            "manifests)"
        )
    return chosen


def manifest_link(manifest_dir: str, report_dir: str) -> str:
    """The manifest directory as a relative link from the report directory (``../out``)."""
    relative = os.path.relpath(os.path.abspath(manifest_dir), os.path.abspath(report_dir))
    return relative.replace(os.sep, "/")


def split_bundle(bundle: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(manifests, report files) of one run's bundle."""
    manifests = {path: text for path, text in bundle.items() if path not in REPORT_FILES}
    report = {path: text for path, text in bundle.items() if path in REPORT_FILES}
    return manifests, report


def write_bundle(bundle: Mapping[str, str], manifest_dir: str, report_dir: str | None) -> str:
    """Write the manifests to ``manifest_dir`` and the report beside it; returns the report
    directory. Each directory is replaced atomically (see :func:`outputs.base.write_tree`)."""
    return stage_bundle(bundle, manifest_dir, report_dir).commit()


class StagedBundle:
    """A run's two directories written beside their places (:func:`stage_bundle`)."""

    def __init__(self, manifests: StagedTree, report: StagedTree) -> None:
        self.manifests = manifests
        self.report = report

    def commit(self) -> str:
        """Put both in place, then remove what they replaced; returns the report directory."""
        try:
            old_manifests = self.manifests.put_in_place()
        except BaseException:
            self.report.discard()
            raise
        remove_replaced(old_manifests, self.report.put_in_place())
        return self.report.out_dir

    def discard(self) -> None:
        self.manifests.discard()
        self.report.discard()


def stage_bundle(
    bundle: Mapping[str, str], manifest_dir: str, report_dir: str | None
) -> StagedBundle:
    """Write the manifests and the report beside their directories, not yet in place: a run
    that must still pass a check writes while the check runs and commits after it."""
    reports = report_dir_for(manifest_dir, report_dir)
    manifests, report = split_bundle(bundle)
    staged_manifests = stage_tree(manifests, manifest_dir)
    try:
        staged_report = stage_tree(report, reports)
    except BaseException:
        staged_manifests.discard()
        raise
    return StagedBundle(staged_manifests, staged_report)
