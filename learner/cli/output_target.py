"""``-o/--output FORMAT`` and ``--output-dir DIR|-``: one meaning each, on every command.

Following kubectl and hubble, ``-o`` names a format. Commands that write a directory take it
with ``--output-dir``; ``-`` there means stdout, as one multi-document YAML stream of the
manifests (``kubectl apply -f -`` reads it). Earlier releases took the directory as ``-o DIR``:
a value of ``-o`` that is not a format is still read as the directory, with a warning, for one
release.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import tempfile
from collections.abc import Iterator
from typing import TextIO

from learner.app.console import Env
from learner.model.errors import UsageError

STDOUT = "-"
MANIFEST_FORMATS = ("yaml",)
"""What a directory-writing command's ``-o`` accepts: the manifests are YAML."""

OUTPUT_HELP = "output format: {choices} (default {default})"
OUTPUT_DIR_HELP = "directory to write {what} into, replaced whole; - writes the manifests to stdout"
OUTPUT_DIR_ONLY_HELP = "directory to write {what} into"
DEPRECATED_O_HELP = "deprecated: use --output-dir"
DEPRECATED_DIR = (
    "-o/--output {value}: -o now names the output format ({choices}); reading {value} as "
    "--output-dir for this release only, use --output-dir {value}"
)
FLOWS_FLAG_HELP = "deprecated: give the flows as INPUT arguments"
DEPRECATED_FLOWS = "--flows is deprecated: give the flows as INPUT arguments, e.g. {example}"


def add_output_format_flag(
    group: argparse.ArgumentParser | argparse._ArgumentGroup,
    formats: tuple[str, ...],
    default: str,
) -> None:
    """``-o/--output FORMAT``; its value is checked by :func:`resolve_output`."""
    group.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="FORMAT",
        help=OUTPUT_HELP.format(choices="|".join(formats), default=default),
    )


def add_output_dir_flags(
    parser: argparse.ArgumentParser,
    what: str,
    *,
    formats: tuple[str, ...] = MANIFEST_FORMATS,
    stdout: bool = True,
) -> None:
    """``--output-dir DIR|-`` and ``-o/--output FORMAT`` for a command that writes a directory.

    With no ``formats`` the command has no format to choose and ``-o`` is only the deprecated
    spelling of ``--output-dir``.
    """
    parser.add_argument(
        "--output-dir",
        metavar="DIR|-" if stdout else "DIR",
        default=None,
        help=(OUTPUT_DIR_HELP if stdout else OUTPUT_DIR_ONLY_HELP).format(what=what),
    )
    if formats:
        add_output_format_flag(parser, formats, formats[0])
    else:
        parser.add_argument("-o", "--output", default=None, metavar="DIR", help=DEPRECATED_O_HELP)
    parser.set_defaults(output_formats=formats, output_stdout=stdout)


def resolve_output(
    args: argparse.Namespace, env: Env, *, formats: tuple[str, ...], default: str
) -> str:
    """The ``-o`` format, checked; a legacy ``-o DIR`` moves to ``args.output_dir``."""
    value: str | None = args.output
    if value is None:
        return default
    if value in formats:
        return value
    choices = "|".join(formats) or "none"
    if not hasattr(args, "output_dir"):
        raise UsageError(f"-o/--output {value}: choose one of {choices}")
    if args.output_dir is not None:
        raise UsageError(
            f"-o/--output {value}: not a format ({choices}); the directory is --output-dir "
            f"{args.output_dir}"
        )
    if formats:
        env.warning(DEPRECATED_DIR.format(value=value, choices=choices))
    else:
        env.warning(f"-o/--output {value} is deprecated: use --output-dir {value}")
    args.output_dir = value
    return default


def output_dir_from_args(
    args: argparse.Namespace, env: Env, *, required: bool = True
) -> str | None:
    """``--output-dir`` (or a legacy ``-o DIR``), after the ``-o`` format is checked."""
    formats: tuple[str, ...] = args.output_formats
    resolve_output(args, env, formats=formats, default=formats[0] if formats else "")
    if args.output_dir is None and required:
        raise UsageError(
            "--output-dir DIR"
            + (" (or - for stdout)" if args.output_stdout else "")
            + " is required"
        )
    if args.output_dir == STDOUT and not args.output_stdout:
        raise UsageError(f"--output-dir -: {args.command} writes a directory, not a stream")
    directory: str | None = args.output_dir
    return directory


def add_legacy_flows_flag(parser: argparse.ArgumentParser) -> None:
    """The old ``--flows INPUT...`` of verify and diff, kept for one release."""
    parser.add_argument(
        "--flows", dest="legacy_flows", nargs="+", default=None, metavar="INPUT",
        help=FLOWS_FLAG_HELP,
    )  # fmt: skip


def flow_inputs_from_args(args: argparse.Namespace, env: Env, example: str) -> list[str]:
    inputs: list[str] = list(args.inputs)
    if args.legacy_flows:
        env.warning(DEPRECATED_FLOWS.format(example=example))
        inputs.extend(args.legacy_flows)
    return inputs


@contextlib.contextmanager
def directory_or_stdout(directory: str, env: Env) -> Iterator[tuple[str, Env]]:
    """Where to write the bundle, and the console to report on.

    For ``-`` the bundle goes to a scratch directory, its manifests then to stdout as one YAML
    stream, and the summary to stderr so that stdout stays a clean stream.
    """
    if directory != STDOUT:
        yield directory, env
        return
    quiet = summary_console(directory, env)
    with tempfile.TemporaryDirectory(prefix="netpol-learner-") as scratch:
        bundle = os.path.join(scratch, "bundle")
        yield bundle, quiet
        write_manifest_stream(bundle, env.stdout)


def summary_console(directory: str, env: Env) -> Env:
    """``env``, with messages moved to stderr when stdout carries the manifests."""
    return dataclasses.replace(env, stdout=env.stderr) if directory == STDOUT else env


def manifest_paths(directory: str) -> list[str]:
    """The Kubernetes objects of a written bundle (not the kustomization, report or status)."""
    found: list[str] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = [name for name in dirs if not name.startswith(".")]
        for name in files:
            if name.endswith((".yaml", ".yml")) and name != "kustomization.yaml":
                found.append(os.path.join(root, name))
    return sorted(found, key=lambda path: os.path.relpath(path, directory))


def write_manifest_stream(directory: str, stream: TextIO) -> None:
    for index, path in enumerate(manifest_paths(directory)):
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        if index and not text.startswith("---"):
            stream.write("---\n")
        stream.write(text if text.endswith("\n") else text + "\n")
    stream.flush()
