from __future__ import annotations

import gzip
import io
import json
import sys
from pathlib import Path

import pytest

from collectors.detect import detect_source, detect_text

CALICO = Path(__file__).parent.parent / "fixtures" / "calico"
CALICO_FILES = sorted([*(CALICO / "valid").iterdir(), *(CALICO / "invalid").iterdir()])

# Shapes from formats.md §2 (hubble observe -o jsonpb, exporter, legacy bare flow).
HUBBLE_WRAPPED = {
    "flow": {
        "time": "2026-01-01T00:00:00Z",
        "verdict": "FORWARDED",
        "IP": {"source": "10.0.0.1", "destination": "10.0.0.2", "ipVersion": "IPv4"},
        "l4": {"TCP": {"source_port": 41234, "destination_port": 80}},
        "traffic_direction": "EGRESS",
    },
    "node_name": "node-1",
    "time": "2026-01-01T00:00:00Z",
}
HUBBLE_BARE = HUBBLE_WRAPPED["flow"]
HUBBLE_LOST = {"lost_events": {"source": "HUBBLE_RING_BUFFER", "num_events_lost": "3"}}


@pytest.mark.parametrize("path", CALICO_FILES, ids=lambda p: p.name)
def test_every_calico_fixture_is_detected_as_calico(path: Path) -> None:
    assert detect_source(str(path)) == "calico"


@pytest.mark.parametrize(
    "record", [HUBBLE_WRAPPED, HUBBLE_BARE, HUBBLE_LOST], ids=["wrapped", "bare", "lost"]
)
def test_hubble_lines_are_detected_as_hubble(tmp_path: Path, record: object) -> None:
    path = tmp_path / "hubble.jsonl"
    path.write_text(json.dumps(record) + "\n")
    assert detect_source(str(path)) == "hubble"


def test_pretty_printed_hubble_is_hubble() -> None:
    assert detect_text(json.dumps(HUBBLE_WRAPPED, indent=2)) == "hubble"


def test_a_goldmane_flow_result_is_not_taken_for_a_hubble_flow() -> None:
    result = {"id": "7", "flow": {"Key": {"proto": "tcp"}, "startTime": "1"}}
    assert detect_text(json.dumps(result)) == "calico"


def test_sample_cut_mid_object_is_judged_by_its_keys() -> None:
    text = '{\n  "start_time": 1,\n  "source_name_aggr": "web-*",\n  "reporter": "src",\n  "pro'
    assert detect_text(text) == "calico"


def test_undecidable_input_is_none(tmp_path: Path) -> None:
    assert detect_text("") is None
    assert detect_text('{"hello": "world"}\n') is None
    (tmp_path / "empty").mkdir()
    assert detect_source(str(tmp_path / "empty")) is None
    assert detect_source(str(tmp_path / "absent")) is None


def test_directories_gzip_and_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with gzip.open(tmp_path / "a.jsonl.gz", "wt") as handle:
        handle.write(json.dumps(HUBBLE_WRAPPED) + "\n")
    assert detect_source(str(tmp_path)) == "hubble"
    data = (CALICO / "valid" / "observability-clinic_flows.log_deny-wep-to-wep.jsonl").read_bytes()
    stdin = io.TextIOWrapper(io.BufferedReader(io.BytesIO(gzip.compress(data))))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert detect_source("-") == "calico"
    assert stdin.buffer.read() == gzip.compress(data)  # peeked, not consumed
