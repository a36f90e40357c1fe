"""Every flag group that more than one command shares, declared once.

A command's module adds the groups it needs (``add_flow_options(parser)`` ...) and reads them
back with the ``*_from_args`` functions here, so a flag means the same everywhere.
"""

from __future__ import annotations

import argparse
from typing import Any

from collectors.base import FILE_SOURCES
from collectors.stream_options import DEFAULT_SERVER, ReconnectPolicy, ServerOptions, TLSOptions
from learner.app.cni_choice import CIDR_MATCH_NODES_HELP, CNI_CHOICES, CNI_HELP, resolve_cni
from learner.app.progress import DEFAULT_INTERVAL, ProgressStyle
from learner.model.config import DEFAULT_MAX_MALFORMED, LEARNERS, LearnConfig, RenderOptions
from learner.model.durations import parse_duration, parse_time
from learner.model.errors import ConfigError, UsageError
from learner.model.external import DEFAULT_MAX_EXTERNAL_PEERS
from outputs.base import FORMATS

IGNORE_LABEL_HELP = (
    "a volatile label key to leave out of workload identity (repeatable; KEY* = prefix); "
    "role, */role, *-role, *instance-role*, leader labels and per-instance names always are"
)


ArgumentGroup = argparse.ArgumentParser | argparse._ArgumentGroup
"""Where a flag goes: a parser, or one of its groups."""


def add_command_parser(sub: Any, name: str, help: str, examples: str) -> argparse.ArgumentParser:
    """A subcommand's parser: its one-line help, and examples below the flags."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help,
        description=help,
        epilog=examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def add_state_flag(group: ArgumentGroup) -> None:
    group.add_argument("--state", required=True, metavar="PATH", help="SQLite state file")


def add_cluster_flags(group: ArgumentGroup, inventory_help: str) -> None:
    """``--inventory`` (manifests or ``cluster``) and the kubeconfig that reaches a cluster."""
    group.add_argument("--inventory", metavar="PATH|cluster", help=inventory_help)
    group.add_argument(
        "--kubeconfig", metavar="FILE", help="kubeconfig for 'cluster' (default: $KUBECONFIG)"
    )
    group.add_argument(
        "--context", metavar="NAME", help="kubeconfig context for 'cluster' (default: current)"
    )


def add_source_flag(group: ArgumentGroup, help: str) -> None:
    """``--source``: a flow-file format from the collectors' registry, or ``auto``."""
    group.add_argument("--source", choices=("auto", *FILE_SOURCES), default="auto", help=help)


def add_namespace_flag(group: ArgumentGroup, help: str) -> None:
    """``-n/--namespace NS`` (repeatable) and kubectl's ``-A/--all-namespaces``, the default."""
    group.add_argument("-n", "--namespace", action="append", default=[], metavar="NS", help=help)
    group.add_argument(
        "-A",
        "--all-namespaces",
        action="store_true",
        help="every namespace (the default; it cannot be combined with -n)",
    )


def namespaces_from_args(args: argparse.Namespace) -> tuple[str, ...]:
    """The ``-n`` namespaces, sorted; empty means all of them."""
    if args.all_namespaces and args.namespace:
        raise UsageError("-A/--all-namespaces and -n/--namespace exclude each other")
    return tuple(sorted(set(args.namespace)))


def add_include_dropped_flag(group: ArgumentGroup, help: str) -> None:
    group.add_argument("--include-dropped", action="store_true", help=help)


def add_ignore_label_flag(group: ArgumentGroup, help: str = IGNORE_LABEL_HELP) -> None:
    group.add_argument("--ignore-label", action="append", default=[], metavar="KEY", help=help)


def add_strict_flag(group: ArgumentGroup) -> None:
    group.add_argument(
        "--strict", action="store_true", help="stop at the first malformed record (exit 2)"
    )


