"""Reading a policy document field by field, strictly: what every dialect's parser shares.

Misspelt or mistyped fields are errors naming the field (as ``kubectl --validate=strict``
does), raised as :class:`~learner.errors.PolicyError` through the document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from learner.semantics.policyset import PolicyDocument


def type_name(value: object) -> str:
    """How a YAML value is called in messages (``a mapping``, ``null`` ...)."""
    if value is None:
        return "null"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


class DocumentReader:
    def __init__(self, document: PolicyDocument) -> None:
        self.document = document

    def fail(self, field: str, reason: str) -> NoReturn:
        raise self.document.error(field, reason)

    def mapping(
        self, value: object, field: str, allowed: frozenset[str] | None = None
    ) -> Mapping[str, Any]:
        """``value`` as a mapping (``null`` = empty) whose keys are all in ``allowed`` (any
        key when None)."""
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.fail(field, f"must be a mapping, not {type_name(value)}")
        if allowed is not None:
            for name in value:
                if name not in allowed:
                    self.fail(f"{field}.{name}", "unknown field")
        return value

    def sequence(self, value: object, field: str) -> Sequence[Any]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.fail(field, f"must be a list, not {type_name(value)}")
        return value

    def string(self, value: object, field: str) -> str:
        if not isinstance(value, str) or not value:
            self.fail(field, f"must be a non-empty string, not {type_name(value)}")
        return value
