"""Reading a policy document field by field, strictly: what every dialect's parser shares.

Misspelt or mistyped fields are errors naming the field (as ``kubectl --validate=strict``
does), raised as :class:`~learner.errors.PolicyError` through the document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from learner.model.policy import Operator, Requirement
from learner.semantics.dialects import PolicyDocument

EXPRESSION_FIELDS = frozenset({"key", "operator", "values"})


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

    def requirement(self, value: object, field: str) -> Requirement:
        """One ``matchExpressions`` item of a Kubernetes label selector."""
        expression = self.mapping(value, field, EXPRESSION_FIELDS)
        key = self.string(expression.get("key"), f"{field}.key")
        operator_text = expression.get("operator")
        try:
            operator = Operator(str(operator_text))
        except ValueError:
            self.fail(
                f"{field}.operator",
                f"unknown operator {operator_text!r} (use In, NotIn, Exists or DoesNotExist)",
            )
        values = self.sequence(expression.get("values"), f"{field}.values")
        for i, item in enumerate(values):
            if not isinstance(item, str):
                self.fail(f"{field}.values[{i}]", f"values must be strings (quote {item!r})")
        if operator in (Operator.IN, Operator.NOT_IN) and not values:
            self.fail(f"{field}.values", f"{operator} needs at least one value")
        if operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST) and values:
            self.fail(f"{field}.values", f"{operator} takes no values")
        return Requirement(key, operator, tuple(values))
