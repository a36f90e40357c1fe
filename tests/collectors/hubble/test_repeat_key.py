"""The repeat key of a Hubble line (collectors/hubble/repeat_key.py): lines with one key map to
flows that differ only in what no later step reads. The whole-run checks that tallying by it
learns what reading every line does are in tests/learner/app/test_repeats.py."""

from __future__ import annotations

from pathlib import Path

import pytest

import collectors.hubble.file as hubble_file
from collectors.hubble.line_scan import BUILT
from collectors.hubble.repeat_key import repeat_key
from learner.model.config import LearnConfig
from tests.learner.app.test_repeats import assert_same, read

REPLY = (
    '{"flow":{"time":"2026-03-01T10:00:%02d.5Z","verdict":"FORWARDED","IP":{"source":"10.0.0.2",'
    '"destination":"10.0.0.1"},"l4":{"%s":{"source_port":8080,"destination_port":%s}},'
    '"source":{"namespace":"b","labels":["k8s:app=y"]},"destination":{"namespace":"a",'
    '"labels":["k8s:app=x"]},"node_name":"n1","traffic_direction":"INGRESS","is_reply":%s},'
    '"node_name":"n1","time":"2026-03-01T10:00:%02d.5Z"}'
)


def reply(port: object, second: int = 0, protocol: str = "TCP", is_reply: str = "true") -> str:
    return REPLY % (second, protocol, port, is_reply, second)


def key(line: str) -> object:
    keyed = repeat_key(line)
    assert keyed is not None
    return keyed[0]


def test_replies_to_other_connections_share_a_key() -> None:
    """A reply's destination port is the client's, new on every connection; the reply is set
    aside whatever it is, so it would only make every reply line its own key."""
    assert key(reply(40000)) == key(reply(51234, second=7)) == key(reply(0))
    assert key(reply(40000, protocol="UDP")) == key(reply(33000, protocol="UDP"))


def test_what_sets_a_line_apart_still_does() -> None:
    # Not a reply (or not flagged as one): its port is the service's.
    assert key(reply(40000, is_reply="false")) != key(reply(51234, is_reply="false"))
    # A port the mapping rejects is kept, so that the line is read, and reported, on its own.
    for bad in (70000, -1, '"40000"'):
        assert key(reply(bad)) != key(reply(40000))
    # The reply's protocol stays in the key.
    assert key(reply(40000, protocol="UDP")) != key(reply(40000))


def test_unflagged_replies_keep_their_port() -> None:
    line = reply(40000).replace(',"is_reply":true', "")
    other = reply(51234).replace(',"is_reply":true', "")
    assert key(line) != key(other)


@pytest.mark.parametrize("scanner", [True, False], ids=["scanner", "python"])
def test_replies_with_new_ports_are_tallied_as_read_and_not_proven_line_by_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scanner: bool
) -> None:
    """Each reply line is a new scanner key (the port is in it) but one repeat key: standing a
    scanner key costs a few decodes, so it is spent only on a key seen twice."""
    if scanner and not BUILT:
        pytest.skip("the C scanner was not built")
    if not scanner:
        monkeypatch.setattr(hubble_file, "SCANNER_BUILT", False)
    proofs = 0
    original = hubble_file.stands

    def counted(*args: object) -> bool:
        nonlocal proofs
        proofs += 1
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(hubble_file, "stands", counted)
    lines = [reply(32768 + n * 7, second=n % 60) for n in range(300)]
    lines += [reply(70000, second=3), reply(40000, second=4, is_reply="false")]
    path = tmp_path / "replies.jsonl"
    path.write_text("\n".join(lines) + "\n")
    expected, _ = read(path, LearnConfig(), tally=False)
    actual, repeats = read(path, LearnConfig(), tally=True)
    assert_same(expected, actual)
    assert repeats is not None and repeats.tallied >= 299
    assert actual[1].malformed == 1
    assert proofs <= 3
