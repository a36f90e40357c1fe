"""One LearnConfig, checked once when it is built, whatever builds it (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from learner.model.config import LearnConfig
from learner.model.errors import ConfigError, ExitStatus
from tests.learner.cli.test_generate import run_cli
from tests.outputs.report.test_proposal_report import real_samples


def test_a_config_built_in_code_is_checked_when_built() -> None:
    with pytest.raises(ConfigError, match=r"^max_overreach must be a whole number >= 0, not -1$"):
        LearnConfig(max_overreach=-1)
    with pytest.raises(ConfigError, match="learner must be one of"):
        LearnConfig(learner="clever")
    with pytest.raises(ConfigError, match="'10.0.0.0/33', which is not a CIDR"):
        LearnConfig(cluster_cidrs=("10.0.0.0/33",))


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--max-overreach", "-1"), "--max-overreach must be a whole number >= 0, not -1"),
        (("--min-flows", "0"), "--min-flows must be a whole number >= 1, not 0"),
        (("--port-range-min", "1"), "--port-range-min must be 0 (off) or >= 2, not 1"),
        (("--internet-min-networks", "-2"), "--internet-min-networks must be >= 0, not -2"),
        (("--cluster-cidr", "10.0.0.0/33"), "--cluster-cidr has '10.0.0.0/33', which is not"),
    ],
)
def test_a_setting_out_of_range_is_a_usage_error_naming_its_flag(
    tmp_path: Path, flags: tuple[str, ...], message: str
) -> None:
    out = tmp_path / "out"
    status, _, err = run_cli("generate", str(real_samples()), "--output-dir", str(out), *flags)
    assert status == ExitStatus.USAGE
    assert message in err and err.count("\n") == 1
    assert not out.exists()
