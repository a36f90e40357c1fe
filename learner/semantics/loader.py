"""Reading Kubernetes manifests: files and directories of (multi-document) YAML or JSON.

``kind: List`` (``kubectl get -o yaml``) and typed lists (``NetworkPolicyList``, an API list
response, whose items may omit ``apiVersion``/``kind``) are unpacked into their items. Documents
that are not policies are skipped and counted; a document that cannot be read is an error for
that document (or, for a YAML syntax error, for the rest of its file) while everything else
still loads. ``kustomization.yaml`` files are not manifests and are ignored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from learner.model.errors import PolicyError
from learner.model.input_files import expand_inputs, open_text
from learner.semantics.dialects import PolicyDocument
from learner.semantics.policyset import is_policy_kind

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
KUSTOMIZATION_FILES = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class LoadStats:
    files: int = 0
    documents: int = 0
    """Objects read, list items included."""
    policies: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    """Objects that are not policies, by kind."""


def manifest_paths(paths: Iterable[str]) -> list[str]:
    """Files named plus the YAML/JSON files below each directory, minus kustomization files."""
    return [
        path
        for path in expand_inputs(paths, MANIFEST_SUFFIXES)
        if path.rsplit("/", 1)[-1] not in KUSTOMIZATION_FILES
    ]


def iter_objects(
    paths: Sequence[str], errors: list[PolicyError], stats: LoadStats | None = None
) -> Iterator[PolicyDocument]:
    """Every Kubernetes object in ``paths`` (list items unpacked), in file order.

    Problems go to ``errors``; reading goes on with the next document or file.
    """
    stats = stats if stats is not None else LoadStats()
    for path in manifest_paths(paths):
        stats.files += 1
        index = 0
        try:
            with open_text(path) as handle:
                for body in yaml.load_all(handle, Loader=_Loader):
                    yield from _objects(path, index, body, errors, stats)
                    index += 1
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc)
            errors.append(PolicyError(path, index, "", f"invalid YAML{where}: {problem}"))
        except OSError as exc:
            errors.append(PolicyError(path, -1, "", f"cannot read: {exc.strerror or exc}"))


def _objects(
    path: str, index: int, body: object, errors: list[PolicyError], stats: LoadStats
) -> Iterator[PolicyDocument]:
    if body is None:
        return
    if not isinstance(body, Mapping):
        stats.documents += 1
        stats.skipped["<not an object>"] += 1
        return
    kind = body.get("kind")
    items = body.get("items")
    if isinstance(kind, str) and kind.endswith("List") and "items" in body:
        if not isinstance(items, list):
            errors.append(PolicyError(path, index, "items", "must be a list"))
            return
        item_kind = kind[: -len("List")] if kind != "List" else ""
        for position, item in enumerate(items):
            stats.documents += 1
            if not isinstance(item, Mapping):
                stats.skipped["<not an object>"] += 1
                continue
            item = _with_type(item, body.get("apiVersion"), item_kind)
            yield PolicyDocument(path, index, item, item=position)
        return
    stats.documents += 1
    yield PolicyDocument(path, index, body)


def _with_type(item: Mapping[str, Any], api_version: object, kind: str) -> Mapping[str, Any]:
    """A typed list's item, with the ``apiVersion``/``kind`` API responses leave out."""
    if item.get("kind") or not kind:
        return item
    return {"apiVersion": api_version, "kind": kind, **item}


def load_policy_documents(
    paths: Sequence[str], *, stats: LoadStats | None = None
) -> tuple[list[PolicyDocument], list[PolicyError]]:
    """The policy documents in ``paths`` and the errors met while reading them.

    Objects of other kinds are skipped (counted in ``stats.skipped``).
    """
    stats = stats if stats is not None else LoadStats()
    errors: list[PolicyError] = []
    documents = []
    for document in iter_objects(paths, errors, stats):
        kind = document.kind
        if kind and is_policy_kind(kind):
            stats.policies += 1
            documents.append(document)
        else:
            stats.skipped[kind or "<no kind>"] += 1
    return documents, errors
