"""``--engine spark``: read, parse, normalise and aggregate flows on Apache Spark.

The driver lists the inputs (local paths, or any URI Spark's file systems read), decides each
file's format from its first bytes, and lets Spark read the text. Executors run
:mod:`learner.spark_tasks` (the project's own collectors and EdgeStore) per file block; the
partial stores are merged in file order, a contiguous range at a time on the executors and the
rest on the driver, which then learns and renders exactly as the local engine does.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from collectors.detect import SAMPLE_CHARS, detect_text
from learner.app.spark_tasks import (
    STRICT_MARKER,
    FilePlan,
    Partial,
    ingest_rows,
    merge_partials,
)
from learner.model.config import LearnConfig
from learner.model.edges import EdgeStore
from learner.model.errors import InputError, NetpolLearnerError, UsageError
from learner.model.input_files import expand_inputs, open_text
from learner.model.run_stats import CollectorStats, NormalizeStats

INSTALL_HINT = "--engine spark needs pyspark: pip install 'netpol-learner[spark]'"
DRIVER_JAVA_OPTIONS = "spark.driver.extraJavaOptions"
FILES_PER_MERGE = 32
"""Consecutive files whose partial stores one executor task merges before the driver."""


class SparkEngineError(NetpolLearnerError):
    """Spark could not start or a job failed for a reason outside the flows."""


def _is_uri(item: str) -> bool:
    return "://" in item or item.startswith(("hdfs:", "file:"))


def _key(path: str) -> str:
    """One spelling for a file, whatever form Spark reports it in."""
    from urllib.parse import unquote, urlparse

    if path.startswith("file:"):
        return os.path.abspath(unquote(urlparse(path).path))
    return path


def _require_java() -> None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and os.path.exists(os.path.join(java_home, "bin", "java")):
        return
    if shutil.which("java") is None:
        raise SparkEngineError(
            "--engine spark needs Java 17 or newer: install a JRE or set JAVA_HOME"
        )


QUIET_LOG4J2 = """\
# netpol-learner turns Spark's failures into one-line errors; --debug shows Spark's own log.
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
appender.console.filter.threshold.type = ThresholdFilter
appender.console.filter.threshold.level = fatal
# WARN is the level Spark gives a Python driver's root logger; any other and it says so
rootLogger.level = warn
rootLogger.appenderRef.console.ref = console
"""


_quiet_config: str | None = None


def _quiet_log_option() -> str:
    """A JVM option pointing log4j2 at :data:`QUIET_LOG4J2` (written once per process)."""
    global _quiet_config
    if _quiet_config is None:
        import atexit
        import tempfile

        handle, path = tempfile.mkstemp(prefix="netpol-learner-log4j2-", suffix=".properties")
        with os.fdopen(handle, "w") as file:
            file.write(QUIET_LOG4J2)
        atexit.register(os.remove, path)
        _quiet_config = path
    return f"-Dlog4j2.configurationFile=file:{_quiet_config}"


def quiet_java_options(java_options: str) -> str:
    """The driver's JVM options with the quiet log configuration, unless the user chose a
    log4j configuration of their own (the JVM would take the last one given: ours)."""
    if "log4j2.configurationFile" in java_options or "log4j.configuration" in java_options:
        return java_options
    return f"{java_options} {_quiet_log_option()}".strip()


def spark_session(master: str | None, conf: Sequence[str], *, quiet: bool = True) -> Any:
    """A started session. ``quiet`` keeps the driver JVM's log (executor stack traces on a
    local master) off the terminal: failures reach the user as this engine's own errors."""
    try:
        from pyspark.sql import SparkSession
    except ModuleNotFoundError:
        raise UsageError(INSTALL_HINT) from None
    _require_java()
    builder = SparkSession.builder.appName("netpol-learner")
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # running under spark-submit
    master = master or os.environ.get("MASTER") or os.environ.get("SPARK_MASTER")
    if not master and not submitted:
        master = "local[*]"
    if master:
        builder = builder.master(master)
    if master and master.startswith("local"):
        # executors are this machine's Python: the same interpreter and this project's code
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        path = os.environ.get("PYTHONPATH", "")
        os.environ["PYTHONPATH"] = root + (os.pathsep + path if path else "")
        builder = (
            builder.config("spark.ui.enabled", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
        )
    settings: dict[str, str] = {}
    for item in conf:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--spark-conf {item!r}: expected KEY=VALUE")
        settings[key.strip()] = value
    if quiet and not submitted:  # under spark-submit the driver JVM runs already
        settings[DRIVER_JAVA_OPTIONS] = quiet_java_options(settings.get(DRIVER_JAVA_OPTIONS, ""))
        # the stage bars draw over lines with carriage returns: junk in a log or a pipe
        settings.setdefault("spark.ui.showConsoleProgress", "false")
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # pyspark raises its own types for a JVM that did not start
        raise SparkEngineError(f"Spark did not start: {_first_line(exc)}") from exc
    session.sparkContext.setLogLevel("ERROR")
    return session


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def list_files(spark: Any, inputs: Sequence[str]) -> list[tuple[str, str]]:
    """(display name, URI for Spark) of every input file, in the local engine's order."""
    files: list[tuple[str, str]] = []
    for item in inputs:
        if item == "-":
            raise UsageError("--engine spark cannot read standard input; give files or URIs")
        if not _is_uri(item) and not any(c in item for c in "*?["):
            for path in expand_inputs([item]):
                files.append((path, "file://" + os.path.abspath(path)))
            continue
        files.extend((uri, uri) for uri in _hadoop_list(spark, item))
    return files


def _hadoop_list(spark: Any, item: str) -> list[str]:
    jvm = spark.sparkContext._jvm
    hadoop_conf = spark.sparkContext._jsc.hadoopConfiguration()
    try:
        path = jvm.org.apache.hadoop.fs.Path(item)
        fs = path.getFileSystem(hadoop_conf)
        statuses = fs.globStatus(path)
        found: list[str] = []
        for status in statuses or []:
            if status.isDirectory():
                listing = fs.listFiles(status.getPath(), True)
                while listing.hasNext():
                    file = listing.next().getPath()
                    rel = file.toString()[len(status.getPath().toString()) :]
                    if any(part.startswith(".") for part in rel.split("/") if part):
                        continue
                    if not file.getName().endswith(".md"):
                        found.append(file.toString())
            else:
                found.append(status.getPath().toString())
    except Exception as exc:
        raise InputError(item, 0, f"cannot read: {_java_message(exc)}") from exc
    if not found:
        raise UsageError(f"{item}: no such file or directory")
    return sorted(found)


def _java_message(exc: BaseException) -> str:
    java = getattr(exc, "java_exception", None)
    if java is not None:
        return str(java.toString())
    return _first_line(exc)


def _sample(spark: Any, display: str, uri: str) -> str:
    if display == uri:  # a URI: read the first bytes through Spark's file system
        import zlib

        jvm = spark.sparkContext._jvm
        path = jvm.org.apache.hadoop.fs.Path(uri)
        try:
            stream = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).open(path)
            try:
                data = bytes(stream.readNBytes(SAMPLE_CHARS))
            finally:
                stream.close()
        except Exception as exc:
            raise InputError(display, 0, f"cannot read: {_java_message(exc)}") from exc
        if data[:2] == b"\x1f\x8b":
            data = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, SAMPLE_CHARS)
        return data.decode("utf-8", errors="replace")
    try:
        with open_text(display) as handle:
            return handle.read(SAMPLE_CHARS)
    except (OSError, EOFError) as exc:
        raise InputError(display, 0, f"cannot read: {exc}") from exc


