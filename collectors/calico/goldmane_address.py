"""Where Goldmane is and how it is reached: port 7443, mutual TLS always (no grpc needed)."""

from __future__ import annotations

from dataclasses import replace

from collectors.stream_options import ServerOptions, TLSOptions, with_default_port

DEFAULT_SERVER = "goldmane.calico-system.svc:7443"
DEFAULT_PORT = 7443
GOLDMANE_TLS = TLSOptions(enabled=True)


def goldmane_options(
    server: str = DEFAULT_SERVER,
    tls: TLSOptions = GOLDMANE_TLS,
    *,
    dial_timeout: float = 5.0,
    request_timeout: float = 12.0,
) -> ServerOptions:
    """Server options for Goldmane: port 7443 unless given, TLS always on."""
    return ServerOptions(
        server=with_default_port(server, DEFAULT_PORT),
        tls=replace(tls, enabled=True),
        dial_timeout=dial_timeout,
        request_timeout=request_timeout,
    )
