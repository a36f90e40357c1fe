"""Flow collectors: each turns one source format into learner.model.Flow values."""

import os

# gRPC's C core prints its own INFO lines (e.g. "Got goaway" on every server restart) straight
# to stderr, which would break --log-format json. It reads this once, when grpc is first
# imported, and grpc is only ever imported by a collector (hubble/grpc.py, calico/goldmane.py,
# grpc_stream.py): setting it in the package, before any of them, covers every import order.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
