"""The ``netpol-learner`` command line.

Each subcommand lives in ``learner.cli.<name>``, is listed in :data:`COMMANDS`, and exposes
``register(subparsers)``, which adds its parser and sets ``handler=run`` where
``run(args, env) -> ExitStatus``.
Handlers raise :class:`~learner.errors.NetpolLearnerError` for expected failures; only
:func:`main` catches, prints one line and maps to an exit status.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import gc
import logging
import os
import sqlite3
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

from learner.app.console import Env
from learner.cli import (  # one line per command module; COMMANDS sets the order
    completion,
    diff,
    export,
    generate,
    ingest,
    learn,
    simulate,
    verify,
)
from learner.cli.envflags import apply_environment
from learner.cli.options import progress_style_from_args
from learner.ingest.statelock import state_error_message
from learner.model.errors import ExitStatus, NetpolLearnerError

PROG = "netpol-learner"
KUBECTL_PROG = "kubectl netpol"
COMMANDS = (generate, simulate, diff, verify, ingest, learn, export, completion)
"""Every subcommand, in the order ``--help`` lists them: one line per command module."""

EPILOG = """\
exit status:
  0  success (for verify/diff: nothing found)
  1  findings: verify saw denied flows, or diff found what --fail-on asks about
  2  usage error, unreadable or malformed input, invalid manifest
  3  source unavailable (gRPC server, Kubernetes API, TLS, timeout)
  4  internal error (rerun with --debug and report it)
  130 interrupted

every --long-flag can also be set as NETPOL_LEARNER_LONG_FLAG (flags on the command line win;
comma-separate repeatable flags).

examples:
  netpol-learner generate flows.jsonl --output-dir policies/
  netpol-learner diff --current deployed/ --proposed policies/ flows.jsonl
  netpol-learner simulate --output-dir examples/
"""


def installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # slow: only for --version

    try:
        return version("netpol-learner")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


class VersionAction(argparse.Action):
    """``--version``: the installed version, looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(
            option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=kwargs.get("help")
        )

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        sys.stdout.write(f"{parser.prog} {installed_version()}\n")
        parser.exit()


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Learn least-privilege Kubernetes network policies from observed flows.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-D", "--debug", action="store_true", help="show tracebacks and debug logging"
    )
    parser.add_argument("--version", action=VersionAction, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def command() -> NoReturn:
    """Entry point of the ``netpol-learner`` executable."""
    exit_process(main())


def kubectl_plugin() -> NoReturn:
    """Entry point of the ``kubectl-netpol`` executable: ``kubectl netpol COMMAND ...``.

    kubectl runs any ``kubectl-NAME`` on the PATH with the remaining arguments and the caller's
    environment, so ``KUBECONFIG`` and the current context reach the kubernetes client unchanged.
    """
    exit_process(main(prog=KUBECTL_PROG))


def exit_process(status: int) -> NoReturn:
    """End the process with ``status`` once what has to happen at exit has happened.

    Python's own exit would then tear the interpreter down, freeing the objects of every
    module one by one: 20-40 ms of each run (docs/performance.md), for memory the system takes
    back anyway. With only this thread left, the exit handlers (logging's flush,
    multiprocessing's and temporary directories' clean-up) run and the standard streams are
    flushed here, and the process ends without the teardown; threads still running get
    Python's usual exit, which waits for them.
    """
    if threading.active_count() > 1:
        sys.exit(status)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # a reader that went away, a stream closed
            pass
        except OSError as exc:  # output lost (a full disk): as Python's own exit, status 120
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write(f"{PROG}: error: cannot write the output: {exc}\n")
                sys.stderr.flush()
            status = status or 120
    os._exit(status)


YOUNG_COLLECTION_THRESHOLD = 20_000
"""Allocations between two passes of Python's cycle collector over its youngest objects
(Python's default is 700). Reading flows, sending a worker's store back and learning allocate
containers by the million that are never in a cycle; the passes over them took about 4 % of a
200,000-line ``generate`` (docs/performance.md). The older generations keep their defaults."""


def main(argv: Sequence[str] | None = None, *, env: Env | None = None, prog: str = PROG) -> int:
    young, *older = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_COLLECTION_THRESHOLD), *older)
    env = env or Env.from_process()
    parser = build_parser(prog)
    try:
        apply_environment(parser, os.environ)
    except NetpolLearnerError as exc:
        env.error(str(exc))
        return int(exc.exit_status)
    args = parser.parse_args(argv)
    debug = bool(args.debug or os.environ.get("NETPOL_LEARNER_DEBUG"))
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format=f"{PROG}: %(levelname)s: %(message)s",
        stream=env.stderr,
    )
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(env.stdout)
        return int(ExitStatus.USAGE)
    try:
        env = dataclasses.replace(
            env, progress_style=progress_style_from_args(args, env.progress_style)
        )
        return int(handler(args, env))
    except NetpolLearnerError as exc:
        if debug:
            traceback.print_exc(file=env.stderr)
        env.error(str(exc))
        return int(exc.exit_status)
    except sqlite3.DatabaseError as exc:
        if debug:
            traceback.print_exc(file=env.stderr)
        env.error(state_error_message(getattr(args, "state", None), exc))
        return int(ExitStatus.USAGE)
    except KeyboardInterrupt:
        env.error("interrupted")
        return int(ExitStatus.INTERRUPTED)
    except BrokenPipeError:
        return int(ExitStatus.SUCCESS)
    except Exception as exc:  # the one broad catch: report bugs without a traceback
        if debug:
            traceback.print_exc(file=env.stderr)
        else:
            env.error(
                f"internal error: {type(exc).__name__}: {exc} "
                "(rerun with --debug for details, and please report it)"
            )
        return int(ExitStatus.INTERNAL)


if __name__ == "__main__":  # pragma: no cover
    command()
