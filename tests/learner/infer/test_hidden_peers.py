"""Calico's address-less pub/pvt ends: which space each stands for."""

from __future__ import annotations

import ipaddress

from learner.infer.cidr import parse_networks
from learner.infer.hidden_peers import hidden_peers
from learner.model.flow import Endpoint, EndpointKind
from learner.model.hidden import HIDDEN_MARK, HIDDEN_PRIVATE, HIDDEN_PUBLIC, hidden_address
from learner.model.policy import CIDRPeer

CLUSTER = parse_networks(["10.244.0.0/16", "10.96.0.0/12", "fd00:10:244::/56"])


def admitted(peers: list[CIDRPeer], address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return any(
        ip in ipaddress.ip_network(p.cidr)
        and not any(ip in ipaddress.ip_network(e) for e in p.excepts)
        for p in peers
        if ipaddress.ip_network(p.cidr).version == ip.version
    )


def test_pub_is_everything_calico_calls_public() -> None:
    """Felix names an unknown address ``pvt`` only inside RFC 1918 (IPv4); everything else is
    ``pub``: the cloud's link-local DNS and metadata, CGNAT and all of IPv6 included."""
    peers, admits = hidden_peers(HIDDEN_PUBLIC, CLUSTER)
    assert {p.cidr for p in peers} == {"0.0.0.0/0", "::/0"}
    for address in ("52.1.2.3", "169.254.169.254", "169.254.20.10", "100.64.3.4",
                    "2a00:1450::1", "fd12::1", "fe80::1"):  # fmt: skip
        assert admitted(peers, address), address
    for address in ("10.1.2.3", "172.16.0.2", "192.168.1.1", "10.244.3.4", "fd00:10:244::5"):
        assert not admitted(peers, address), address
    assert admits.startswith(HIDDEN_MARK)
    assert "any public address" in admits


def test_pvt_is_rfc1918_minus_the_cluster() -> None:
    peers, admits = hidden_peers(HIDDEN_PRIVATE, CLUSTER)
    by_cidr = {p.cidr: p.excepts for p in peers}
    assert set(by_cidr) == {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}
    assert by_cidr["10.0.0.0/8"] == ("10.244.0.0/16", "10.96.0.0/12")
    assert by_cidr["192.168.0.0/16"] == ()
    for address in ("169.254.169.254", "100.64.3.4", "fd12::1"):
        assert not admitted(peers, address), address
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
