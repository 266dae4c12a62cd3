#!/usr/bin/env bash
# The test command of the README: the whole suite in a classic session and the
# end-to-end tests again over Spark Connect (local[2]) in a second pytest process, since
# a classic and a Connect session cannot share one process. The two passes run at the
# same time (most of a Spark test's time is the driver waiting on the JVM, so two
# processes share two cores well); the Connect pass's output follows the classic one's.
# The command fails if either pass does.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$(command -v python)}"
connect_log="$(mktemp)"
SPARK_SMOTE_TEST_REMOTE="local[2]" python -m pytest -q -m "connect or e2e" "$@" \
  >"$connect_log" 2>&1 &
connect_pid=$!
trap 'kill "$connect_pid" 2>/dev/null; rm -f "$connect_log"; exit 130' INT TERM
python -m pytest -q "$@"
classic=$?
wait "$connect_pid"
connect=$?
echo "== Spark Connect pass =="
cat "$connect_log"
rm -f "$connect_log"
echo "tests/run.sh: classic pass exit ${classic}, Spark Connect pass exit ${connect}"
[ "$classic" -eq 0 ] && [ "$connect" -eq 0 ]