LEARN_NAMESPACE_HELP = (
    "only learn and write policies for workloads in NS (repeatable; repeated flags mean "
    "OR); other workloads stay peers and their files in the output directory are kept"
)
LEARN_DROPPED_HELP = "also learn from DROPPED/ERROR flows (default: report them only)"


def add_flow_options(
    parser: argparse.ArgumentParser,
    namespace_help: str = LEARN_NAMESPACE_HELP,
    dropped_help: str = LEARN_DROPPED_HELP,
) -> None:
    """Options about reading and filtering flows, shared by every command that reads flows."""
    group = parser.add_argument_group("flows")
    add_source_flag(group, "input format (default: detected from each file's first records)")
    add_namespace_flag(group, namespace_help)
    add_include_dropped_flag(group, dropped_help)
    add_ignore_label_flag(group)
    add_strict_flag(group)
    add_progress_flags(parser)


def add_progress_flags(
    parser: argparse.ArgumentParser, default_interval: float = DEFAULT_INTERVAL
) -> None:
    """``-q/--quiet`` and ``--progress-interval``: how progress on stderr is shown."""
    group = parser.add_argument_group("progress")
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress on stderr (warnings and errors still print)",
    )
    group.add_argument(
        "--progress-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="when stderr is not a terminal (CI logs), print a progress line every SECONDS "
        f"(default {default_interval:g}; on a terminal one line is redrawn in place, "
        "every 0.2 s or SECONDS if shorter)",
    )


def progress_style_from_args(args: argparse.Namespace, style: ProgressStyle) -> ProgressStyle:
    """``style`` (what the terminal allows) with the command's progress flags applied."""
    if getattr(args, "quiet", False):
        return ProgressStyle("off", style.interval)
    interval = getattr(args, "progress_interval", None)
    if interval is None:
        return style
    if interval < 0:
        raise UsageError("--progress-interval must be >= 0")
    return ProgressStyle(style.mode, interval)


def add_learner_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("learning")
    group.add_argument(
        "--learner",
        choices=LEARNERS,
        default="least-privilege",
        help="how to learn (default least-privilege; baseline is the naive one-rule-per-edge)",
    )
    group.add_argument(
        "--max-overreach",
        type=int,
        default=0,
        metavar="N",
        help="unobserved workloads a selector may admit to be shorter (default 0)",
    )
    group.add_argument(
        "--min-flows",
        type=int,
        default=1,
        metavar="N",
        help="edges seen fewer times are listed as pending, not allowed",
    )
    group.add_argument("--min-age", default="0s", metavar="D", help="e.g. 1h: pending until then")
    group.add_argument(
        "--expire-after", default=None, metavar="D", help="drop edges not seen for D (e.g. 14d)"
    )
    group.add_argument(
        "--port-range-min",
        type=int,
        default=0,
        metavar="K",
        help="merge runs of >= K contiguous ports into port+endPort (default off)",
    )
    add_cluster_cidr_flag(group)
    group.add_argument(
        "--node-cidr",
        action="append",
        default=[],
        metavar="CIDR",
        help="the range node addresses come from: rules to or from nodes allow it, so that "
        "nodes added later are reached (default: the nodes seen widened to their /16, short "
        "of the cluster's ranges; repeatable)",
    )
    group.add_argument(
        "--internet-min-networks",
        type=int,
        default=8,
        metavar="N",
        help="public peers from N or more /16 networks become 'any public address', stated in "
        "the report (default 8; 0 = never)",
    )
    add_peer_cap_flag(group)
    add_cluster_flags(group, "manifests (files/dirs, kubectl get -o yaml dumps) or 'cluster'")


def add_cluster_cidr_flag(group: ArgumentGroup) -> None:
    group.add_argument(
        "--cluster-cidr",
        action="append",
        default=[],
        metavar="CIDR",
        help="pod/service range to exclude from broad external blocks and never fold outside "
        "addresses over (--max-external-peers); without it private addresses over the cap fold "
        "into 'private networks' (repeatable)",
    )


