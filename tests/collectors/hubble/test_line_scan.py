"""The C scanner that counts repeated Hubble lines (collectors/hubble/_linescan.c, line_scan.py).

Its times must be the ones parse_rfc3339 reads, its keys equal exactly for lines that differ
only in the values it cuts, and a run that lets it count must learn what reading every line one
by one learns, whatever the file holds around those lines.
"""

from __future__ import annotations

import gzip
import os
import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import collectors.hubble.file as hubble_file
import collectors.hubble.line_scan as line_scan
from collectors.hubble.line_scan import BUILT
from collectors.hubble.repeat_key import repeat_key
from collectors.hubble.values import parse_rfc3339
from learner.model.config import LearnConfig
from learner.model.repeats import Repeats
from tests.collectors.hubble.test_fastpath import fixture_lines
from tests.learner.app.test_repeats import assert_same, read

if BUILT:
    from collectors.hubble._linescan import Scanner

needs_scanner = pytest.mark.skipif(not BUILT, reason="the C scanner was not built (no compiler)")


def test_the_scanner_is_built_wherever_a_c_compiler_is() -> None:
    """It is optional at install, so that a machine without a compiler still installs: where
    there is one, a scanner that failed to build is a broken build, not a slower run."""
    if shutil.which("cc") or shutil.which("gcc"):
        assert BUILT


LINE = (
    '{"flow":{"time":"%s",%s"verdict":"FORWARDED","IP":{"source":"10.0.0.1",'
    '"destination":"10.0.0.2"},"l4":{"TCP":{"source_port":%s,"destination_port":8080}},'
    '"source":{"namespace":"a","labels":["k8s:app=x"]},"destination":{"namespace":"b",'
    '"labels":["k8s:app=y"]},"node_name":"n1","traffic_direction":"EGRESS","is_reply":false},'
    '"node_name":"n1","time":"%s"}'
)
T1 = "2026-03-01T10:00:00.123456789Z"
T2 = "2026-03-01T10:00:05.5Z"


def line(stamp: str = T1, port: str = "40000", uuid: str = "", wrapper: str | None = None) -> bytes:
    member = f'"uuid":"{uuid}",' if uuid else ""
    return (LINE % (stamp, member, port, wrapper or stamp)).encode()


def slots(scanner: Scanner, *lines: bytes) -> list[int]:
    _, count, rest = scanner.feed(b"\n".join(lines) + b"\n")
    assert count == len(lines)
    return [slot for _, _, _, slot, _ in rest]


def assert_keyed_apart(scanner: Scanner, variants: list[bytes]) -> None:
    keys = slots(scanner, *variants)
    assert -1 not in keys
    assert len(set(keys)) == len(variants)


def key_of(data: bytes) -> int:
    scanner = Scanner(os.urandom(16))
    (slot,) = slots(scanner, data)
    return slot


stamps = st.builds(
    lambda moment, digits: (
        f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}"
        + (
            f".{moment.microsecond:06d}{moment.microsecond % 997:03d}"[: digits + 1]
            if digits
            else ""
        )
        + "Z"
    ),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
    st.integers(min_value=0, max_value=9),
)


@needs_scanner
@given(stamps)
def test_its_times_are_the_ones_parse_rfc3339_reads(stamp: str) -> None:
    scanner = Scanner(os.urandom(16))
    _, _, [(_, _, _, slot, time)] = scanner.feed(line(stamp))
    assert slot >= 0
    assert time == parse_rfc3339(stamp)


@needs_scanner
@pytest.mark.parametrize(
    "stamp",
    [
        "2026-02-29T10:00:00Z",  # not a leap year
        "2026-13-01T10:00:00Z",
        "2026-04-31T10:00:00Z",
        "2026-03-01T24:00:00Z",
        "2026-03-01T10:60:00Z",
        "0000-03-01T10:00:00Z",
        "2026-03-01t10:00:00Z",  # read by Python, which also takes these: never keyed here
        "2026-03-01 10:00:00Z",
        "2026-03-01T10:00:00z",
        "2026-03-01T10:00:00+01:00",
        "2026-03-01T10:00:00.Z",
        "2026-03-01T10:00:00.1234567891Z",
        "2026-03-01T10:00:00.12a4Z",
        "2026-03-01T10:00:0\u0661Z",
    ],
)
def test_a_time_it_does_not_read_exactly_leaves_the_line_unkeyed(stamp: str) -> None:
    assert key_of(line(stamp)) == -1


