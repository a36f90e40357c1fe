"""learn --source reads its choices and defaults from one registry (issue 12)."""

from __future__ import annotations

import argparse

from collectors.calico.goldmane import GoldmaneStream
from collectors.hubble.grpc import HubbleStream, StreamPosition
from collectors.live_sources import LIVE_SOURCES
from collectors.stream_options import LiveRequest, ReconnectPolicy, ServerOptions
from learner.cli.program import build_parser
from learner.model.flow import Verdict
from learner.model.run_stats import CollectorStats


def learn_source_flag() -> argparse.Action:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    learn = sub.choices["learn"]
    return next(a for a in learn._actions if "--source" in a.option_strings)


def test_learn_source_choices_and_help_come_from_the_registry() -> None:
    flag = learn_source_flag()
    assert tuple(flag.choices or ()) == tuple(LIVE_SOURCES)
    assert flag.default == next(iter(LIVE_SOURCES))
    for source in LIVE_SOURCES.values():
        assert source.default_server in (flag.help or "")


def request(**fields: object) -> LiveRequest:
    return LiveRequest(ServerOptions("127.0.0.1:1"), ReconnectPolicy(), CollectorStats(), **fields)  # type: ignore[arg-type]


def test_each_source_opens_its_stream_with_the_request() -> None:
    hubble = LIVE_SOURCES["hubble"].open(
        request(namespaces=("shop",), verdicts=(Verdict.FORWARDED,), resume=(5, ["k"]))
    )
    assert isinstance(hubble, HubbleStream)
    assert hubble.query.namespaces == ("shop",) and hubble.query.verdicts == (Verdict.FORWARDED,)
    assert hubble.position == StreamPosition(5, ("k",))
    goldmane = LIVE_SOURCES["goldmane"].open(request(since_ns=7_000_000_000))
    assert isinstance(goldmane, GoldmaneStream)
    assert goldmane.query.start_time_gte == 7 and goldmane.query.actions == ("Allow", "Deny")


def test_goldmane_reads_the_server_flags_with_its_own_defaults() -> None:
    given = ServerOptions()  # --server left at the hubble CLI's default
    options = LIVE_SOURCES["goldmane"].server_options(given)
    assert options.server == "goldmane.calico-system.svc:7443" and options.use_tls
    assert LIVE_SOURCES["hubble"].server_options(given) == given
