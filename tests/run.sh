#!/usr/bin/env bash
# The test command of the README: the whole suite in a classic session, then the
# end-to-end tests again over Spark Connect (local[2]) in a second pytest process,
# since a classic and a Connect session cannot share one process. Both passes always
# run; the command fails if either does.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$(command -v python)}"

# A class-data archive of a test job's JVM (tests/_class_archive.py): each JVM the
# suite starts through spark-submit maps Spark's classes from it instead of loading
# them from the jars, about 5 s less per JVM start. Made afresh each run under .ci/ (an
# archive from other jars would be ignored); without it the tests run as before.
archive_dir=.ci/jvm-classes
rm -rf "$archive_dir" && mkdir -p "$archive_dir"
python tests/_class_archive.py "$archive_dir" >/dev/null 2>&1
if [ -s "$archive_dir/spark-classes.jsa" ] && [ -s "$archive_dir/jvm-options" ]; then
  export SPARK_SUBMIT_OPTS="${SPARK_SUBMIT_OPTS:+$SPARK_SUBMIT_OPTS }$(cat "$archive_dir/jvm-options")"
  echo "tests/run.sh: JVMs start from the class archive in $archive_dir"
else
  echo "tests/run.sh: no JVM class archive; the JVMs load their classes from the jars"
fi
python -m pytest -q "$@"
classic=$?
SPARK_SMOTE_TEST_REMOTE="local[2]" python -m pytest -q -m "connect or e2e" "$@"
connect=$?
rm -rf "$archive_dir"
echo "tests/run.sh: classic pass exit ${classic}, Spark Connect pass exit ${connect}"
[ "$classic" -eq 0 ] && [ "$connect" -eq 0 ]
