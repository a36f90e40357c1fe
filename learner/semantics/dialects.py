"""Policy documents as loaded, and the registry of dialects that parse them.

Each dialect module (:mod:`~learner.semantics.k8s`, :mod:`~learner.semantics.cilium`,
:mod:`~learner.semantics.calico`) calls :func:`register_dialect` for the kinds it parses;
:mod:`~learner.semantics.policyset` imports them all, and looks parsers up here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from learner.model.errors import PolicyError
from learner.semantics.matchers import CompiledPolicy


@dataclass(frozen=True, slots=True, eq=False)
class PolicyDocument:
    """One policy document as loaded: where it came from and its parsed YAML."""

    path: str
    index: int
    """0-based index of the YAML document within ``path``."""
    body: Mapping[str, Any]
    item: int = -1
    """Position in the ``items`` of a ``List`` document; -1 for a top-level document."""

    @property
    def api_version(self) -> str:
        value = self.body.get("apiVersion")
        return value if isinstance(value, str) else ""

    @property
    def kind(self) -> str:
        value = self.body.get("kind")
        return value if isinstance(value, str) else ""

    def field_path(self, name: str) -> str:
        """``name`` as written in error messages (prefixed with ``items[i]`` inside a List)."""
        if self.item < 0:
            return name
        return f"items[{self.item}].{name}" if name else f"items[{self.item}]"

    def error(self, field_name: str, reason: str) -> PolicyError:
        return PolicyError(self.path, self.index, self.field_path(field_name), reason)


PolicyParser = Callable[[PolicyDocument], CompiledPolicy]
"""Turns one document into targets; raises :class:`PolicyError` (``document.error``) on bad
input."""


DIALECTS: dict[tuple[str, str], PolicyParser] = {}


def register_dialect(api_group_or_version: str, kind: str, parser: PolicyParser) -> None:
    """Use ``parser`` for documents of ``kind`` whose ``apiVersion`` is
    ``api_group_or_version`` (``cilium.io/v2``) or in that API group (``cilium.io``)."""
    DIALECTS[(api_group_or_version, kind)] = parser
