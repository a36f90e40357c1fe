"""Every long flag can also come from the environment: ``--max-overreach 2`` is
``NETPOL_LEARNER_MAX_OVERREACH=2`` (handy in a Deployment or a CI job). Flags given on the
command line win. Repeatable flags take a comma-separated list; switches take 1/true/yes/on
or 0/false/no/off.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from learner.model.errors import UsageError

PREFIX = "NETPOL_LEARNER_"
TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off", ""})


def env_name(option: str) -> str:
    return PREFIX + option.lstrip("-").replace("-", "_").upper()


def _value(action: argparse.Action, text: str, name: str) -> object:
    if isinstance(action, argparse._StoreTrueAction):
        lowered = text.strip().lower()
        if lowered not in TRUE | FALSE:
            raise UsageError(f"{name}={text!r}: expected true or false")
        return lowered in TRUE
    convert = action.type if callable(action.type) else str
    try:
        if isinstance(action, argparse._AppendAction) or action.nargs in ("*", "+"):
            return [convert(part.strip()) for part in text.split(",") if part.strip()]
        value = convert(text)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{name}={text!r}: {exc}") from exc
    if action.choices is not None and value not in action.choices:
        choices = ", ".join(map(str, action.choices))
        raise UsageError(f"{name}={text!r}: choose from {choices}")
    return value


def apply_environment(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    """Set defaults of ``parser`` and its subcommands from ``NETPOL_LEARNER_*`` variables.

    A flag several commands share with different meanings (``--format``) takes the variable
    where its value fits; a value that fits no command is an error.
    """
    parsers = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            parsers.extend(action.choices.values())
    problems: dict[str, UsageError] = {}
    accepted: set[str] = set()
    for each in parsers:
        for action in each._actions:
            long = [o for o in action.option_strings if o.startswith("--")]
            if not long or isinstance(action, argparse._HelpAction):
                continue
            name = env_name(long[0])
            if name not in environ:
                continue
            try:
                value = _value(action, environ[name], name)
            except UsageError as exc:
                problems.setdefault(name, exc)
                continue
            each.set_defaults(**{action.dest: value})
            action.required = False
            accepted.add(name)
    for name, problem in sorted(problems.items()):
        if name not in accepted:
            raise problem
