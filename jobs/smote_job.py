"""spark-submit entry point: ``spark-submit jobs/smote_job.py --input ... --output ...``.

Takes the same arguments as the ``spark-smote`` command. Thin by design: all the work
is in the spark_smote package. The one thing done here is what only spark-submit needs:
its driver JVM starts with Spark's default log profile (INFO), so the SparkContext would
log its first lines before the job's ``spark.log.level=WARN`` applies. Unless
``--verbose``, the job lets Spark load its log profile now and lowers it to WARN first.
"""

import os
import sys

from spark_smote.cli import main


def _quiet_spark_submit_log() -> None:
    """Lower the spark-submit driver's log to WARN before the SparkContext starts."""
    if "--verbose" in sys.argv or "PYSPARK_GATEWAY_PORT" not in os.environ:
        return
    try:
        from pyspark import SparkContext

        SparkContext._ensure_initialized()
        jvm = SparkContext._jvm
        if jvm is None:
            return
        # Logging a SparkConf makes Spark load its default log profile now (the context
        # would, and would reset any level set before); the root level set after sticks.
        jvm.org.apache.spark.SparkConf(False).log()
        log4j = jvm.org.apache.logging.log4j
        log4j.core.config.Configurator.setRootLevel(log4j.Level.WARN)
    except Exception:  # a quieter console is not worth failing the job
        return


if __name__ == "__main__":
    _quiet_spark_submit_log()
    main()
