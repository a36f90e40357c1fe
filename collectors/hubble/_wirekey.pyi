def seed(key: bytes) -> None:
    """Set the 16-byte key of the hash (once, at import)."""

def flow_key(body: bytes) -> tuple[bytes, int, int] | None:
    """``(key, seconds, nanos)`` of a serialised GetFlowsResponse's flow, or None when it must
    be read in full (_wirekey.c)."""

def kept_fields() -> tuple[int, ...]:
    """The Flow field numbers the key keeps as they are on the wire."""
