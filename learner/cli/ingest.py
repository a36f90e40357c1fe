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
import io
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import IO, TYPE_CHECKING, Any, cast

from learner.app.console import Env
from learner.cli.options import (
    add_cluster_cidr_flag,
    add_command_parser,
    add_flow_options,
    add_peer_cap_flag,
    add_state_flag,
    checked_config,
    namespaces_from_args,
)
from learner.ingest.statelock import exclusive_writer
from learner.model.errors import ExitStatus, InputError
from learner.model.input_files import (
    STDIN,
    expand_inputs,
    metered_reads,
    open_binary,
    total_size,
)

if TYPE_CHECKING:
    from learner.app.progress import Progress
    from learner.app.session import LearningSession

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
    memory = parser.add_argument_group("memory")
    add_peer_cap_flag(memory)
    add_cluster_cidr_flag(memory)
    parser.set_defaults(handler=run)


def file_digest(path: str) -> str:
    """SHA-256 of the content, decompressed: a ``.gz`` copy has the digest of the original."""
    try:
        digest = hashlib.sha256()
        with open_binary(path) as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        return "sha256:" + digest.hexdigest()
    except (OSError, EOFError) as error:
        reason = getattr(error, "strerror", None) or error
        raise InputError(path, 0, f"cannot read: {reason}") from error


@contextmanager
def spooled_stdin(directory: str) -> Iterator[str]:
    """Copy standard input (decompressed) to a temporary file that then serves as stdin, and
    yield its digest: a stream cannot be checked against the state before it is read."""
    digest = hashlib.sha256()
    with tempfile.TemporaryFile(dir=directory, prefix=".netpol-learner-stdin-") as spool:
        source = open_binary(STDIN)
        try:
            while chunk := source.read(1 << 20):
                digest.update(chunk)
                spool.write(chunk)
        except (OSError, EOFError) as error:
            raise InputError(STDIN, 0, f"cannot read: {error}") from error
        spool.seek(0)
        saved = sys.stdin
        sys.stdin = io.TextIOWrapper(cast(IO[bytes], spool), encoding="utf-8")
        try:
            yield "sha256:" + digest.hexdigest()
        finally:
            sys.stdin.detach()
            sys.stdin = saved


def read_file(
    path: str,
    session: LearningSession,
    args: argparse.Namespace,
    progress: Progress,
    done_bytes: int,
) -> None:
    """Add the flows of ``path`` to ``session``, with progress counted from ``done_bytes``."""
    from learner.app.pipeline import PROGRESS_EVERY, read_flows
    from learner.ingest.normalize import normalize

    flows = read_flows([path], source=args.source, strict=args.strict, stats=session.collected)
    options = session.config.normalize_options()
    normalized = session.normalized
    with metered_reads() as meter:
        for flow in normalize(
            flows, options, normalized, session.note_denied, session.note_answers
        ):
            session.add(flow)
            if normalized.included & PROGRESS_EVERY == 0:
                progress.update(normalized.seen, done_bytes + meter.position())


def run(args: argparse.Namespace, env: Env) -> ExitStatus:
    from learner.app.session import LearningSession
    from learner.ingest.state import StateStore

    config = checked_config(
        include_dropped=args.include_dropped,
        namespaces=namespaces_from_args(args),
        ignore_labels=tuple(args.ignore_label),
        max_external_peers=args.max_external_peers,
        cluster_cidrs=tuple(args.cluster_cidr),
    )
    paths = expand_inputs(args.inputs)
    directory = os.path.dirname(os.path.abspath(args.state))
    os.makedirs(directory, exist_ok=True)
    with (
        exclusive_writer(args.state, "ingest"),
        StateStore(args.state) as state,
        ExitStack() as stack,
    ):
        session = LearningSession(state, config)
        before = len(session.store.edges)
        ingested = skipped = 0
        progress = env.progress("reading flows", total=total_size(paths))
        done_bytes = 0
        try:
            for path in paths:
                if path == STDIN:
                    digest = stack.enter_context(spooled_stdin(directory))
                else:
                    digest = file_digest(path)
                earlier = state.ingested(digest)
                if earlier is not None and not args.force:
                    env.warning(f"{path}: already ingested (as {earlier}); skipped (use --force)")
                    skipped += 1
                else:
                    read_file(path, session, args, progress, done_bytes)
                    session.write(session.capture(files=[(digest, path)]))
                    ingested += 1
                done_bytes += 0 if path == STDIN else os.path.getsize(path)
                progress.update(session.normalized.seen, done_bytes)
        finally:
            progress.close()
        collected, normalized = session.collected, session.normalized
        for error in collected.errors:
            env.warning(f"skipped {error}")
        if collected.malformed > len(collected.errors):
            env.warning(f"... and {collected.malformed - len(collected.errors):,} more malformed")
        for warning, count in sorted(collected.warnings.items()):
            env.warning(f"{warning} ({count:,} records)")
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
