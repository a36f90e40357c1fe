"""Fuzzing the policy parsers: mutated real policies are loaded, compiled and evaluated, and
the only failures are :class:`PolicyError` naming the file and document.

Profiles: tests/fuzzing.py (a long run: NETPOL_FUZZ_PROFILE=long).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("hypothesis")

import yaml  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from learner.model.errors import PolicyError  # noqa: E402
from learner.semantics import (  # noqa: E402
    Traffic,
    TrafficPeer,
    compile_policies,
    load_policy_documents,
    parse_document,
)
from tests.fuzzing import mutated  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
CILIUM = {
    "apiVersion": "cilium.io/v2",
    "kind": "CiliumNetworkPolicy",
    "metadata": {"name": "api", "namespace": "shop"},
    "spec": {
        "endpointSelector": {"matchLabels": {"app": "api"}},
        "ingress": [
            {
                "fromEndpoints": [{"matchLabels": {"app": "frontend"}}],
                "toPorts": [
                    {
                        "ports": [{"port": "8080", "protocol": "TCP"}],
                        "rules": {"http": [{"method": "GET", "path": "/api/.*"}]},
                    }
                ],
            }
        ],
        "egress": [
            {
                "toFQDNs": [{"matchName": "api.stripe.com"}],
                "toPorts": [{"ports": [{"port": "443"}]}],
            },
            {"toEntities": ["kube-apiserver"]},
            {"toCIDRSet": [{"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}]},
        ],
    },
}
NETWORK_POLICY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "db", "namespace": "shop"},
    "spec": {
        "podSelector": {
            "matchLabels": {"app": "db"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["data"]}],
        },
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [
            {
                "from": [
                    {"podSelector": {"matchLabels": {"app": "api"}}},
                    {"namespaceSelector": {"matchLabels": {"team": "x"}}},
                    {"ipBlock": {"cidr": "192.168.0.0/16", "except": ["192.168.1.0/24"]}},
                ],
                "ports": [{"port": 5432, "protocol": "TCP"}, {"port": 9000, "endPort": 9100}],
            }
        ],
        "egress": [{"ports": [{"port": "dns", "protocol": "UDP"}]}],
    },
}


def _seeds() -> list[Any]:
    documents, _ = load_policy_documents(
        [str(FIXTURES / "policies" / "valid"), str(FIXTURES / "calico" / "policies")]
    )
    return [dict(document.body) for document in documents] + [CILIUM, NETWORK_POLICY]


SEEDS = _seeds()
PEERS = [
    TrafficPeer(kind="pod", namespace="shop", labels=(("app", "api"),)),
    TrafficPeer(kind="pod", namespace="shop", labels=(("app", "db"), ("tier", "data"))),
]


def test_the_seeds_cover_every_dialect() -> None:
    kinds = {seed["kind"] for seed in SEEDS}
    assert {"NetworkPolicy", "CiliumNetworkPolicy", "GlobalNetworkPolicy"} <= kinds


@given(documents=st.lists(mutated(SEEDS), min_size=1, max_size=3))
def test_fuzz_mutated_policies_fail_only_with_policy_errors(documents: list[Any]) -> None:
    handle, path = tempfile.mkstemp(suffix=".yaml")
    try:
        with os.fdopen(handle, "w") as out:
            yaml.safe_dump_all(documents, out)
        loaded, errors = load_policy_documents([path])
        assert all(error.path == path for error in errors)
        for document in loaded:
            try:
                parse_document(document)
            except PolicyError as error:
                assert error.path == path
        compiled = compile_policies(loaded, errors=[])
        for source in PEERS:
            for destination in PEERS:
                compiled.evaluate(Traffic(source, destination, "TCP", 5432))
    finally:
        os.unlink(path)


@given(text=st.text(max_size=300))
def test_fuzz_arbitrary_text_as_a_policy_file(text: str) -> None:
    handle, path = tempfile.mkstemp(suffix=".yaml")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        loaded, _ = load_policy_documents([path])
        compile_policies(loaded, errors=[])
    finally:
        os.unlink(path)