@needs_scanner
def test_lines_differing_only_in_the_cut_values_share_a_key() -> None:
    scanner = Scanner(os.urandom(16))
    same = slots(
        scanner,
        line(T1, "40000"),
        line(T2, "50001"),
        line(T2, "40000", wrapper=T1),
        line(T1, "40000") + b"\r",  # \r\n ends one line
        line(T1, "0"),  # the reply guess reads "0 < port < 32768": 0 and 40000 alike
    )
    assert same[0] >= 0 and len(set(same)) == 1
    with_uuid = slots(
        scanner,
        line(T1, uuid="0b3f6a8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"),
        line(T2, uuid="ffffffff-0000-4000-8000-000000000000"),
    )
    assert with_uuid[0] >= 0 and len(set(with_uuid)) == 1 and with_uuid[0] != same[0]


@needs_scanner
def test_every_other_difference_is_another_key() -> None:
    base = line()
    scanner = Scanner(os.urandom(16))
    variants = [
        base,
        line(port="80"),  # the reply guess reads "below 32768"
        base.replace(b'"destination_port":8080', b'"destination_port":8081'),
        base.replace(b"k8s:app=x", b"k8s:app=z"),
        base.replace(b'"is_reply":false', b'"is_reply":true'),
        base.replace(b'"node_name":"n1"', b'"node_name":"n2"'),
        base.replace(b'"source_port":40000,', b""),
        base.replace(b',"time":"' + T1.encode() + b'"}', b"}"),  # no wrapper time
    ]
    assert_keyed_apart(scanner, variants)


@needs_scanner
@pytest.mark.parametrize(
    "data",
    [
        line(port="040000"),  # not a JSON number
        line(port="123456"),
        line(port="4x"),
        line().replace(b'"is_reply"', b'\r"is_reply"'),  # a lone \r: two lines to Python
        line()[1:],
        line().replace(b'{"flow":{"time"', b'{"flow": {"time"'),
        line(T1.replace("Z", '\\"Z')),
    ],
)
def test_lines_not_of_the_shape_go_back_unkeyed(data: bytes) -> None:
    assert key_of(data) == -1


@needs_scanner
def test_a_uuid_it_cannot_cut_stays_in_the_key() -> None:
    scanner = Scanner(os.urandom(16))
    odd = slots(scanner, line(T1, uuid="not-hex"), line(T2, uuid="not-hex"), line(uuid="not-hey"))
    assert odd[0] == odd[1] != odd[2]


L7_LINE = (
    '{"flow":{"time":"%s","verdict":"FORWARDED","IP":{"source":"10.0.0.1",'
    '"destination":"10.0.0.2"},"l4":{"TCP":{"source_port":40000,"destination_port":9080}},'
    '"source":{"namespace":"a","labels":["k8s:app=x"],"pod_name":"x-1"},"destination":'
    '{"namespace":"b","labels":["k8s:app=y"],"pod_name":"y-1"},"Type":"L7","node_name":"n1",'
    '"l7":{"type":"REQUEST","latency_ns":%s,"http":{"method":"GET","url":"%s",'
    '"headers":%s}},"traffic_direction":"INGRESS",%s"is_reply":false,"Summary":%s},'
    '"node_name":"n1","time":"%s"}'
)
HEADERS = '[{"key":"Accept","value":"*/*"},{"key":"X-Request-Id","value":"%s"}]'