def add_peer_cap_flag(group: ArgumentGroup) -> None:
    group.add_argument(
        "--max-external-peers",
        type=int,
        default=DEFAULT_MAX_EXTERNAL_PEERS,
        metavar="N",
        help="distinct outside addresses kept per workload, direction and port before they are "
        "folded into /24 (IPv6 /48) prefixes, then 'any public/private address'; bounds memory "
        "whatever the traffic, stated in the report (default %(default)s; 0 = no cap)",
    )


def add_cni_flags(group: ArgumentGroup) -> None:
    group.add_argument("--cni", choices=CNI_CHOICES, default="auto", help=CNI_HELP)
    group.add_argument("--cilium-cidr-match-nodes", action="store_true", help=CIDR_MATCH_NODES_HELP)


def add_output_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output")
    group.add_argument(
        "--format", choices=tuple(FORMATS), default="networkpolicy", help="policy dialect"
    )
    group.add_argument(
        "--default-deny", action="store_true", help="also write a default-deny per namespace"
    )
    group.add_argument("--l7", action="store_true", help="HTTP rules where the dialect has them")
    group.add_argument("--tier", default="default", help="Calico tier (default: default)")
    add_cni_flags(group)
    group.add_argument(
        "--include-system",
        action="store_true",
        help="also write policies for kube-system, kube-public, kube-node-lease and the CNI's "
        "namespaces (cilium-*, calico-*, tigera-*); by default they are only peers",
    )
    group.add_argument(
        "--report-dir",
        metavar="DIR",
        help="where report.md and report.json go, outside the manifest directory so that "
        "kubectl apply -R -f and Argo CD/Flux read only policies (default: <output>-report)",
    )


def add_write_guard_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("refusing to write")
    group.add_argument(
        "--max-malformed",
        type=float,
        default=DEFAULT_MAX_MALFORMED,
        metavar="PCT",
        help="exit 5 and write nothing when more than PCT%% of records are malformed "
        "(default %(default)g)",
    )
    group.add_argument(
        "--allow-empty",
        action="store_true",
        help="write even when the run used no flow, would write 0 policies or saw too many "
        "malformed records (default: exit 5 and leave the output directory as it was)",
    )


FLAG_OF_SETTING = {"cluster_cidrs": "--cluster-cidr", "node_cidrs": "--node-cidr"}
"""LearnConfig fields whose flag is not ``--`` + the field name with dashes."""


def checked_config(**settings: Any) -> LearnConfig:
    """A :class:`LearnConfig` from flag values; a setting out of range is a usage error naming
    its flag."""
    try:
        return LearnConfig(**settings)
    except ConfigError as exc:
        flag = FLAG_OF_SETTING.get(exc.setting, "--" + exc.setting.replace("_", "-"))
        raise UsageError(f"{flag} {exc.problem}") from exc


