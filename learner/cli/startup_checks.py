"""Checks ``learn`` makes before it connects: a long-running learner that only finds out at its
first export (minutes later) that it cannot write its proposal, or that dials a port nobody
asked for, fails far from the mistake.
"""

from __future__ import annotations

import os
from pathlib import Path

from learner.model.errors import UsageError

_TLS_PREFIX = "tls://"
_UNIX_PREFIX = "unix://"


def check_server_address(server: str, flag: str = "--server") -> None:
    """``host:port``, ``host`` (default port), ``[v6]:port``, ``tls://`` of those, or
    ``unix:///path``; anything else (an empty port, a port out of range, another scheme) is a
    usage error naming the flag."""
    address = server.removeprefix(_TLS_PREFIX)
    if address.startswith(_UNIX_PREFIX):
        if not address.removeprefix(_UNIX_PREFIX):
            raise UsageError(f"{flag} {server!r}: a unix socket address needs a path")
        return
    if "://" in address:
        raise UsageError(f"{flag} {server!r}: only tls:// and unix:// are understood")
    if address.startswith("["):
        host_end = address.find("]")
        if host_end == -1:
            raise UsageError(f"{flag} {server!r}: an IPv6 address needs its closing ']'")
        host, rest = address[1:host_end], address[host_end + 1 :]
        if rest and not rest.startswith(":"):
            raise UsageError(f"{flag} {server!r}: expected ':port' after ']'")
        port = rest[1:] if rest else None
    else:
        host, colon, port_text = address.partition(":")
        port = port_text if colon else None
        if port is not None and ":" in port:
            raise UsageError(f"{flag} {server!r}: write an IPv6 address as [addr]:port")
    if not host:
        raise UsageError(f"{flag} {server!r}: no host")
    if port is None:
        return
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise UsageError(
            f"{flag} {server!r}: the port must be a number from 1 to 65535"
            + (" (it is empty; leave out the ':' for the default port)" if not port else "")
        )


def check_output_directory(path: str, flag: str = "-o") -> None:
    """The proposal directory exists (created if missing) and is a writable directory."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise UsageError(f"{flag} {path}: exists and is not a directory")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"{flag} {path}: cannot create it ({error.strerror})") from error
    if not os.access(target, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: not writable by this user")
