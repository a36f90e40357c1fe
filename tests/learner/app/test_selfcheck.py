"""The self-check judges the data each policy file was written from. That is only sound while
the data is what the file's YAML reads back to, for every format, and while a rendered file that
lost a rule still fails the run."""

from __future__ import annotations

import pytest
import yaml

from learner.app.pipeline import (
    build_proposal,
    effective_inventory,
    ingest,
    new_store,
    read_flows,
    render_policies,
)
from learner.app.selfcheck import documents_from_files, self_check
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
    path, text = next(
        (path, text)
        for path, text in sorted(files.items())
        if isinstance(text, YamlText) and text.documents[0]["spec"].get("ingress")
    )
    document = text.documents[0]
    emptied = {**document, "spec": {**document["spec"], "ingress": []}}
    broken = dict(files)
    broken[path] = YamlText(str(text), [emptied])
    with pytest.raises(SelfCheckError, match="would deny"):
        self_check(proposal, broken, store, inventory, config)


def test_text_built_from_rendered_text_is_parsed_as_written() -> None:
    config = LearnConfig()
    proposal, _, _ = learned(config)
    files = render_policies(proposal, config)
    edited = {path: "# edited\n" + text for path, text in files.items()}
    assert not any(isinstance(text, YamlText) for text in edited.values())
    assert [d.body for d in documents_from_files(edited)] == [
        d.body for d in documents_from_files(files)
    ]
