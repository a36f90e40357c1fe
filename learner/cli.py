"""The ``netpol-learner`` command line.

Each subcommand lives in ``learner.commands.<name>`` and exposes ``register(subparsers)``,
which adds its parser and sets ``handler=run`` where ``run(args, env) -> ExitStatus``.
Handlers raise :class:`~learner.errors.NetpolLearnerError` for expected failures; only
:func:`main` catches, prints one line and maps to an exit status.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sqlite3
import sys
import traceback
from collections.abc import Sequence

from learner.console import Env
from learner.envflags import apply_environment
from learner.errors import ExitStatus, NetpolLearnerError
from learner.statelock import state_error_message

PROG = "netpol-learner"
COMMANDS: tuple[str, ...] = (
    "generate",
    "simulate",
    "diff",
    "verify",
    "ingest",
    "learn",
    "export",
)

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
  netpol-learner generate flows.jsonl -o policies/
  netpol-learner diff --current deployed/ --proposed policies/ --flows flows.jsonl
  netpol-learner simulate -o examples/
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Learn least-privilege Kubernetes network policies from observed flows.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-D", "--debug", action="store_true", help="show tracebacks and debug logging"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"learner.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"learner.commands.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None, *, env: Env | None = None) -> int:
    env = env or Env.from_process()
    parser = build_parser()
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
    sys.exit(main())
