"""One counting rule for flows, whatever the command and the source (docs/records-and-
identities.md): a flow is what the source counts as one, and a connection seen at both of
its ends counts once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tests.learner.cli.test_generate import run_cli
from tests.learner.cli.test_generate_records import documents, port_entries


def calico_record(reporter: str, started: int) -> dict[str, Any]:
    """A flows.log line (Calico Enterprise JSON, aggregation level 1) standing for ``started``
    connections from web to db, as the ``reporter`` end saw them."""
    return {
        "start_time": 1767261600, "end_time": 1767261900,
        "source_ip": "10.0.1.10", "source_name": "web-5d4b8c7f9-x2x7q",
        "source_name_aggr": "web-5d4b8c7f9-*", "source_namespace": "shop", "source_port": None,
        "source_type": "wep", "source_labels": {"labels": ["app=web"]},
        "dest_ip": "10.0.2.20", "dest_name": "db-0", "dest_name_aggr": "db-*",
        "dest_namespace": "shop", "dest_port": 5432, "dest_type": "wep",
        "dest_labels": {"labels": ["app=db"]},
        "dest_service_namespace": "-", "dest_service_name": "-", "dest_service_port": "-",
        "proto": "tcp", "action": "allow", "reporter": reporter, "policies": None,
        "bytes_in": 1000, "bytes_out": 1000, "packets_in": 10, "packets_out": 10,
        "num_flows": started, "num_flows_started": started, "num_flows_completed": started,
    }  # fmt: skip


def test_generate_and_verify_count_the_same_flows(tmp_path: Path) -> None:
    flows = tmp_path / "flows.log"
    lines = [calico_record("src", 7), calico_record("dst", 7)]
    flows.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    out = tmp_path / "out"
    status, stdout, err = run_cli("generate", str(flows), "--output-dir", str(out))
    assert status == 0, err
    assert "used 2 records (7 flows)" in stdout
    assert (
        "from 2 records (7 flows: a connection reported at both of its ends is one flow, in `verify` too) on 1 edge"
        in (out.with_name(out.name + "-report") / "report.md").read_text()
    )
    status, stdout, err = run_cli("verify", "--policies", str(out), str(flows))
    assert status == 0, err
    assert "(7 flows;" in stdout


def test_a_calico_record_without_destination_port_is_set_aside(tmp_path: Path) -> None:
    """Whatever the reporter says (here: nothing), a TCP record whose port was aggregated away
    is no evidence that every port is used."""
    portless = calico_record("", 3) | {"dest_port": None}
    flows = tmp_path / "flows.log"
    lines = [calico_record("src", 1), portless]
    flows.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    out = tmp_path / "out"
    status, stdout, err = run_cli("generate", str(flows), "--output-dir", str(out))
    assert status == 0, err
    assert "1 no destination port" in stdout
    entries = port_entries(documents(out))
    assert {"protocol": "TCP", "port": 5432} in entries
    assert all("port" in entry for entry in entries), entries