def config_from_args(args: argparse.Namespace) -> LearnConfig:
    """The run's :class:`LearnConfig` (validated once, by the config itself)."""
    return checked_config(
        include_dropped=args.include_dropped,
        namespaces=namespaces_from_args(args),
        ignore_labels=tuple(args.ignore_label),
        learner=args.learner,
        max_overreach=args.max_overreach,
        min_flows=args.min_flows,
        min_age=parse_duration(args.min_age, "--min-age"),
        expire_after=(
            parse_duration(args.expire_after, "--expire-after") if args.expire_after else None
        ),
        port_range_min=args.port_range_min,
        cluster_cidrs=tuple(args.cluster_cidr),
        node_cidrs=tuple(args.node_cidr),
        internet_min_networks=args.internet_min_networks,
        max_external_peers=args.max_external_peers,
        format=args.format,
        include_system=args.include_system,
        render=RenderOptions(default_deny=args.default_deny, l7=args.l7, tier=args.tier),
        cni=resolve_cni(
            args.cni, getattr(args, "source", "auto"), getattr(args, "inputs", None) or []
        ),
        cidr_match_nodes=args.cilium_cidr_match_nodes,
    )


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """The hubble CLI's server flags, plus reconnect tuning."""
    group = parser.add_argument_group("Hubble server")
    group.add_argument(
        "--server",
        "--hubble-server",
        dest="server",
        metavar="ADDR",
        default=DEFAULT_SERVER,
        help=f"hubble-relay or Hubble server: host:port, tls://host:port or unix:///path "
        f"(default {DEFAULT_SERVER}; for learn, the default server of its --source)",
    )
    group.add_argument("--tls", action="store_true", help="connect with TLS")
    group.add_argument(
        "--tls-allow-insecure",
        action="store_true",
        help="trust the (self-signed) certificate the server presents without verifying it",
    )
    group.add_argument(
        "--tls-ca-cert-files",
        action="append",
        default=[],
        metavar="FILE",
        help="PEM CA bundle(s) to verify the server with (repeat or comma-separate)",
    )
    group.add_argument(
        "--tls-client-cert-file",
        default="",
        metavar="FILE",
        help="PEM client certificate for mutual TLS",
    )
    group.add_argument(
        "--tls-client-key-file",
        default="",
        metavar="FILE",
        help="PEM key of the client certificate",
    )
    group.add_argument(
        "--tls-server-name",
        default="",
        metavar="NAME",
        help="name to verify the server certificate for, e.g. instance.hubble-relay.cilium.io",
    )
    group.add_argument(
        "--timeout", metavar="D", default="5s", help="connection (dial) timeout (default 5s)"
    )
    group.add_argument(
        "--request-timeout", metavar="D", default="12s", help="timeout of unary calls (default 12s)"
    )
    group.add_argument(
        "--since",
        metavar="D",
        default="",
        help="on the first connection with no saved position, start at this time "
        "(duration ago such as 1h, or RFC 3339); default: new flows only",
    )
    group.add_argument(
        "--reconnect-backoff",
        metavar="D",
        default="1s",
        help="first delay before reconnecting; doubles per failure (default 1s)",
    )
    group.add_argument(
        "--reconnect-backoff-max",
        metavar="D",
        default="30s",
        help="longest reconnect delay (default 30s)",
    )
    group.add_argument(
        "--max-reconnects",
        type=int,
        default=10,
        metavar="N",
        help="give up after N consecutive failed attempts, 0 = never (default 10)",
    )


def server_options_from_args(args: argparse.Namespace) -> ServerOptions:
    ca_files = tuple(
        part for item in args.tls_ca_cert_files for part in item.split(",") if part.strip()
    )
    return ServerOptions(
        server=args.server,
        tls=TLSOptions(
            enabled=bool(
                args.tls or args.tls_allow_insecure or ca_files or args.tls_client_cert_file
            ),
            allow_insecure=args.tls_allow_insecure,
            ca_cert_files=ca_files,
            client_cert_file=args.tls_client_cert_file,
            client_key_file=args.tls_client_key_file,
            server_name=args.tls_server_name,
        ),
        dial_timeout=parse_duration(args.timeout, "--timeout"),
        request_timeout=parse_duration(args.request_timeout, "--request-timeout"),
    )


def reconnect_policy_from_args(args: argparse.Namespace) -> ReconnectPolicy:
    if args.max_reconnects < 0:
        raise UsageError("--max-reconnects must be 0 (never give up) or more")
    return ReconnectPolicy(
        initial_backoff=parse_duration(args.reconnect_backoff, "--reconnect-backoff"),
        max_backoff=parse_duration(args.reconnect_backoff_max, "--reconnect-backoff-max"),
        max_attempts=args.max_reconnects,
    )


def since_from_args(args: argparse.Namespace, now: float) -> int | None:
    """``--since`` as integer nanoseconds, or None."""
    text = args.since.strip()
    if not text:
        return None
    if text[:1].isdigit() and ("T" in text or "-" in text[1:]):
        seconds = parse_time(text, "--since")
    else:
        seconds = now - parse_duration(text, "--since")
    return int(seconds * 1e9)
