"""``netpol-learner learn``: stream flows from Hubble or Calico Goldmane, learn continuously,
keep a proposal fresh."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from collectors.live_sources import LIVE_SOURCES, LiveStream
from collectors.stream_options import LiveRequest, ReconnectPolicy, ServerOptions
from learner.app.console import Env
from learner.app.progress import Progress
from learner.cli.git_options import add_git_options, git_target_from_args, publishing_for
from learner.cli.logs import LOG_FORMATS, configure_logging
from learner.cli.options import (
    add_command_parser,
    add_ignore_label_flag,
    add_include_dropped_flag,
    add_learner_options,
    add_namespace_flag,
    add_output_options,
    add_progress_flags,
    add_server_arguments,
    add_state_flag,
    config_from_args,
    reconnect_policy_from_args,
    server_options_from_args,
    since_from_args,
)
from learner.cli.output_target import add_output_dir_flags, output_dir_from_args
from learner.cli.startup_checks import check_output_directory, check_server_address
from learner.ingest.normalize import ALLOWED_VERDICTS
from learner.model.config import LearnConfig
from learner.model.durations import parse_duration
from learner.model.errors import ExitStatus, UsageError
from learner.model.flow import Verdict
from learner.model.inventory import Inventory
from learner.model.run_stats import CollectorStats

if TYPE_CHECKING:
    from learner.app.live import LiveLearner
    from learner.app.metrics import LearnerMetrics
    from learner.ingest.state import CollectorPosition, StateStore

HELP = (
    "stream flows from Hubble or Calico Goldmane, learn continuously and keep a fresh proposal "
    "in a directory"
)
EXAMPLES = """\
examples:
  # from a local port-forward: kubectl -n kube-system port-forward svc/hubble-relay 4245:80
  netpol-learner learn --state learn.db --output-dir proposal/

  # in-cluster, mTLS to hubble-relay, two namespaces, metrics for Prometheus
  netpol-learner learn --state /data/state.db --output-dir /data/proposal \\
      --server tls://hubble-relay.kube-system.svc:443 \\
      --tls-ca-cert-files /tls/ca.crt --tls-client-cert-file /tls/tls.crt \\
      --tls-client-key-file /tls/tls.key --tls-server-name instance.hubble-relay.cilium.io \\
      -n shop -n payments --metrics-addr :9090 --log-format json

  # Calico Open Source 3.30+: Goldmane (mTLS), through a port-forward to its port 7443
  netpol-learner learn --source goldmane --server localhost:7443 \\
      --tls-ca-cert-files ca.crt --tls-client-cert-file tls.crt --tls-client-key-file tls.key \\
      --tls-server-name goldmane.calico-system.svc --state learn.db --output-dir proposal/

  # get the current proposal out of a state file at any time
  netpol-learner export --state learn.db --output-dir proposal/