def plan_file(index: int, display: str, sample: str, source: str) -> FilePlan:
    kind = source if source != "auto" else (detect_text(sample) or "hubble")
    text = sample.lstrip("\ufeff")
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    cut = "\n" not in text.lstrip()  # the first line is longer than the sample
    whole = first.startswith("[") or first == "{" or (cut and len(text) >= SAMPLE_CHARS)
    return FilePlan(index, display, kind, whole)


def spark_ingest(
    inputs: Sequence[str],
    store: EdgeStore,
    config: LearnConfig,
    *,
    spark: Any,
    source: str = "auto",
    strict: bool = False,
    collected: CollectorStats,
    normalized: NormalizeStats,
) -> None:
    """Read ``inputs`` on Spark and merge everything into ``store`` (in file order)."""
    files = list_files(spark, inputs)
    plans = {
        _key(uri): plan_file(i, display, _sample(spark, display, uri), source)
        for i, (display, uri) in enumerate(files)
    }
    by_index = {
        plan.index: (plan, uri) for (_, uri), plan in zip(files, plans.values(), strict=True)
    }
    partial = _run_job(spark, files, plans, config, strict, by_index)
    collected.files += len(files)
    if partial is None:
        return
    store.merge(partial.store)
    partial.collected.errors = _absolute_errors(partial, by_index)
    collected.merge(partial.collected)
    normalized.merge(partial.normalized)


