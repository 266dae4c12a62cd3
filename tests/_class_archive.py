"""Make a class-data archive of a test job's JVM, for faster JVM starts (test helper script).

Usage: ``python tests/_class_archive.py FOLDER``. Runs the reliability tests' reference
job (:func:`spark_smote.cli.run`, conf/test.toml, local[2]) in this process with
``-XX:ArchiveClassesAtExit``, so that its JVM writes the classes it loaded (Spark, Arrow,
Parquet, the Python runners) to ``FOLDER/spark-classes.jsa`` when it exits, and writes
the JVM options that read the archive to ``FOLDER/jvm-options``. The JVM prints notes
about classes it cannot archive on its standard output: send the script's to /dev/null.

``tests/run.sh`` runs it, and if the archive is there, passes the options to every JVM
the suite starts through spark-submit (the test sessions, the command-line jobs, the
scripts' own sessions) in ``SPARK_SUBMIT_OPTS``. A JVM started from the archive maps
those classes instead of loading and verifying them from the jars. This is JDK 17's
dynamic archive (one run writes it, later runs map it); a JVM whose class path or JDK
does not match the archive ignores it and starts as usual, and the ``cds`` log tags are
off so that nothing about it reaches a job's console. Nothing is kept outside
``FOLDER``.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
from pathlib import Path

ARCHIVE_NAME = "spark-classes.jsa"
OPTIONS_NAME = "jvm-options"
# Upper bound of the JVM's exit, archive written (a hang must not block the test run).
JVM_EXIT_SECONDS = 300
# Silences the notes of a JVM about the archive it reads (standard output by default).
# The writing JVM's notes (classes it cannot archive) go to the script's output.
QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"


def archive_options(archive: Path) -> str:
    """JVM options that start a JVM from ``archive``."""
    return f"-XX:SharedArchiveFile={archive} {QUIET}"


def make_archive(folder: Path) -> Path | None:
    """Run the reference job with the dump option; the archive, or None if none was made.

    Sets ``SPARK_SUBMIT_OPTS`` and ends the JVM: run it as a script, in its own process.
    """
    archive = folder.resolve() / ARCHIVE_NAME
    options = f"-XX:ArchiveClassesAtExit={archive}"
    os.environ["SPARK_SUBMIT_OPTS"] = f"{os.environ.get('SPARK_SUBMIT_OPTS', '')} {options}"
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from spark_smote import cli
    from tests._reliability import REFERENCE_ARGS, cli_args, write_reference_input

    work = folder / "job"
    source = write_reference_input(work / "input")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        status = cli.run(cli_args(source, work / "output", *REFERENCE_ARGS))
    shutil.rmtree(work, ignore_errors=True)
    _end_jvm()
    return archive if status == 0 and archive.is_file() else None


def _end_jvm() -> None:
    """End the session's JVM and wait while it writes the archive.

    The JVM exits when its standard input closes (pyspark's gateway), which would
    otherwise happen only when this process exits, with the archive still being written.
    """
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    process = getattr(gateway, "proc", None)
    if process is None:
        return
    if process.stdin is not None:
        process.stdin.close()
    # Writing the archive (about 190 MB) takes seconds; a JVM that never ends is not waited for.
    process.wait(timeout=JVM_EXIT_SECONDS)


def main(folder: str) -> int:
    """Run the job and write the options file; exit 1 if no archive was made."""
    archive = make_archive(Path(folder))
    if archive is None:
        return 1
    (Path(folder) / OPTIONS_NAME).write_text(archive_options(archive), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