The policies (in -o) and report.md, report.json and status.json (in --report-dir, by default
<output>-report) are rewritten every --interval, atomically. A workload is Learning while it gains edges, Stabilizing after an --interval without
a new edge, Stable after --stabilization-period without one. SIGTERM/SIGINT save and exit.
"""


LEARN_PROGRESS_INTERVAL = 60.0
"""Seconds between progress log lines of ``learn`` (it runs for days) unless given."""


def register(sub: Any) -> None:
    parser = add_command_parser(sub, "learn", HELP, EXAMPLES)
    add_state_flag(parser)
    add_output_dir_flags(parser, "the proposal, report and status.json", stdout=False)
    default = next(iter(LIVE_SOURCES))
    parser.add_argument(
        "--source",
        choices=tuple(LIVE_SOURCES),
        default=default,
        help="; ".join(
            f"{s.name}: {s.help}, default server {s.default_server}" for s in LIVE_SOURCES.values()
        )
        + f" (default: {default})",
    )
    group = parser.add_argument_group("live learning")
    group.add_argument(
        "--interval",
        metavar="D",
        default="10m",
        help="how often to rewrite the proposal (default 10m)",
    )
    group.add_argument(
        "--stabilization-period",
        metavar="D",
        default="1h",
        help="quiet time (no new edge) after which a workload is Stable (default 1h)",
    )
    group.add_argument(
        "--save-interval",
        metavar="D",
        default="5s",
        help="how often to save to the state file (default 5s)",
    )
    group.add_argument(
        "--metrics-addr",
        default="",
        metavar="[HOST]:PORT",
        help="serve /metrics, /healthz and /readyz here, e.g. :9090 (default: off)",
    )
    group.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="text",
        help="text lines, or one JSON object per line for log collectors (default text)",
    )
    add_git_options(parser)
    add_live_flow_options(parser)
    add_server_arguments(parser)
    add_learner_options(parser)
    add_output_options(parser)
    add_progress_flags(parser, default_interval=LEARN_PROGRESS_INTERVAL)
    parser.set_defaults(handler=run)


def add_live_flow_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("flows")
    add_namespace_flag(
        group,
        "only flows with a pod in NS (repeatable: OR); Hubble filters them on the server",
    )
    add_include_dropped_flag(group, "also learn from DROPPED/ERROR flows")
    add_ignore_label_flag(group)


def verdicts_for(config: LearnConfig) -> tuple[Verdict, ...]:
    """The verdicts to stream: DROPPED always, so that a connection allowed at one end and
    dropped at the other stays contested (EdgeStore.contested); ERROR only when learned from."""
    verdicts = set(ALLOWED_VERDICTS) | {Verdict.DROPPED}
    if config.include_dropped:
        verdicts.add(Verdict.ERROR)
    return tuple(sorted(verdicts))


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """Where and how to stream, read from the flags before the state is opened."""

    source: str
    server: ServerOptions
    reconnect: ReconnectPolicy
    since_ns: int | None

    @property
    def collector(self) -> str:
        """The name the stream's position is saved under, e.g. ``goldmane:localhost:7443``."""
        return f"{self.source}:{self.server.server}"


def stream_settings_from_args(args: argparse.Namespace) -> StreamSettings:
    return StreamSettings(
        source=args.source,
        server=LIVE_SOURCES[args.source].server_options(server_options_from_args(args)),
        reconnect=reconnect_policy_from_args(args),
        since_ns=since_from_args(args, time.time()),
    )


def open_stream(
    settings: StreamSettings,
    config: LearnConfig,
    saved: CollectorPosition | None,
    stats: CollectorStats,
) -> LiveStream:
    """The ``--source`` stream, resuming from ``saved`` (the state's position for it)."""
    request = LiveRequest(
        server=settings.server,
        reconnect=settings.reconnect,
        stats=stats,
        since_ns=settings.since_ns,
        resume=(saved.time_ns, saved.boundary) if saved else None,
        namespaces=config.namespaces,
        verdicts=verdicts_for(config),
    )
    return LIVE_SOURCES[settings.source].open(request)


def inventory_loader(args: argparse.Namespace) -> Callable[[], Inventory] | None:
    """Reads ``--inventory`` (manifests, or ``cluster``) again before every proposal."""
    if not args.inventory:
        return None
    from learner.ingest.inventory_load import load_inventory

    def load() -> Inventory:
        return load_inventory(args.inventory, kubeconfig=args.kubeconfig, context=args.context)

    return load


def initial_inventory(load: Callable[[], Inventory] | None, state: StateStore) -> Inventory | None:
    """``--inventory`` when given (saved as the state's snapshot), else the saved snapshot."""
    if load is not None:
        inventory = load()  # fail fast on a bad path or unreachable cluster
        state.save_inventory(inventory)
        return inventory
    saved = state.inventory()
    return saved[0] if saved else None


def metrics_reader(learner: LiveLearner, stream: LiveStream) -> Callable[[], LearnerMetrics]:
    from learner.app.metrics import LearnerMetrics

    session = learner.session
    publishing = learner.publishing

    def read() -> LearnerMetrics:
        normalized, collected = session.normalized, session.collected
        return LearnerMetrics(
            flows_received=collected.flows,
            flows_processed=normalized.included,
            flows_skipped={r.name.lower(): n for r, n in normalized.skipped.items()},
            lost_events=collected.lost_events,
            malformed_records=collected.malformed,
            duplicate_flows=stream.counters.duplicates,
            reconnects=stream.counters.reconnects,
            edges=len(session.store.edges),
            workloads={str(s): n for s, n in learner.statuses.items()},
            policies=learner.policies,
            unsaved_edges=session.unsaved_edges,
            connected=stream.connected,
            last_regeneration=learner.last_regeneration,
            regeneration_seconds=learner.regeneration_seconds,
            last_save=learner.last_save,
            git_publications=dict(publishing.outcomes) if publishing else {},
            last_git_push=publishing.last_push if publishing else 0.0,
        )

    return read