def l7_line(
    stamp: str = T1,
    latency: str = '"4200"',
    url: str = "http://y:9080/api/items?page=2",
    headers: str = HEADERS % "0b3f6a8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
    summary: str = '"HTTP/1.1 GET http://y:9080/api/items?page=2"',
    trace: str = "",
) -> bytes:
    member = f'"trace_context":{trace},' if trace else ""
    return (L7_LINE % (stamp, latency, url, headers, member, summary, stamp)).encode()


@needs_scanner
def test_values_a_live_cluster_writes_new_on_every_line_are_cut() -> None:
    scanner = Scanner(os.urandom(16))
    same = slots(
        scanner,
        l7_line(),
        l7_line(T2, latency='"917"'),
        l7_line(latency="12"),  # a number, not protojson's string
        l7_line(headers=HEADERS % "ffffffff-0000-4000-8000-000000000000"),
        l7_line(headers="[]"),
        l7_line(headers='[{"key":"Via","value":"1.1 \\"proxy\\""}]'),
        l7_line(url="http://y:9080/api/items?page=3&sort=up"),
        l7_line(url="http://y:9080/api/items"),  # no query at all
        l7_line(summary='"another summary"'),
        l7_line().replace(b'"latency_ns"', b'"ttl":30,"latency_ns"'),
        l7_line(trace='{"parent":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}}'),
        l7_line(trace='{"parent":{"trace_id":"00f067aa0ba902b7"}}'),
        l7_line(trace="{}"),
    )
    assert same[0] >= 0
    assert same[:7] + same[8:9] == [same[0]] * 8  # the query-free URL is another text
    # (9: a ttl member adds a part, 7: the URL without a query keeps its full text)
    assert len({same[0], same[7], same[9]}) == 3
    # a trace context adds a member; its value is cut whatever trace it names
    assert same[10] == same[11] == same[12] not in (same[0], same[7], same[9])


@needs_scanner
def test_what_the_repeat_key_reads_of_an_l7_line_stays_in_the_key() -> None:
    scanner = Scanner(os.urandom(16))
    variants = [
        l7_line(),
        l7_line(url="http://y:9080/api/other?page=2"),  # the path
        l7_line(url="http://z:9080/api/items?page=2"),  # the host: finer, never coarser
        l7_line().replace(b'"method":"GET"', b'"method":"PUT"'),
        # url_path reads a query where the part before it has no "/" after "://" (or no
        # "://"): such a URL is kept whole
        l7_line(url="http://y?next=/a"),
        l7_line(url="http://y?next=/b"),
        l7_line(url="/api/items?next=http://z/a"),
        l7_line(url="/api/items?next=http://z/b"),
        l7_line(url="http://y:9080/a?\\u0041"),  # an escape: kept whole
        l7_line(url="http://y:9080/a?\\u0042"),
        l7_line(url="http://y:9080/a?é"),  # non-ASCII: kept whole
        l7_line(url="http://y:9080/a?è"),
    ]
    assert_keyed_apart(scanner, variants)


@needs_scanner
@pytest.mark.parametrize(
    "data",
    [
        l7_line(latency='"0042"'),  # not a JSON number's digits
        l7_line(latency='"-1"'),
        # kept text after a number could extend it: "1.5" is a number, '"7".5' no JSON
        l7_line(latency="1.5"),
        l7_line(latency="1e5"),
        l7_line(latency='"7".5'),
        l7_line().replace(b'"latency_ns":"4200"', b'"ttl":3.5,"latency_ns":"4200"'),
        l7_line(headers='[{"key":"User-Agent","value":"caf\u00e9"}]'),  # \u is never cut
        l7_line(headers='[{"key":"User-Agent","value":"café"}]'),  # nor non-ASCII
        l7_line(headers='[{"name":"X"}]'),
        l7_line(headers='[{"key":"X"},]'),
        l7_line(summary="7"),
        l7_line(trace='{"parent":{"trace_id":42}}'),
        l7_line(trace='{"parent":{"span_id":"a"}}'),
        l7_line(trace='{"parent":{"trace_id":"a"},"x":1}'),
        l7_line(summary='"tab\there"').replace(b"\\t", b"\t"),  # a raw tab
        l7_line().replace(b'"Summary"', b'"latency_ns":"1","Summary"'),  # twice
        l7_line().replace(b'"is_reply":false,', b'"is_reply":false,"Summary":"x",'),
    ],
)
def test_per_request_values_not_of_the_shape_leave_the_line_unkeyed(data: bytes) -> None:
    assert key_of(data) == -1


