"""One meaning per flag: a table over every subcommand's parser.

Each flag that two commands share must have the same destination, metavar and kind of value
everywhere, every flag has help, and the families of commands have the flags a user expects
from kubectl and hubble (-o FORMAT, --output-dir, -n/-A where flows are read).
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import dataclass

import pytest

from learner.cli.program import COMMANDS, build_parser

READS_FLOWS = ("generate", "ingest", "diff", "verify", "learn")
WRITES_DIRECTORY = ("generate", "export", "learn", "simulate")
STREAMS_TO_STDOUT = ("generate", "export")
FORMATTED_OUTPUT = {"verify": ("text", "json"), "diff": ("text", "json")}
DEPRECATED = "deprecated:"
HIDDEN = {
    # export reads a state file that learn already filtered; the flags exist for the config
    ("export", "--include-dropped"),
    ("export", "--ignore-label"),
}
METAVAR_EXCEPTIONS = {
    # learn and simulate write a directory that cannot be a stream; others accept -
    "--output-dir": {"DIR|-", "DIR"},
    # the only value -o takes in simulate is the deprecated directory
    "-o": {"FORMAT", "DIR"},
}


@dataclass(frozen=True)
class Flag:
    command: str
    option: str
    dest: str
    metavar: str | None
    kind: str
    help: str | None


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def flags() -> list[Flag]:
    found = []
    for command, parser in subparsers().items():
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            names = action.option_strings or [action.dest]
            metavar = action.metavar if isinstance(action.metavar, str | None) else None
            for option in names:
                found.append(
                    Flag(command, option, action.dest, metavar, type(action).__name__, action.help)
                )
    return found


def options_of(command: str) -> set[str]:
    return {flag.option for flag in flags() if flag.command == command}


def test_every_command_module_is_in_the_table() -> None:
    names = set(subparsers())
    assert names == {command.__name__.rsplit(".", 1)[1] for command in COMMANDS}
    assert set(READS_FLOWS) | set(WRITES_DIRECTORY) <= names


@pytest.mark.parametrize("flag", flags(), ids=lambda f: f"{f.command} {f.option}")
def test_every_flag_has_help(flag: Flag) -> None:
    if (flag.command, flag.option) in HIDDEN:
        assert flag.help == argparse.SUPPRESS
    else:
        assert flag.help and flag.help != argparse.SUPPRESS, flag


def shared_flags() -> dict[str, list[Flag]]:
    by_option: dict[str, list[Flag]] = defaultdict(list)
    for flag in flags():
        if flag.option.startswith("-") and not (flag.help or "").startswith(DEPRECATED):
            by_option[flag.option].append(flag)
    return {option: group for option, group in by_option.items() if len(group) > 1}


@pytest.mark.parametrize("option", sorted(shared_flags()))
def test_a_shared_flag_means_the_same_everywhere(option: str) -> None:
    group = shared_flags()[option]
    assert len({flag.dest for flag in group}) == 1, [(f.command, f.dest) for f in group]
    assert len({flag.kind for flag in group}) == 1, [(f.command, f.kind) for f in group]
    metavars = {flag.metavar for flag in group}
    assert len(metavars) == 1 or metavars <= METAVAR_EXCEPTIONS.get(option, set()), [
        (f.command, f.metavar) for f in group
    ]


@pytest.mark.parametrize("command", READS_FLOWS)
def test_commands_that_read_flows_take_namespaces_like_kubectl(command: str) -> None:
    assert {"-n", "--namespace", "-A", "--all-namespaces"} <= options_of(command)


@pytest.mark.parametrize("command", [c for c in READS_FLOWS if c != "learn"])
def test_flow_files_are_given_as_input_arguments(command: str) -> None:
    assert "inputs" in options_of(command)
    legacy = [f for f in flags() if f.command == command and f.option == "--flows"]
    assert all((f.help or "").startswith(DEPRECATED) for f in legacy)


@pytest.mark.parametrize("command", WRITES_DIRECTORY)
def test_a_directory_is_output_dir_and_o_is_never_a_directory(command: str) -> None:
    group = {f.option: f for f in flags() if f.command == command}
    assert "--output-dir" in group
    o = group["-o"]
    assert o.dest == "output"
    assert o.metavar == "FORMAT" or (o.help or "").startswith(DEPRECATED)
    stdout = command in STREAMS_TO_STDOUT
    assert (group["--output-dir"].metavar == "DIR|-") is stdout


@pytest.mark.parametrize(("command", "formats"), sorted(FORMATTED_OUTPUT.items()))
def test_o_names_the_formats(command: str, formats: tuple[str, ...]) -> None:
    o = next(f for f in flags() if f.command == command and f.option == "-o")
    assert o.metavar == "FORMAT" and all(name in (o.help or "") for name in formats)
