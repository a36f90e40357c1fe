"""Calico ``projectcalico.org/v3`` StagedNetworkPolicy: the Calico policies, not enforced yet.

The same documents as :mod:`outputs.calico` with ``kind: StagedNetworkPolicy`` and
``stagedAction: Set``. Calico evaluates staged policies next to the enforced ones and reports
what they would have done (flow logs ``pending_policies``, names prefixed ``staged:``), so the
proposal can be watched against live traffic before anything is denied. Enforcing one means
applying it as a NetworkPolicy (``--format calico``).
"""

from __future__ import annotations

from learner.model.config import RenderOptions
from learner.model.policy import Proposal
from outputs.calico import render_kind

FORMAT = "calico-staged"
DIALECT = "calico"
KIND = "StagedNetworkPolicy"


def render(proposal: Proposal, options: RenderOptions) -> dict[str, str]:
    return render_kind(proposal, options, KIND)
