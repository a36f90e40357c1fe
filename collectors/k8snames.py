"""Kubernetes' rules for the names and labels a flow record carries.

Flow data is not trusted: a namespace becomes a directory of the proposal, names and labels
end up in YAML, Markdown and Mermaid. A record whose pod endpoint carries something the
Kubernetes API would reject cannot describe a real pod, so the collectors report it as
malformed (file and line, counted; fatal under ``--strict``) instead of letting it through.

Labels are different: one odd label should not cost the flow, so an invalid label is dropped
from the endpoint and reported as a warning (collected here, drained into the collector's
statistics with :func:`drain_label_warnings`; endpoints are cached, so a warning counts the
distinct endpoints that had it).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace

from learner.model.flow import Endpoint, EndpointKind, Labels

__all__ = [
    "InvalidName",
    "check_endpoint",
    "drain_label_warnings",
    "label_key_problem",
    "label_value_problem",
    "namespace_problem",
    "subdomain_problem",
]

_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL = re.compile(_LABEL)
_DNS1123_SUBDOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_QUALIFIED_NAME = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?")
LABEL_MAX = 63
SUBDOMAIN_MAX = 253


class InvalidName(ValueError):  # noqa: N818 - reads as "the record has an invalid name"
    """A name or label Kubernetes would reject; ``str()`` says which and why."""


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


def namespace_problem(name: str) -> str | None:
    """Why ``name`` is not a namespace (an RFC 1123 label), or None."""
    if len(name) > LABEL_MAX:
        return f"longer than {LABEL_MAX} characters"
    if not _DNS1123_LABEL.fullmatch(name):
        return "not an RFC 1123 label (lower-case letters, digits and '-')"
    return None


def subdomain_problem(name: str) -> str | None:
    """Why ``name`` is not an object name (an RFC 1123 subdomain), or None."""
    if len(name) > SUBDOMAIN_MAX:
        return f"longer than {SUBDOMAIN_MAX} characters"
    if not _DNS1123_SUBDOMAIN.fullmatch(name):
        return "not an RFC 1123 subdomain (lower-case letters, digits, '-' and '.')"
    return None


def label_key_problem(key: str) -> str | None:
    """Why ``key`` is not a label key (``[prefix/]name``), or None."""
    prefix, slash, name = key.rpartition("/")
    if slash:
        if not prefix:
            return "empty prefix before '/'"
        problem = subdomain_problem(prefix)
        if problem:
            return f"prefix {problem}"
    if not name:
        return "empty name"
    if len(name) > LABEL_MAX:
        return f"name longer than {LABEL_MAX} characters"
    if not _QUALIFIED_NAME.fullmatch(name):
        return "name must be alphanumerics, '-', '_' or '.', starting and ending alphanumeric"
    return None


def label_value_problem(value: str) -> str | None:
    """Why ``value`` is not a label value (empty or a qualified name of at most 63), or None."""
    if not value:
        return None
    if len(value) > LABEL_MAX:
        return f"longer than {LABEL_MAX} characters"
    if not _QUALIFIED_NAME.fullmatch(value):
        return "must be alphanumerics, '-', '_' or '.', starting and ending alphanumeric"
    return None


_label_warnings: Counter[str] = Counter()
_WARNINGS_LIMIT = 1000


def drain_label_warnings(into: Counter[str]) -> None:
    """Move the warnings about dropped labels into ``into``."""
    if not _label_warnings:
        return
    into.update(_label_warnings)
    _label_warnings.clear()


def _valid_labels(what: str, labels: Labels) -> Labels:
    kept = []
    for key, value in labels:
        problem = label_key_problem(key)
        if problem:
            message = f"invalid {what} label key {_shown(key)} dropped: {problem}"
        else:
            problem = label_value_problem(value)
            message = f"invalid {what} label {key}={_shown(value)} dropped: {problem}"
        if problem is None:
            kept.append((key, value))
        elif message in _label_warnings or len(_label_warnings) < _WARNINGS_LIMIT:
            _label_warnings[message] += 1
    return labels if len(kept) == len(labels) else tuple(kept)


def check_endpoint(endpoint: Endpoint, side: str = "endpoint") -> Endpoint:
    """``endpoint`` when every name on it is valid, without its invalid labels (reported).

    Raises :class:`InvalidName` for an invalid namespace, pod, workload or service account
    name. Only pod endpoints are checked: theirs are the names that become paths and selectors.
    """
    if endpoint.kind is not EndpointKind.POD:
        return endpoint
    if endpoint.namespace:
        problem = namespace_problem(endpoint.namespace)
        if problem:
            raise InvalidName(f"{side} namespace {_shown(endpoint.namespace)}: {problem}")
    for what, name in (
        ("pod name", endpoint.pod),
        ("workload name", endpoint.workload_name),
        ("service account", endpoint.service_account),
    ):
        if name:
            problem = subdomain_problem(name)
            if problem:
                raise InvalidName(f"{side} {what} {_shown(name)}: {problem}")
    labels = _valid_labels("pod", endpoint.labels)
    namespace_labels = _valid_labels("namespace", endpoint.namespace_labels)
    if labels is endpoint.labels and namespace_labels is endpoint.namespace_labels:
        return endpoint
    return replace(endpoint, labels=labels, namespace_labels=namespace_labels)