def _absolute_errors(
    partial: Partial, by_index: dict[int, tuple[FilePlan, str]]
) -> list[InputError]:
    errors = []
    for index, block, line, reason in partial.errors:
        before = sum(n for (i, b), n in partial.blocks.items() if i == index and b < block)
        errors.append(InputError(by_index[index][0].display, before + line, reason))
    return errors


def _read(spark: Any, uris: list[str], whole: bool) -> Any:
    from pyspark.sql import functions as F

    frame = spark.read.text(uris, wholetext=whole)
    return frame.select(
        "value",
        F.col("_metadata.file_path").alias("file"),
        F.col("_metadata.file_block_start").alias("start"),
    ).rdd


def _run_job(
    spark: Any,
    files: list[tuple[str, str]],
    plans: dict[str, FilePlan],
    config: LearnConfig,
    strict: bool,
    by_index: dict[int, tuple[FilePlan, str]],
) -> Partial | None:
    rdds = []
    for whole in (False, True):
        uris = [
            uri for (_, uri), plan in zip(files, plans.values(), strict=True) if plan.whole == whole
        ]
        if uris:
            rdds.append(_read(spark, uris, whole))
    if not rdds:
        return None
    rows = rdds[0] if len(rdds) == 1 else rdds[0].union(rdds[1])

    def task(rows: Iterator[Any]) -> Iterator[Any]:
        keyed = ((r[0], _key(r[1]), r[2]) for r in rows)
        for position, partial in ingest_rows(keyed, plans, config, strict):
            yield position[0] // FILES_PER_MERGE, (position, partial)

    def merge_group(group: Any) -> Any:
        return merge_partials(group)

    ranges = rows.mapPartitions(task).groupByKey().mapValues(merge_group)
    try:
        merged = sorted(ranges.collect(), key=lambda kv: kv[0])
    except Exception as exc:
        raise _job_error(spark, exc, by_index) from None
    return merge_partials(((key, 0), partial) for key, partial in merged)


_STRICT = re.compile(STRICT_MARKER + r"\t(\d+)\t(\d+)\t(\d+)\t([^\n]*)")
_FILE = re.compile(r"(?:reading file|file) ([a-z][a-z0-9+.-]*:[^\s,]+?)\.?(?:\s|$)")


def _job_error(
    spark: Any, exc: Exception, by_index: dict[int, tuple[FilePlan, str]]
) -> NetpolLearnerError:
    text = str(exc)
    strict = _STRICT.search(text)
    if strict:
        index, block, line, reason = (int(strict[1]), int(strict[2]), int(strict[3]), strict[4])
        plan, uri = by_index[index]
        if block:
            from pyspark.sql import functions as F

            before = spark.read.text(uri).where(F.col("_metadata.file_block_start") < block).count()
            line += before
        return InputError(plan.display, line, reason)
    found = _FILE.search(text)
    cause = next(
        (
            ln.strip().removeprefix("Caused by: ")
            for ln in text.splitlines()
            if re.search(r"(Exception|Error):", ln) and "SparkException" not in ln
        ),
        _first_line(exc),
    )
    if found:
        key = _key(found[1])
        display = next((p.display for p, uri in by_index.values() if _key(uri) == key), found[1])
        return InputError(display, 0, f"cannot read: {cause}")
    return SparkEngineError(f"Spark job failed: {cause}")
