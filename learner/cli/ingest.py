"""``netpol-learner ingest``: add batch flow files to a learning state file.

Batch and live learning share one model: ``ingest`` feeds files through the same session (and
the same normalisation) as ``learn`` feeds a stream, and ``learn``/``export``/``generate --state``
read the result. Each file is saved in one transaction together with its content digest, so an
interrupted ingest leaves whole files or nothing, and ingesting the same file twice is refused
(it would count its flows twice) unless ``--force``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from typing import Any

from learner.app.console import Env
from learner.app.pipeline import read_flows
from learner.app.session import LearningSession
from learner.cli.options import (
    add_command_parser,
    add_flow_options,
    add_state_flag,
    namespaces_from_args,
)
from learner.ingest.normalize import normalize
from learner.ingest.state import StateStore
from learner.model.config import LearnConfig
from learner.model.errors import ExitStatus, InputError
from learner.model.input_files import STDIN, expand_inputs

HELP = "add flow files (Hubble or Calico exports) to a learning state file"
EXAMPLES = """\
examples:
  netpol-learner ingest flows/*.jsonl.gz --state learn.db
  hubble observe --since 1h -o jsonpb | netpol-learner ingest - --state learn.db
  netpol-learner export --state learn.db -o proposal/
"""


def register(sub: Any) -> None:
    parser = add_command_parser(sub, "ingest", HELP, EXAMPLES)
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files, directories or -")
    add_state_flag(parser)
    parser.add_argument(
        "--force", action="store_true", help="ingest files even if their content was ingested"
    )
    add_flow_options(parser)
    parser.set_defaults(handler=run)


def file_digest(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            return "sha256:" + hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as error:
        raise InputError(path, 0, f"cannot read: {error.strerror or error}") from error


def run(args: argparse.Namespace, env: Env) -> ExitStatus:
    config = LearnConfig(
        include_dropped=args.include_dropped,
        namespaces=namespaces_from_args(args),
        ignore_labels=tuple(args.ignore_label),
    )
    paths = expand_inputs(args.inputs)
    os.makedirs(os.path.dirname(os.path.abspath(args.state)), exist_ok=True)
    with StateStore(args.state) as state:
        session = LearningSession(state, config)
        before = len(session.store.edges)
        ingested = skipped = 0
        for path in paths:
            digest = "" if path == STDIN else file_digest(path)
            earlier = state.ingested(digest) if digest else None
            if earlier is not None and not args.force:
                env.warning(f"{path}: already ingested (as {earlier}); skipped (use --force)")
                skipped += 1
                continue
            flows = read_flows(
                [path], source=args.source, strict=args.strict, stats=session.collected
            )
            options = config.normalize_options()
            for flow in normalize(flows, options, session.normalized, session.note_denied):
                session.add(flow)
            session.write(session.capture(files=[(digest, path)] if digest else ()))
            ingested += 1
        collected, normalized = session.collected, session.normalized
        for error in collected.errors:
            env.warning(f"skipped {error}")
        if collected.malformed > len(collected.errors):
            env.warning(f"... and {collected.malformed - len(collected.errors):,} more malformed")
        if collected.lost_events:
            env.warning(
                f"the CNI reported {collected.lost_events:,} lost events: flows are missing"
            )
        env.info(
            f"ingested {ingested} of {len(paths)} inputs ({skipped} already ingested): "
            f"{collected.flows:,} flows, {normalized.included:,} used; "
            f"{len(session.store.edges) - before:,} new edges, "
            f"{len(session.store.edges):,} in {args.state}"
        )
    return ExitStatus.SUCCESS
