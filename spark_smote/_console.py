"""Command line: what the job prints and how quiet Spark is.

``spark-smote`` and ``jobs/smote_job.py`` print, in order: the configuration and the
seed, one line per phase, what the sampler did (:func:`print_run_summary`), the result.
Unless ``--verbose``, the job's session is built with :func:`quiet_spark_settings`:
Spark's log at WARN (``spark.log.level``) and no progress bars; and a driver JVM the job
launches itself reads ``log4j2-quiet.properties`` (beside this module), which also keeps
the Java stack traces of failed tasks off the console, so a bad input ends in the job's
one line. pyspark's Python loggers and warnings are silenced too. ``--verbose`` leaves
Spark's logging and progress bars as configured. Under spark-submit, which starts the
driver JVM with Spark's default log profile before any Python runs, ``jobs/smote_job.py``
lowers that profile to WARN before the session starts.
Only the command line calls this module: a library user's logging is never touched, and
a session the job did not start keeps its own log settings.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spark_smote._report import sampler_fields, summary_line

__all__ = [
    "add_console_arguments",
    "configure_console",
    "error",
    "format_counts",
    "print_run_summary",
    "quiet_spark_settings",
    "say",
]

PREFIX = "spark-smote"

# Applied to the job's session unless --verbose (a config file's own value wins).
_QUIET_SETTINGS = {
    "spark.log.level": "WARN",
    "spark.ui.showConsoleProgress": "false",
    # Plans of inputs wider than Spark's default 25 fields are otherwise printed cut,
    # with a WARN line about it; the value only bounds plan strings, never the data.
    "spark.sql.debug.maxToStringFields": "1000",
}
_JAVA_OPTIONS = "spark.driver.extraJavaOptions"
_LOG_PROFILE = Path(__file__).with_name("log4j2-quiet.properties")


def quiet_spark_settings(configured: Mapping[str, str]) -> dict[str, str]:
    """The configuration file's Spark settings with the console's quiet ones added.

    A value the configuration gives wins, except that the driver's Java options get the
    quiet log profile in front of the configured ones, unless they name a log4j2
    configuration of their own. The options only take effect when this process launches
    the driver JVM (local mode, a local Connect server); a running JVM keeps its log.
    """
    settings = {**_QUIET_SETTINGS, **configured}
    options = settings.get(_JAVA_OPTIONS, "")
    if "log4j2.configurationFile" not in options:
        profile = f"-Dlog4j2.configurationFile={_LOG_PROFILE.as_uri()}"
        settings[_JAVA_OPTIONS] = f"{profile} {options}".strip()
    return settings


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
    agreement = _agreement_line(report)
    if agreement:
        say(f"LSH agreement with exact search: {agreement}")
    for label, method in report.neighbor_method.items():
        parameters = report.neighbor_parameters[label]
        say(f"neighbours of class {label!r}: {method} {parameters}")
    own_fields = sampler_fields(report)
    if own_fields:
        say(f"{sampler_name} report: {summary_line(own_fields)}")


def _agreement_line(report: Any) -> str | None:
    """A cleaner's LSH agreement and the rows it rests on; None without an LSH sample.

    The share is of the sampled rows exact search removes, which are few when the
    cleaner removes few rows: the counts say how much the figure can be trusted.
    """
    sample = getattr(report, "agreement_sample", 0)
    removed = getattr(report, "agreement_removed_exact", 0)
    agreement = getattr(report, "lsh_agreement", None)
    if agreement is not None:
        both = getattr(report, "agreement_removed_both", 0)
        return (
            f"{agreement:.4f} ({both} of the {removed} rows exact search removes "
            f"among {sample} sampled)"
        )
    if sample:
        return f"not measured (exact search removes none of {sample} sampled rows)"
    return None


def say(message: str) -> None:
    """Print one line of the job's console output."""
    print(f"{PREFIX}: {message}", flush=True)


def error(message: object) -> None:
    """Print one error line to stderr."""
    print(f"{PREFIX}: error: {message}", file=sys.stderr, flush=True)
