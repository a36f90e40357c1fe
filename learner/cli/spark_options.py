"""The ``--engine`` options of commands that read flows, and the reader they select."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from learner.app.progress import Progress
from learner.model.config import LearnConfig
from learner.model.edges import EdgeStore
from learner.model.run_stats import CollectorStats, NormalizeStats

if TYPE_CHECKING:
    from learner.app.run import Reader


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("engine")
    group.add_argument(
        "--engine",
        choices=("local", "spark"),
        default="local",
        help="where flows are read and aggregated: this process (default) or Apache Spark "
        "(inputs may then be globs or any URI Spark reads: s3a://, gs://, abfss://, hdfs://)",
    )
    group.add_argument(
        "--spark-master",
        metavar="URL",
        help="Spark master (default: from spark-submit or $MASTER, else local[*])",
    )
    group.add_argument(
        "--spark-conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Spark setting, e.g. spark.executor.memory=4g (repeatable)",
    )


def engine_reader(args: argparse.Namespace, config: LearnConfig) -> Reader | None:
    """None for the local engine; for Spark, a reader bound to a started session."""
    if getattr(args, "engine", "local") != "spark":
        return None
    from learner.app.spark_engine import spark_ingest, spark_session

    debug = bool(getattr(args, "debug", False) or os.environ.get("NETPOL_LEARNER_DEBUG"))
    spark = spark_session(args.spark_master, args.spark_conf, quiet=not debug)

    def read(
        inputs: Sequence[str],
        store: EdgeStore,
        collected: CollectorStats,
        normalized: NormalizeStats,
    ) -> None:
        spark_ingest(
            inputs,
            store,
            config,
            spark=spark,
            source=args.source,
            strict=args.strict,
            collected=collected,
            normalized=normalized,
        )

    return read


def read_into_store(
    args: argparse.Namespace,
    inputs: Sequence[str],
    store: EdgeStore,
    config: LearnConfig,
    collected: CollectorStats,
    normalized: NormalizeStats,
    progress: Progress,
) -> None:
    """Read ``inputs`` into ``store`` on the engine ``--engine`` chose (``verify``, ``diff``)."""
    from learner.app.pipeline import ingest, read_flows

    reader = engine_reader(args, config)
    if reader is not None:
        progress.close()  # Spark shows its own
        reader(inputs, store, collected, normalized)
        return
    from learner.model.repeats import Repeats

    repeats = Repeats()
    flows = read_flows(
        inputs, source=args.source, strict=args.strict, stats=collected, repeats=repeats
    )
    ingest(flows, store, config, normalized, progress, repeats)
