"""Command line: what the job prints and how quiet Spark is.

``spark-smote`` and ``jobs/smote_job.py`` print, in order: the configuration and the
seed, one line per phase, what the sampler did (:func:`print_run_summary`), the result.
Spark's own log is set to WARN before the session starts (``spark.log.level``, applied
by Spark as the context starts) and its progress bars are off
(``spark.ui.showConsoleProgress``); pyspark's Python loggers and warnings are silenced,
so a bad input ends in one line. ``--verbose`` leaves Spark's logging and progress bars
as configured. Under spark-submit, which starts the driver JVM with Spark's default log
profile before any Python runs, ``jobs/smote_job.py`` lowers that profile to WARN before
the SparkContext starts.
Only the command line calls this module: a library user's logging is never touched.

Changing the level of a session that is already running is possible on a classic
session only (``SparkContext.setLogLevel``): ``spark.log.level`` is a static setting,
which ``spark.conf.set`` refuses on classic and Connect sessions alike
(``CANNOT_MODIFY_CONFIG``), and a Spark Connect client has no SparkContext and no call
that sets the server's log level. So a Connect session gets its level from the
builder's settings alone (the job's own local server does, see
:func:`spark_smote._job.build_session`), and the two functions below that adjust a
running session do so on classic sessions and leave Connect sessions as they are.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from spark_smote._report import sampler_fields, summary_line

__all__ = [
    "QUIET_SPARK_SETTINGS",
    "add_console_arguments",
    "configure_console",
    "error",
    "format_counts",
    "print_run_summary",
    "quiet_session",
    "say",
    "spark_log_silenced",
]

PREFIX = "spark-smote"

# Applied to the job's session unless --verbose (a config file's own value wins).
QUIET_SPARK_SETTINGS = {
    "spark.log.level": "WARN",
    "spark.ui.showConsoleProgress": "false",
    # Plans of inputs wider than Spark's default 25 fields are otherwise printed cut,
    # with a WARN line about it; the value only bounds plan strings, never the data.
    "spark.sql.debug.maxToStringFields": "1000",
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
    """Keep a classic session that was already running at WARN (see the module notes)."""
    if not verbose:
        _set_classic_log_level(spark, "WARN")


@contextmanager
def spark_log_silenced(spark: object, verbose: bool) -> Iterator[None]:
    """Spark's log off while the job opens its input (classic sessions the job owns).

    A file Spark cannot read fails a task, which Spark logs at ERROR with its Java stack
    trace before the job reports the problem in one line; the job's line says it all.
    """
    silenced = not verbose and _set_classic_log_level(spark, "OFF")
    try:
        yield
    finally:
        if silenced:
            _set_classic_log_level(spark, "WARN")


def _set_classic_log_level(spark: object, level: str) -> bool:
    """Set a running classic session's log level; False (nothing done) over Connect."""
    if type(spark).__module__.startswith("pyspark.sql.connect"):
        return False
    context = getattr(spark, "sparkContext", None)
    if context is None:
        return False
    context.setLogLevel(level)
    return True


def format_counts(counts: Mapping[Any, int]) -> str:
    """``label: count`` pairs, for the console."""
    return ", ".join(f"{label!r}: {n}" for label, n in counts.items())


def print_run_summary(report: Any, sampler_name: str) -> None:
    """What the sampler decided and did, one line each, from its ``report_``.

    Features and the columns synthetic rows leave null (generators that report them),
    counts before, rows added or removed, the LSH agreement of a cleaner, each search,
    and the fields of the sampler's own report in one line.
    """
    say(f"features: {', '.join(getattr(report, 'features', None) or ['(all numeric)'])}")
    if getattr(report, "columns_left_null", None) is not None:
        left_null = ", ".join(report.columns_left_null) or "(none)"
        say(f"columns left null in synthetic rows: {left_null}")
    say(f"classes before: {format_counts(report.class_counts_before)}")
    if report.synthetic_counts or not hasattr(report, "removed_counts"):
        say(f"synthetic rows: {format_counts(report.synthetic_counts)}")
    if hasattr(report, "removed_counts"):
        say(f"rows removed: {format_counts(report.removed_counts)}")
    if getattr(report, "lsh_agreement", None) is not None:
        say(f"LSH agreement with exact search: {report.lsh_agreement:.4f}")
    for label, method in report.neighbor_method.items():
        parameters = report.neighbor_parameters[label]
        say(f"neighbours of class {label!r}: {method} {parameters}")
    own_fields = sampler_fields(report)
    if own_fields:
        say(f"{sampler_name} report: {summary_line(own_fields)}")


def say(message: str) -> None:
    """Print one line of the job's console output."""
    print(f"{PREFIX}: {message}", flush=True)


def error(message: object) -> None:
    """Print one error line to stderr."""
    print(f"{PREFIX}: error: {message}", file=sys.stderr, flush=True)