@contextmanager
def stop_on_signals(learner: LiveLearner) -> Iterator[list[int]]:
    """SIGTERM/SIGINT ask the learner to save and stop; yields the signals received."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handle(signum: int, frame: object) -> None:
        received.append(signum)
        learner.stop()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def learn_progress(args: argparse.Namespace, env: Env, log: logging.Logger) -> Progress:
    """Flows read and their rate: redrawn on a terminal, else an INFO log line (so that
    ``--log-format json`` stays one JSON object per line)."""
    style = env.progress_style
    if args.progress_interval is None:
        style = dataclasses.replace(style, interval=LEARN_PROGRESS_INTERVAL)
    return Progress("learning", stream=env.stderr, style=style, unit="flows", emit=log.info)


@contextmanager
def logs_above_progress(progress: Progress) -> Iterator[None]:
    """On a terminal, log lines print above the progress line instead of through it."""
    if progress.style.mode != "terminal":
        yield
        return
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm():
        yield


def run(args: argparse.Namespace, env: Env) -> ExitStatus:
    from learner.app.live import META_INTERVAL, META_STABILIZATION, LiveLearner, LiveSettings
    from learner.app.metrics import MetricsServer, registry_for
    from learner.app.session import LearningSession
    from learner.ingest.state import StateStore
    from learner.ingest.statelock import exclusive_writer
    from outputs.bundle import report_dir_for

    configure_logging(args.log_format, env.stderr, debug=bool(args.debug))
    log = logging.getLogger("netpol_learner.learn")
    output = output_dir_from_args(args, env)
    assert output is not None
    config = config_from_args(args)
    interval = parse_duration(args.interval, "--interval")
    stabilization = parse_duration(args.stabilization_period, "--stabilization-period")
    save_interval = parse_duration(args.save_interval, "--save-interval")
    if interval <= 0 or save_interval <= 0 or stabilization < 0:
        raise UsageError("--interval and --save-interval must be > 0, --stabilization-period >= 0")
    check_server_address(args.server)
    check_output_directory(output)
    streaming = stream_settings_from_args(args)
    git_target = git_target_from_args(args)
    collector = streaming.collector
    os.makedirs(os.path.dirname(os.path.abspath(args.state)), exist_ok=True)
    with exclusive_writer(args.state, "learn"), StateStore(args.state) as state:
        state.set_meta(META_INTERVAL, args.interval)
        state.set_meta(META_STABILIZATION, args.stabilization_period)
        session = LearningSession(state, config)
        load = inventory_loader(args)
        inventory = initial_inventory(load, state)
        stream = open_stream(streaming, config, state.position(collector), session.collected)
        settings = LiveSettings(
            output=output,
            collector=collector,
            report_dir=report_dir_for(output, args.report_dir),
            interval=interval,
            stabilization_period=stabilization,
            save_interval=save_interval,
        )
        publishing = publishing_for(git_target, state)
        progress = learn_progress(args, env, log)
        learner = LiveLearner(
            session,
            stream,
            settings,
            inventory=inventory,
            inventory_loader=load,
            publishing=publishing,
            progress=progress,
        )
        session.counter_sources.append(
            lambda: {
                "stream.reconnects": stream.counters.reconnects,
                "stream.duplicates": stream.counters.duplicates,
            }
        )
        metrics = None
        if args.metrics_addr:
            metrics = MetricsServer(
                args.metrics_addr,
                registry_for(metrics_reader(learner, stream)),
                healthy=learner.healthy,
                ready=learner.ready,
            ).start()
            log.info(
                "serving /metrics, /healthz and /readyz on %s (port %d)",
                args.metrics_addr,
                metrics.port,
                extra={"metrics_port": metrics.port},
            )
        log.info(
            "learning from %s into %s (%d edges so far%s); proposal in %s every %s",
            collector,
            args.state,
            len(session.store.edges),
            ", resuming" if stream.position is not None else "",
            output,
            args.interval,
        )
        try:
            with stop_on_signals(learner) as received, logs_above_progress(progress):
                learner.run()
        finally:
            if metrics is not None:
                metrics.close()
        log.info("stopped; state saved to %s", args.state)
    if signal.SIGINT in received:
        return ExitStatus.INTERRUPTED
    return ExitStatus.SUCCESS
