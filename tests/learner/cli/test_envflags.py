from __future__ import annotations

import argparse

import pytest

from learner.cli.envflags import apply_environment, env_name
from learner.cli.program import build_parser
from learner.model.errors import UsageError


def parse(environ: dict[str, str], *argv: str) -> argparse.Namespace:
    parser = build_parser()
    apply_environment(parser, environ)
    return parser.parse_args(list(argv))


def test_environment_sets_defaults_and_the_command_line_wins() -> None:
    environ = {"NETPOL_LEARNER_MAX_OVERREACH": "2", "NETPOL_LEARNER_FORMAT": "cilium"}
    args = parse(environ, "generate", "f.jsonl", "--output-dir", "out")
    assert (args.max_overreach, args.format) == (2, "cilium")
    args = parse(environ, "generate", "f.jsonl", "--output-dir", "out", "--max-overreach", "0")
    assert args.max_overreach == 0


def test_switches_lists_and_required_flags() -> None:
    environ = {
        "NETPOL_LEARNER_INCLUDE_DROPPED": "yes",
        "NETPOL_LEARNER_NAMESPACE": "shop, payments",
        "NETPOL_LEARNER_OUTPUT": "out",
    }
    args = parse(environ, "generate", "f.jsonl")
    assert args.include_dropped is True
    assert args.namespace == ["shop", "payments"]
    assert args.output == "out"


@pytest.mark.parametrize(
    "name, value",
    [("NETPOL_LEARNER_MAX_OVERREACH", "many"), ("NETPOL_LEARNER_FORMAT", "yaml"),
     ("NETPOL_LEARNER_STRICT", "maybe")],
)  # fmt: skip
def test_bad_values_are_usage_errors_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(UsageError, match=name):
        parse({name: value}, "generate", "f.jsonl", "--output-dir", "out")


def test_names() -> None:
    assert env_name("--tls-ca-cert-files") == "NETPOL_LEARNER_TLS_CA_CERT_FILES"
