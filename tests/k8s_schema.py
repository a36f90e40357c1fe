"""Validate Kubernetes documents against the API schema as the official client knows it.

The ``kubernetes`` package's model classes are generated from the Kubernetes OpenAPI spec:
each has ``openapi_types`` (field → type) and ``attribute_map`` (field → JSON key). Walking a
document against them catches unknown fields, wrong types and missing required fields, with
the path of the offending field, without a cluster.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from kubernetes import client

_LIST = re.compile(r"^(?:List|list)\[(.+)\]$")
_DICT = re.compile(r"^(?:Dict|dict)\[?\(?str, (.+?)[\])]$")


def model_for(api_version: str, kind: str) -> type:
    version = api_version.rsplit("/", 1)[-1]
    name = f"{version.capitalize()}{kind}"
    model = getattr(client, name, None)
    if model is None:
        raise ValueError(f"no schema known for {api_version} {kind}")
    return model  # type: ignore[no-any-return]


def _required(model: type) -> set[str]:
    """Fields whose setter rejects None (the client's client-side validation)."""
    required = set()
    source = inspect.getsource(model)
    for attribute in model.openapi_types:  # type: ignore[attr-defined]
        if f"Invalid value for `{attribute}`, must not be `None`" in source:
            required.add(attribute)
    return required


def _check(value: Any, type_name: str, path: str, errors: list[str]) -> None:
    if type_name == "object":
        return  # IntOrString and free-form objects
    match = _LIST.match(type_name)
    if match:
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        for index, item in enumerate(value):
            _check(item, match.group(1), f"{path}[{index}]", errors)
        return
    match = _DICT.match(type_name)
    if match:
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a mapping, got {type(value).__name__}")
            return
        for key, item in value.items():
            _check(item, match.group(1), f"{path}.{key}", errors)
        return
    scalar_types: dict[str, tuple[type, ...]] = {
        "str": (str,),
        "int": (int,),
        "float": (int, float),
        "bool": (bool,),
        "datetime": (str,),
        "date": (str,),
    }
    if type_name in scalar_types:
        if not isinstance(value, scalar_types[type_name]) or (
            type_name == "int" and isinstance(value, bool)
        ):
            errors.append(f"{path}: expected {type_name}, got {value!r}")
        return
    model = getattr(client, type_name, None)
    if model is None:
        errors.append(f"{path}: unknown schema type {type_name}")
        return
    _check_model(value, model, path, errors)


def _check_model(value: Any, model: type, path: str, errors: list[str]) -> None:
    if not isinstance(value, dict):
        errors.append(f"{path}: expected an object, got {type(value).__name__}")
        return
    types: dict[str, str] = model.openapi_types  # type: ignore[attr-defined]
    json_to_attr = {v: k for k, v in model.attribute_map.items()}  # type: ignore[attr-defined]
    for key, item in value.items():
        attribute = json_to_attr.get(key)
        if attribute is None:
            errors.append(f"{path}.{key}: unknown field for {model.__name__}")
            continue
        if item is None:
            continue
        _check(item, types[attribute], f"{path}.{key}", errors)
    for attribute in _required(model):
        if model.attribute_map[attribute] not in value:  # type: ignore[attr-defined]
            errors.append(f"{path}.{model.attribute_map[attribute]}: required")  # type: ignore[attr-defined]


def validate(document: dict[str, Any]) -> list[str]:
    """Problems with ``document`` (empty when it is valid)."""
    api_version = document.get("apiVersion", "")
    kind = document.get("kind", "")
    if not api_version or not kind:
        return ["apiVersion and kind are required"]
    errors: list[str] = []
    _check_model(document, model_for(api_version, kind), kind, errors)
    return errors
