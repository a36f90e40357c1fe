"""How a rule generalised to an address pool says so: shared by the learner and the report."""

from __future__ import annotations

POOL_MARK = ": address pool, "
"""How a rule's ``admits`` entry for a generalised pool reads after its CIDR."""

POOL_RULE = (
    "addresses reached by one workload on the same ports become the smallest prefix covering "
    "them when at least 4 distinct addresses fall inside it and it holds at most cidr_waste "
    "(default 32) addresses per observed one, never wider than /16 (IPv4) or /48 (IPv6)"
)
