"""Run several ``spark-smote`` command lines in one process (test helper script).

Usage: ``python tests/_cli_batch.py CASES.json RESULTS.json``. CASES is a list of
``{"name": ..., "argv": [...]}``; each is passed to :func:`spark_smote.cli.run`, the
real command-line entry point, and RESULTS maps each name to its exit status, stdout
and stderr. The only difference from separate processes: the Spark session is kept
between cases (``SparkSession.stop`` is deferred to the end), so the catalogue of bad
inputs costs one JVM start instead of one per case.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import traceback
from pathlib import Path


def main(cases_path: str, results_path: str) -> None:
    from pyspark.sql import SparkSession

    from spark_smote import cli

    stop = SparkSession.stop
    SparkSession.stop = lambda self: None  # type: ignore[method-assign]
    results = {}
    try:
        for case in json.loads(Path(cases_path).read_text()):
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    status = cli.run(case["argv"])
                except SystemExit as exit_:
                    status = exit_.code if isinstance(exit_.code, int) else 1
                except BaseException:  # an uncaught error: the real CLI would exit 1
                    traceback.print_exc()
                    status = 1
            results[case["name"]] = {
                "exit": status,
                "stdout": out.getvalue(),
                "stderr": err.getvalue(),
            }
            Path(results_path).write_text(json.dumps(results))
    finally:
        session = SparkSession.getActiveSession()
        if session is not None:
            stop(session)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