@needs_scanner
def test_a_number_and_a_string_before_the_same_text_are_never_one_key(tmp_path: Path) -> None:
    """ "latency_ns":1.5 is a flow; "latency_ns":"7".5 is a broken line: counting the second as
    a repeat of the first would hide a malformed line."""
    path = tmp_path / "f.jsonl"
    number = [l7_line(f"2026-03-01T10:00:0{i}Z", latency="1.5") for i in range(5)]
    string = [l7_line(f"2026-03-01T10:00:1{i}Z", latency='"7".5') for i in range(5)]
    path.write_bytes(b"\n".join(number + string) + b"\n")
    expected, _ = read(path, LearnConfig(), tally=False)
    assert expected[1].malformed == 5
    actual, _ = read(path, LearnConfig(), tally=True)
    assert_same(expected, actual)


@needs_scanner
def test_the_probe_puts_other_values_where_the_per_request_ones_are_cut() -> None:
    scanner = Scanner(os.urandom(16))
    original = l7_line()
    probe = scanner.probe(original)
    assert probe is not None and probe != original
    assert slots(scanner, original) == slots(scanner, probe)
    record, probed = orjson.loads(original)["flow"], orjson.loads(probe)["flow"]
    for changed in ("latency_ns", "http", "Summary"):
        assert (record.get(changed) or record["l7"].get(changed)) != (
            probed.get(changed) or probed["l7"].get(changed)
        )
    assert repeat_key(probe) == repeat_key(original)
    assert scanner.probe(line()) is None  # nothing per request in it
    assert scanner.probe(b"{not a flow}") is None
    # a value equal to the first probe value gets the second
    zero = l7_line(latency='"0"', headers="[]", summary='"0"', url="http://y/a?0", trace="{}")
    assert scanner.probe(zero) == l7_line(
        latency='"1"',
        headers='[{"key":"0"}]',
        summary='"1"',
        url="http://y/a?1",
        trace='{"parent":{}}',
    )


@needs_scanner
def test_standing_keys_are_counted_in_c_and_drained_with_their_span() -> None:
    scanner = Scanner(os.urandom(16))
    (slot,) = slots(scanner, line(T1))
    scanner.stand(slot)
    later = [line(f"2026-03-01T10:00:{s:02d}.25Z", str(40000 + s)) for s in (9, 3, 30, 7)]
    tallied, count, rest = scanner.feed(b"\n".join([*later, b"{not a flow}"]))
    assert (tallied, count, [r[3] for r in rest]) == (4, 5, [-1])
    [(drained_slot, counted, first, last)] = scanner.drain()
    assert (drained_slot, counted) == (slot, 4)
    assert (first, last) == (
        parse_rfc3339("2026-03-01T10:00:03.25Z"),
        parse_rfc3339("2026-03-01T10:00:30.25Z"),
    )
    assert scanner.drain() == []
    scanner.clear()
    assert len(scanner) == 0
    assert [r[3] for r in scanner.feed(later[0])[2]] == [0]  # a new key, not standing


