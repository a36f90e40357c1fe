"""Label selectors in Calico's selector language (``app == 'web' && has(tier)``).

Kubernetes selectors translate one requirement at a time: ``k: v`` and ``k In (v)`` → ``k ==
'v'``; ``In`` with several values → ``k in {'a', 'b'}``; ``NotIn`` → ``k not in {...}`` (like
Kubernetes, it also matches pods without ``k``); ``Exists`` → ``has(k)``; ``DoesNotExist`` →
``!has(k)``; all joined with ``&&``. The empty selector is ``all()``.

In a ``namespaceSelector``, Kubernetes' ``kubernetes.io/metadata.name`` becomes Calico's own
``projectcalico.org/name`` (set on every namespace Calico knows, whatever the cluster version).

Calico string literals have no escapes: a value is quoted with ``'``, or ``"`` if it contains
``'``. Kubernetes label values contain neither, so :class:`UnquotableValue` only fires for
labels that no real pod can carry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from learner.model.errors import UsageError
from learner.model.policy import NAMESPACE_NAME_LABEL, LabelSelector, Operator, Requirement

ALL = "all()"
CALICO_NAMESPACE_NAME = "projectcalico.org/name"
_KEY = re.compile(r"^[A-Za-z0-9_./-]+$")


class UnquotableValue(UsageError):
    """A label key or value that Calico's selector language cannot spell."""


def quote(value: str) -> str:
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise UnquotableValue(f"label value {value!r} cannot be written in a Calico selector")


def _key(key: str) -> str:
    if not _KEY.match(key):
        raise UnquotableValue(f"label key {key!r} cannot be written in a Calico selector")
    return key


def _values(values: Iterable[str]) -> str:
    return "{" + ", ".join(quote(v) for v in values) + "}"


def requirement_expression(requirement: Requirement, *, namespace: bool = False) -> str:
    key = requirement.key
    if namespace and key == NAMESPACE_NAME_LABEL:
        key = CALICO_NAMESPACE_NAME
    key = _key(key)
    values = requirement.values
    operator = requirement.operator
    if operator is Operator.EXISTS:
        return f"has({key})"
    if operator is Operator.DOES_NOT_EXIST:
        return f"!has({key})"
    if len(values) == 1:
        equals = "==" if operator is Operator.IN else "!="
        return f"{key} {equals} {quote(values[0])}"
    negation = "" if operator is Operator.IN else "not "
    return f"{key} {negation}in {_values(values)}"


def selector_expression(selector: LabelSelector, *, namespace: bool = False) -> str:
    """The Calico expression for ``selector`` (``namespace``: it selects namespaces)."""
    requirements = [Requirement(k, Operator.IN, (v,)) for k, v in selector.match_labels]
    requirements.extend(selector.match_expressions)
    if not requirements:
        return ALL
    return " && ".join(requirement_expression(r, namespace=namespace) for r in requirements)
