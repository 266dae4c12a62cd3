"""Command line: what the job prints and how quiet Spark is.

``spark-smote`` and ``jobs/smote_job.py`` print, in order: the configuration and the
seed, one line per phase, the result. Spark's own log is set to WARN before the
session starts (``spark.log.level``, applied by Spark as the context starts) and its
progress bars are off (``spark.ui.showConsoleProgress``); pyspark's Python loggers and
warnings are silenced, so a bad input ends in one line. ``--verbose`` leaves Spark's
logging and progress bars as configured. Under spark-submit, which starts the driver
JVM with Spark's default log profile before any Python runs, the SparkContext's first
three INFO lines (Spark, OS and Java versions) come before ``spark.log.level`` applies;
pass ``--driver-java-options -Dlog4j2.configurationFile=...`` to silence those too.
Only the command line calls this module: a library user's logging is never touched.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "QUIET_SPARK_SETTINGS",
    "add_console_arguments",
    "configure_console",
    "error",
    "quiet_session",
    "say",
    "spark_log_silenced",
]

PREFIX = "spark-smote"

# Applied to the job's session unless --verbose (a config file's own value wins).
QUIET_SPARK_SETTINGS = {
    "spark.log.level": "WARN",
    "spark.ui.showConsoleProgress": "false",
}

# Python loggers of pyspark and py4j that print stack traces of errors the job reports
# in one line itself (Connect's "GRPC Error received", the query context logger).
_NOISY_LOGGERS = ("py4j", "pyspark", "DataFrameQueryContextLogger")


def add_console_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--verbose``."""
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show Spark's own log (INFO) and progress bars, and pyspark's warnings",
    )


def configure_console(verbose: bool) -> None:
    """Set up the job's own logging: the library's warnings as plain lines."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")
    if verbose:
        return
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    # pyspark's UserWarnings (e.g. settings a Connect session cannot change) are noise
    # here; the library's own warnings reach the console through its logger.
    warnings.filterwarnings("ignore", category=UserWarning)


def quiet_session(spark: object, verbose: bool) -> None:
    """Keep a session that was already running (spark-submit, Databricks) at WARN."""
    if verbose:
        return
    context = getattr(spark, "sparkContext", None) if _is_classic(spark) else None
    if context is not None:
        context.setLogLevel("WARN")


@contextmanager
def spark_log_silenced(spark: object, verbose: bool) -> Iterator[None]:
    """Spark's log off while the job opens its input (classic sessions the job owns).

    A file Spark cannot read fails a task, which Spark logs at ERROR with its Java stack
    trace before the job reports the problem in one line; the job's line says it all.
    """
    context = None if verbose or not _is_classic(spark) else getattr(spark, "sparkContext", None)
    if context is not None:
        context.setLogLevel("OFF")
    try:
        yield
    finally:
        if context is not None:
            context.setLogLevel("WARN")


def _is_classic(spark: object) -> bool:
    return not type(spark).__module__.startswith("pyspark.sql.connect")


def say(message: str) -> None:
    """Print one line of the job's console output."""
    print(f"{PREFIX}: {message}", flush=True)


def error(message: object) -> None:
    """Print one error line to stderr."""
    print(f"{PREFIX}: error: {message}", file=sys.stderr, flush=True)