# --- whole runs: counting in C learns what reading every line learns --------------------------


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of a few lines, so that keys learnt in one block are counted in C in the next."""
    monkeypatch.setattr(hubble_file, "BLOCK_BYTES", 8192)


def _records() -> list[dict[str, Any]]:
    out = []
    for text in fixture_lines():
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        if type(value) is dict and type(value.get("flow")) is dict and "time" in value["flow"]:
            out.append(value)
    return out


def _again(record: dict[str, Any], rng: random.Random, at: datetime) -> dict[str, Any]:
    """The record later, from another source port, with a uuid when it had one or by chance."""
    flow = dict(record["flow"])
    rest = {key: value for key, value in flow.items() if key not in ("time", "uuid")}
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S") + rng.choice(["", ".5", ".123", ".123456789"]) + "Z"
    head: dict[str, Any] = {"time": stamp}
    if "uuid" in flow or rng.random() < 0.5:
        head["uuid"] = f"{rng.getrandbits(128):032x}"
    for ports in (rest.get("l4") or {}).values():
        if type(ports) is dict and "source_port" in ports:
            ports = dict(ports)
            ports["source_port"] = rng.choice([443, 33000, 40000 + rng.randrange(20000)])
            rest["l4"] = {next(iter(rest["l4"])): ports}
    _new_per_request_values(rest, rng)
    wrapper = {key: value for key, value in record.items() if key != "flow"}
    if "time" in wrapper:
        wrapper["time"] = stamp
    return {"flow": {**head, **rest}, **wrapper}


def _new_per_request_values(flow: dict[str, Any], rng: random.Random) -> None:
    """What a live cluster writes new on every line: latency, request id, TTL, summary, query,
    trace."""
    if "Summary" in flow:
        flow["Summary"] = rng.choice(["", "TCP Flags: ACK", 'DNS Answer "x" TTL: 9'])
    l7 = flow.get("l7")
    if type(l7) is not dict:
        return
    l7 = flow["l7"] = dict(l7)
    if "latency_ns" in l7:
        l7["latency_ns"] = str(rng.randrange(1, 10**9))
    if type(l7.get("dns")) is dict and "ttl" in l7["dns"]:
        l7["dns"] = {**l7["dns"], "ttl": rng.randrange(1, 300)}
    http = l7.get("http")
    if type(http) is dict:
        http = l7["http"] = dict(http)
        request_id = {"key": "X-Request-Id", "value": f"{rng.getrandbits(64):016x}"}
        http["headers"] = [h for h in http.get("headers") or [] if h.get("key") != "X-Request-Id"]
        http["headers"].append(request_id)
        if "url" in http and "?" not in http["url"]:
            http["url"] += rng.choice(["", f"?page={rng.randrange(9)}"])
        flow["trace_context"] = {"parent": {"trace_id": f"{rng.getrandbits(128):032x}"}}


def export(path: Path, copies: int = 6, seed: int = 3) -> Path:
    """Every fixture record, then ``copies`` repeats of each, shuffled, with what real files hold
    between them: blank lines, \\r\\n endings, a lone \\r, broken lines, a byte order mark."""
    rng = random.Random(seed)
    records = _records()
    start = datetime(2026, 3, 1, tzinfo=UTC)
    lines = [orjson.dumps(r) for r in records]
    tail = [
        orjson.dumps(_again(r, rng, start + timedelta(seconds=rng.randrange(86_400))))
        for r in records
        for _ in range(copies)
    ]
    rng.shuffle(tail)
    for index in range(0, len(tail), 97):
        tail[index] += b"\r"
    tail[5] = tail[5][: len(tail[5]) // 2]  # cut short
    tail[9] = tail[9].replace(b'"time":"', b'"time":"2026-02-30T', 1)  # a bad time
    tail[13] = tail[13] + b"\r" + lines[0]  # two records, a lone \r between them
    tail.insert(17, b"   ")
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines + tail) + b"\n")
    return path


def counted_in_c(path: Path, config: LearnConfig) -> int:
    """How many lines of ``path`` the scanner counted, after checking the run learns what
    reading every line one by one learns."""
    expected, _ = read(path, config, tally=False)
    actual, repeats = read(path, config, tally=True)
    assert_same(expected, actual)
    assert repeats is not None
    state = repeats.reader_state
    assert isinstance(state, line_scan.LineTallies)
    return state.counted


@needs_scanner
def test_counting_in_c_learns_what_reading_every_line_learns(tmp_path: Path) -> None:
    path = export(tmp_path / "f.jsonl")
    lines = path.read_bytes().count(b"\n")
    assert counted_in_c(path, LearnConfig()) > lines // 3
    assert counted_in_c(path, LearnConfig(max_external_peers=2, include_dropped=True)) > 0


@needs_scanner
def test_gzip_input_is_counted_the_same(tmp_path: Path) -> None:
    plain = export(tmp_path / "f.jsonl")
    packed = tmp_path / "f.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert counted_in_c(packed, LearnConfig()) > 0


@needs_scanner
def test_forgetting_keys_midway_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import learner.model.repeats as repeats_module

    path = export(tmp_path / "f.jsonl")
    monkeypatch.setattr(line_scan, "SLOT_LIMIT", 300)
    assert counted_in_c(path, LearnConfig()) > 0
    monkeypatch.setattr(repeats_module, "ENTRY_LIMIT", 20)
    counted_in_c(path, LearnConfig())


@needs_scanner
def test_a_duplicate_time_key_is_never_cut_for_the_flows_time(tmp_path: Path) -> None:
    """Decoders keep the last of two equal keys: where the flow names ``time`` twice, the cut
    one is not its time, and every line is read in full."""
    rows = []
    for second in range(40):
        text = line(f"2026-03-01T10:00:{second:02d}Z").decode()
        rows.append(text.replace('"is_reply":false', '"is_reply":false,"time":"' + T1 + '"'))
    path = tmp_path / "dup.jsonl"
    path.write_text("\n".join(rows) + "\n")
    assert counted_in_c(path, LearnConfig()) == 0


@needs_scanner
def test_lines_to_outside_peers_the_cap_folds_are_counted_in_c_where_they_land(
    tmp_path: Path,
) -> None:
    """Under a peer cap an edge to an outside address may fold into another; lines counted in
    C land where reading each one puts them (counted_in_c compares)."""
    rows = [
        line(f"2026-03-01T10:00:{s:02d}Z")
        .replace(b'"destination":"10.0.0.2"', b'"destination":"203.0.113.%d"' % (s % 5))
        .replace(b'"namespace":"b","labels":["k8s:app=y"]', b'"labels":["reserved:world"]')
        for s in range(60)
    ]
    path = tmp_path / "world.jsonl"
    path.write_bytes(b"\n".join(rows) + b"\n")
    assert counted_in_c(path, LearnConfig(max_external_peers=2)) > 0
    assert counted_in_c(path, LearnConfig(max_external_peers=0)) > 0


@needs_scanner
def test_a_repeats_reader_state_is_one_scanner_for_the_whole_run() -> None:
    repeats = Repeats()
    state = line_scan.LineTallies.of(repeats)
    assert line_scan.LineTallies.of(repeats) is state
    assert repeats.before_forget == state.forget


def test_without_the_scanner_repeats_are_tallied_in_python_with_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hubble_file, "SCANNER_BUILT", False)
    path = export(tmp_path / "f.jsonl")
    expected, _ = read(path, LearnConfig(), tally=False)
    actual, repeats = read(path, LearnConfig(), tally=True)
    assert_same(expected, actual)
    assert repeats is not None and repeats.tallied > 0 and repeats.reader_state is None


# --- what goes to the block reader at all ---------------------------------------------------


def _flow_lines(count: int) -> list[bytes]:
    return [
        line(f"2026-03-01T10:{s // 60:02d}:{s % 60:02d}Z", str(40000 + s)) for s in range(count)
    ]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("array after a form feed", b"\x0c\n[" + b",\n".join(_flow_lines(50)) + b"]\n"),
        (
            "pretty objects with lone \\r line ends",
            b"\r".join(
                b"{\r"
                + orjson.dumps(orjson.loads(data), option=orjson.OPT_INDENT_2)[2:].replace(
                    b"\n", b"\r"
                )
                for data in _flow_lines(20)
            )
            + b"\r",
        ),
        ("one record a line, lone \\r ends", b"\r".join(_flow_lines(50)) + b"\r"),
    ],
)
def test_files_the_text_reader_reads_otherwise_are_read_as_it_reads_them(
    tmp_path: Path, name: str, content: bytes
) -> None:
    path = tmp_path / "f.json"
    path.write_bytes(content)
    expected, _ = read(path, LearnConfig(), tally=False)
    actual, _ = read(path, LearnConfig(), tally=True)
    assert_same(expected, actual)
    assert expected[1].flows > 0, name


@needs_scanner
def test_a_byte_order_mark_counts_only_on_a_files_first_line(tmp_path: Path) -> None:
    """The second file's first line is a repeat the scanner counts; a mark on its second line
    is a broken line there, as the text reader reads it."""
    folder = tmp_path / "flows"
    folder.mkdir()
    first, second, third = _flow_lines(3)
    (folder / "a.jsonl").write_bytes(first + b"\n")
    (folder / "b.jsonl").write_bytes(second + b"\n\xef\xbb\xbf" + third + b"\n")
    expected, _ = read(folder, LearnConfig(), tally=False)
    actual, _ = read(folder, LearnConfig(), tally=True)
    assert_same(expected, actual)
    assert expected[1].malformed == 1


def test_a_named_pipe_is_read_once_whole(tmp_path: Path) -> None:
    """Peeking at a pipe's head by opening it again would consume it."""
    import threading

    from learner.app.pipeline import read_flows
    from learner.model.run_stats import CollectorStats

    pipe = tmp_path / "flows.pipe"
    os.mkfifo(pipe)
    data = b"\n".join(_flow_lines(3000)) + b"\n"

    def write() -> None:
        with open(pipe, "wb") as handle:
            handle.write(data)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    stats = CollectorStats()
    flows = list(read_flows([str(pipe)], source="hubble", stats=stats, repeats=Repeats()))
    writer.join(timeout=30)
    assert stats.records == 3000 and flows


