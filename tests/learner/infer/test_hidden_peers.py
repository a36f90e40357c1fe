"""Calico's address-less pub/pvt ends: which space each stands for."""

from __future__ import annotations

from learner.infer.cidr import parse_networks
from learner.infer.hidden_peers import hidden_peers
from learner.model.flow import Endpoint, EndpointKind
from learner.model.hidden import HIDDEN_MARK, HIDDEN_PRIVATE, HIDDEN_PUBLIC, hidden_address

CLUSTER = parse_networks(["10.244.0.0/16", "10.96.0.0/12", "fd00:10:244::/56"])


def test_pub_is_every_public_address_of_both_families() -> None:
    peers, admits = hidden_peers(HIDDEN_PUBLIC, CLUSTER)
    by_cidr = {p.cidr: p.excepts for p in peers}
    assert set(by_cidr) == {"0.0.0.0/0", "::/0"}
    for excluded in ("10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "172.16.0.0/12",
                     "192.168.0.0/16"):  # fmt: skip
        assert excluded in by_cidr["0.0.0.0/0"]
    assert {"fc00::/7", "fe80::/10"} <= set(by_cidr["::/0"])
    assert admits.startswith(HIDDEN_MARK)
    assert "any public address" in admits


def test_pvt_is_private_space_minus_the_cluster() -> None:
    peers, admits = hidden_peers(HIDDEN_PRIVATE, CLUSTER)
    by_cidr = {p.cidr: p.excepts for p in peers}
    assert by_cidr["10.0.0.0/8"] == ("10.244.0.0/16", "10.96.0.0/12")
    assert by_cidr["192.168.0.0/16"] == ()
    assert by_cidr["fc00::/7"] == ("fd00:10:244::/56",)
    assert "private address outside the cluster" in admits


def test_only_address_less_calico_networks_are_hidden() -> None:
    pub = Endpoint(kind=EndpointKind.WORLD, workload_kind="Network", workload_name="pub")
    assert hidden_address(pub) == HIDDEN_PUBLIC
    seen = Endpoint(kind=EndpointKind.WORLD, ip="52.1.2.3", workload_kind="Network",
                    workload_name="pub")  # fmt: skip
    assert hidden_address(seen) == ""
    netset = Endpoint(kind=EndpointKind.WORLD, workload_kind="GlobalNetworkSet",
                      workload_name="pub")  # fmt: skip
    assert hidden_address(netset) == ""
