"""The simulator's scenario names, for ``simulate``'s parser and completion.

Kept apart from :mod:`learner.simulate`, whose import builds every scenario's machinery (~50 ms)
that no other command needs; a test keeps these names equal to ``learner.simulate.SCENARIOS``.
"""

SCENARIO_NAMES = (
    "address-pools",
    "cronjobs",
    "cross-namespace-monitoring",
    "external-ips",
    "failover",
    "label-styles",
    "many-replicas",
    "mixed",
    "node-autoscaling",
    "rollout",
    "shop",
)
DEFAULT_SCENARIO = "shop"
