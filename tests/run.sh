#!/usr/bin/env bash
# The test command of the README: the whole suite in a classic session, then the
# end-to-end tests again over Spark Connect (local[2]) in a second pytest process,
# since a classic and a Connect session cannot share one process. Both passes always
# run; the command fails if either does.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$(command -v python)}"
python -m pytest -q "$@"
classic=$?
SPARK_SMOTE_TEST_REMOTE="local[2]" python -m pytest -q -m "connect or e2e" "$@"
connect=$?
echo "tests/run.sh: classic pass exit ${classic}, Spark Connect pass exit ${connect}"
[ "$classic" -eq 0 ] && [ "$connect" -eq 0 ]