def reply_line(destination: str, stamp: str = T1, flag: str = '"is_reply":true') -> bytes:
    """LINE as the server's reply to a client's port ``destination``."""
    return (
        line(stamp)
        .replace(b'"destination_port":8080', f'"destination_port":{destination}'.encode())
        .replace(b'"is_reply":false', flag.encode())
    )


@needs_scanner
def test_a_flagged_replys_destination_port_is_cut() -> None:
    """It is the client's port, new on every connection: kept, every reply was a new key."""
    scanner = Scanner(os.urandom(16))
    ports = ("40000", "51234", "0", "65535")
    assert len(set(slots(scanner, *(reply_line(p, T2) for p in ports)))) == 1
    # A request's destination port is its service's.
    assert_keyed_apart(scanner, [reply_line(p, flag='"is_reply":false') for p in ports])
    # Not a port, or not written plainly: kept.
    assert_keyed_apart(scanner, [reply_line(p) for p in ("40000", "65536", "99999", "040000")])
    probe = scanner.probe(reply_line("40000"))
    assert probe is not None and b'"destination_port":0}' in probe


@needs_scanner
def test_replies_to_new_client_ports_are_counted_in_c_as_reading_them_learns(
    tmp_path: Path,
) -> None:
    """Counted in C once their key stands; an "is_reply" that is not the flow's (here in l7)
    lets the scanner cut the port, but the probe keeps the key from standing."""
    stamps = [f"2026-03-01T10:{n // 60:02d}:{n % 60:02d}Z" for n in range(240)]
    replies = [reply_line(str(32768 + 13 * n), stamps[n]) for n in range(200)]
    decoy = '"is_reply":false,"l7":{"type":"REQUEST","is_reply":true}'
    requests = [reply_line(str(1000 + n), stamps[200 + n], flag=decoy) for n in range(40)]
    path = tmp_path / "replies.jsonl"
    path.write_bytes(b"\n".join(replies + requests) + b"\n")
    expected, _ = read(path, LearnConfig(), tally=False)
    actual, repeats = read(path, LearnConfig(), tally=True)
    assert_same(expected, actual)
    assert repeats is not None
    state = repeats.reader_state
    assert isinstance(state, line_scan.LineTallies) and state.counted >= 150
