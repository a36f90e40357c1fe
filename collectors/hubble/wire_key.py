"""The repeat key of a streamed Hubble flow read off its wire bytes, before any decoding.

``flow_key(body)`` (``_wirekey.c``) takes a serialised ``GetFlowsResponse`` and returns
``(key, seconds, nanos)`` or None. What it keys is every field the narrow decode reads, as wire
bytes, except the time, the uuid and the per-request values of the transport and L7 records:
never coarser than :func:`collectors.hubble.narrow_key.narrow_repeat_key`, so the key of a flow
seen before leads to that flow's tally without decoding it
(:class:`collectors.hubble.grpc.HubbleStream`). The key itself is 16 bytes, a keyed 128-bit
SipHash of those, with a hash key random per process, as the line scanner's
(docs/design-decisions.md).
"""

from __future__ import annotations

import os

try:
    from collectors.hubble._wirekey import flow_key, kept_fields, seed

    seed(os.urandom(16))
    BUILT = True
    """Whether the key was compiled at install. Without it every streamed flow is decoded and
    keyed in Python: slower, the same result."""
except ImportError:
    BUILT = False

__all__ = ["BUILT", "flow_key", "kept_fields"]
