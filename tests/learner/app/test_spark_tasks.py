"""What Spark executors run, without Spark: the same collectors on a block of lines."""

from __future__ import annotations

from learner.app.spark_engine import plan_file
from learner.app.spark_tasks import ingest_block
from learner.model.config import LearnConfig
from tests.collectors.calico.test_dns_logs import FIXTURE


def test_a_block_of_calico_dns_log_lines_gives_the_answers() -> None:
    text = FIXTURE.read_text()
    plan = plan_file(0, str(FIXTURE), text, "auto")
    assert (plan.source, plan.whole) == ("calico", False)
    partial = ingest_block(plan, 0, text.splitlines(), LearnConfig(), strict=False)
    assert partial.collected.malformed == 0
    assert partial.normalized.included == 0  # answers are never evidence
    assert partial.store.dns_answers["api.stripe.com"] == {"54.187.174.63", "54.187.174.139"}
