"""The self-check judges the data each policy file was written from. That is only sound while
the data is what the file's YAML reads back to, for every format, and while a rendered file that
lost a rule still fails the run."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import yaml

from learner.app import selfcheck
from learner.app.pipeline import (
    build_proposal,
    effective_inventory,
    ingest,
    new_store,
    read_flows,
    render_policies,
)
from learner.app.selfcheck import (
    PendingCheck,
    documents_from_files,
    self_check,
    start_self_check,
)
from learner.model.config import LearnConfig, RenderOptions
from learner.model.errors import SelfCheckError
from learner.model.run_stats import CollectorStats, NormalizeStats
from outputs.base import FORMATS
from outputs.yamlio import YamlText

BOOKINFO = "tests/fixtures/hubble/files/real"


def learned(config: LearnConfig):  # type: ignore[no-untyped-def]
    store = new_store(config)
    flows = read_flows([BOOKINFO], stats=CollectorStats())
    ingest(flows, store, config, NormalizeStats())
    proposal = build_proposal(store, None, config)
    return proposal, store, effective_inventory(store, None)


CONFIGS = [
    *(LearnConfig(format=name) for name in FORMATS),
    LearnConfig(format="cilium", render=RenderOptions(l7=True, default_deny=True)),
    LearnConfig(format="calico", render=RenderOptions(default_deny=True)),
    LearnConfig(format="networkpolicy", cni="cilium"),  # with the Cilium companion
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.format}-{c.cni}-{c.render}")
def test_every_rendered_file_carries_exactly_what_its_yaml_reads_back(
    config: LearnConfig,
) -> None:
    proposal, _, _ = learned(config)
    files = render_policies(proposal, config)
    policy_files = [p for p in files if p.endswith(".yaml") and "kustomization" not in p]
    assert policy_files
    for path in policy_files:
        text = files[path]
        assert isinstance(text, YamlText), f"{path} would be parsed again"
        assert list(text.documents) == list(yaml.safe_load_all(str(text))), path


def test_a_file_that_lost_a_rule_still_fails_the_self_check() -> None:
    config = LearnConfig()
    proposal, store, inventory = learned(config)
    files = render_policies(proposal, config)
    self_check(proposal, files, store, inventory, config)  # as written: passes
    with pytest.raises(SelfCheckError, match="would deny"):
        self_check(proposal, broken_files(files), store, inventory, config)


def test_text_built_from_rendered_text_is_parsed_as_written() -> None:
    config = LearnConfig()
    proposal, _, _ = learned(config)
    files = render_policies(proposal, config)
    edited = {path: "# edited\n" + text for path, text in files.items()}
    assert not any(isinstance(text, YamlText) for text in edited.values())
    assert [d.body for d in documents_from_files(edited)] == [
        d.body for d in documents_from_files(files)
    ]


def broken_files(files: dict[str, str]) -> dict[str, str]:
    """``files`` with one policy's ingress rules emptied (its text says so): a renderer that
    lost them."""
    path, text = next(
        (path, text)
        for path, text in sorted(files.items())
        if isinstance(text, YamlText) and text.documents[0]["spec"].get("ingress")
    )
    document = text.documents[0]
    emptied = {**document, "spec": {**document["spec"], "ingress": []}}
    return {**files, path: YamlText(f"# lost its ingress rules\n{text}", [emptied])}


def start_check(*, broken: bool) -> PendingCheck:
    """The bookinfo capture's check, started aside, of its files as rendered or ``broken``."""
    config = LearnConfig()
    proposal, store, inventory = learned(config)
    files = render_policies(proposal, config)
    judged = broken_files(files) if broken else files
    return start_self_check(proposal, judged, store, inventory, config, aside=True)


def expect_verdict(pending: PendingCheck, *, broken: bool) -> None:
    """``wait()`` raises the check's error for broken files and returns for sound ones."""
    if broken:
        with pytest.raises(SelfCheckError, match="would deny"):
            pending.wait()
    else:
        pending.wait()


@pytest.fixture
def aside_for_any_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bookinfo capture has fewer edges than a check is worth a process for."""
    others = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
    if others:  # servers of module-scoped fixtures run before these in some selections
        pytest.skip(f"threads of other tests still run ({', '.join(others)}): no fork here")
    monkeypatch.setattr(selfcheck, "ASIDE_MIN_EDGES", 0)


@pytest.mark.usefixtures("aside_for_any_run")
def test_a_check_aside_passes_and_fails_as_the_check_here_does() -> None:
    passing = start_check(broken=False)
    assert passing.pid is not None  # a child judges it
    passing.wait()
    failing = start_check(broken=True)
    assert failing.pid is not None
    with pytest.raises(SelfCheckError, match="would deny"):
        failing.wait()


@pytest.mark.usefixtures("aside_for_any_run")
@pytest.mark.parametrize("broken", [False, True])
def test_a_child_that_died_leaves_the_verdict_to_this_process(broken: bool) -> None:
    pending = start_check(broken=broken)
    assert pending.pid is not None
    os.kill(pending.pid, signal.SIGKILL)  # as the kernel's OOM killer would
    expect_verdict(pending, broken=broken)


@pytest.mark.usefixtures("aside_for_any_run")
def test_an_abandoned_check_leaves_no_process_behind() -> None:
    pending = start_check(broken=False)
    child = pending.pid
    assert child is not None
    pending.abandon()
    with pytest.raises(ChildProcessError):
        os.waitpid(child, os.WNOHANG)  # reaped: no zombie left


def test_small_runs_and_runs_with_threads_are_checked_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(SelfCheckError):  # a small run: raised at once, not at wait()
        start_check(broken=True)
    monkeypatch.setattr(selfcheck, "ASIDE_MIN_EDGES", 0)
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        with pytest.raises(SelfCheckError):
            start_check(broken=True)
    finally:
        release.set()
        thread.join()


@pytest.mark.usefixtures("aside_for_any_run")
@pytest.mark.parametrize("broken", [False, True])
def test_a_child_reaped_elsewhere_leaves_the_verdict_to_this_process(broken: bool) -> None:
    pending = start_check(broken=broken)
    assert pending.pid is not None
    os.waitpid(pending.pid, 0)  # as with SIGCHLD ignored: its status is gone
    for _ in range(2):  # and asked again, the same verdict
        expect_verdict(pending, broken=broken)


class Interrupted(Exception):
    pass


@pytest.mark.usefixtures("aside_for_any_run")
def test_interrupted_while_waiting_the_child_does_not_outlive_the_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(selfcheck, "self_check", lambda *args: time.sleep(60))
    pending = start_check(broken=False)
    child = pending.pid
    assert child is not None

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    try:
        with pytest.raises(Interrupted):
            pending.wait()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    with pytest.raises(ChildProcessError):
        os.waitpid(child, os.WNOHANG)  # killed and reaped
