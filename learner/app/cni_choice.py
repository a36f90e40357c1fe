"""Which CNI will enforce the proposal, when the user did not say (``--cni auto``)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from learner.model.config import CNI
from learner.model.input_files import expand_inputs

CNI_CHOICES = ("auto", *CNI)
CNI_HELP = (
    "the CNI that enforces the policies; its matching rules decide (default: cilium for "
    "Hubble flows, calico for Calico flows, else generic)"
)
CIDR_MATCH_NODES_HELP = (
    "the Cilium agent runs with policy-cidr-match-mode: nodes, so a NetworkPolicy ipBlock "
    "matches node and API server addresses (default: it does not)"
)

SAMPLED_FILES = 50
CNI_OF_SOURCE = {"hubble": CNI.CILIUM, "calico": CNI.CALICO, "goldmane": CNI.CALICO}


def resolve_cni(chosen: str, source: str, inputs: Sequence[str]) -> str:
    """``--cni`` as given, else the CNI that produced the flows: Hubble → cilium, Calico
    flow logs and Goldmane → calico; generic when nothing says (e.g. only ``--state``)."""
    if chosen != "auto":
        return chosen
    if source in CNI_OF_SOURCE:
        return CNI_OF_SOURCE[source].value
    # Only local files can be peeked here; URIs and globs (--engine spark) are the engine's.
    inputs = [i for i in inputs if i != "-" and "://" not in i and os.path.exists(i)]
    if not inputs:
        return CNI.GENERIC.value
    from learner.app.pipeline import detect_source

    # The first files say it; a directory of thousands need not be peeked twice.
    found = {detect_source(path) for path in expand_inputs(inputs)[:SAMPLED_FILES]}
    kinds = {CNI_OF_SOURCE.get(kind, CNI.GENERIC) for kind in found}
    return kinds.pop().value if len(kinds) == 1 else CNI.GENERIC.value
