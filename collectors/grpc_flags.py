"""The gRPC server flags, without importing grpc: ``--help`` and file-only runs stay quick.

:mod:`collectors.hubble_grpc` re-exports :func:`add_server_arguments`; it lives here so that
registering the ``learn`` command does not load grpc and protobuf.
"""

from __future__ import annotations

import argparse

DEFAULT_SERVER = "localhost:4245"
GOLDMANE_DEFAULT_SERVER = "goldmane.calico-system.svc:7443"


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
        f"(default {DEFAULT_SERVER}; with learn --source goldmane, Goldmane's address)",
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
    group.add_argument("--tls-client-cert-file", default="", metavar="FILE")
    group.add_argument("--tls-client-key-file", default="", metavar="FILE")
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
