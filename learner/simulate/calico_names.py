"""How Calico names and labels a simulated pod, shared by the flow-log and DNS-log writers."""

from __future__ import annotations

from collections.abc import Iterable

from learner.simulate.cluster import Pod, WorkloadKind

_GENERATED_NAMES = frozenset(
    {WorkloadKind.DEPLOYMENT, WorkloadKind.DAEMONSET, WorkloadKind.CRONJOB}
)


def generate_name(pod: Pod) -> str:
    """Calico's aggregated pod name: the GenerateName plus ``*``, or the pod's own name."""
    if pod.workload.kind in _GENERATED_NAMES:
        return pod.name.rsplit("-", 1)[0] + "-*"
    return pod.name


def calico_labels(pods: Iterable[Pod]) -> list[str] | None:
    """``k=v`` labels all ``pods`` share, with those Calico adds; None for no pod."""
    shared: set[tuple[str, str]] | None = None
    for pod in pods:
        labels = set(pod.labels) | {
            ("projectcalico.org/namespace", pod.namespace),
            ("projectcalico.org/orchestrator", "k8s"),
            ("projectcalico.org/serviceaccount", pod.workload.service_account),
        }
        shared = labels if shared is None else shared & labels
    return None if shared is None else sorted(f"{k}={v}" for k, v in shared)
