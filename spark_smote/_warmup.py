"""Start the Python workers while the driver plans the first phases.

Spark starts its Python workers on demand: the first task that needs one starts the
worker daemon, which forks a worker per task, and each new worker imports pyarrow,
numpy and this package before it runs anything. Workers are then reused (the default
``spark.python.worker.reuse``). A session's first Python job therefore takes over a
second longer than the same job once the workers run, and a run's first Python task,
the numbering and tuning of the grown class, sits on its critical path; so does the
second worker's start in the search stage.

:func:`start_python_workers` runs, in a background thread, one small job whose
tasks import the modules the run's tasks need: ``spark.range`` without a partition
count has one partition per core of the session's default parallelism, capped at
``MAX_WARM_TASKS`` by ``coalesce``: DataFrame calls only, as everywhere. It is
started while the driver plans (reads the schema, plans the validation or the keys
pass), when the cores are idle, so the workers are ready when the first real Python
task comes. It is a classic-session optimisation only: a Spark Connect client leaves
its server's workers alone. Nothing it does changes any result, and a failure of it
(the session stopped meanwhile, say) is ignored: the run then starts its workers
itself, as without it. ``SPARK_SMOTE_DISABLE=warm-up`` switches it off (see
:mod:`spark_smote._plan`), for measuring what it buys.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pyspark.sql import SparkSession

from spark_smote._plan import disabled

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["MAX_WARM_TASKS", "start_python_workers"]

# The most workers started: one per core of a local session or a small cluster.
MAX_WARM_TASKS = 8

_started: weakref.WeakSet[Any] = weakref.WeakSet()
_lock = threading.Lock()


def _import_task_modules(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The warm-up task: import what the run's tasks unpickle, return nothing."""
    import spark_smote._search
    import spark_smote._synthesis  # noqa: F401

    for _ in batches:
        pass
    yield from ()


def _warm(spark: SparkSession) -> None:
    with contextlib.suppress(Exception):
        rows = spark.range(MAX_WARM_TASKS).coalesce(MAX_WARM_TASKS)
        rows.mapInArrow(_import_task_modules, "id long").collect()


def start_python_workers(spark: Any) -> threading.Thread | None:
    """Start the session's Python workers in the background, once per session.

    Parameters
    ----------
    spark : SparkSession
        A classic session; a Spark Connect session (another class) is left alone, and
        so is every session while ``SPARK_SMOTE_DISABLE`` lists ``warm-up``.

    Returns
    -------
    threading.Thread or None
        The (daemon) thread running the warm-up job, or None when nothing was started:
        a Connect session, or a session already warmed.

    """
    if not isinstance(spark, SparkSession) or disabled("warm-up"):
        return None
    with _lock:
        if spark in _started:
            return None
        _started.add(spark)
    thread = threading.Thread(
        target=_warm, args=(spark,), name="spark_smote-worker-warm-up", daemon=True
    )
    thread.start()
    return thread
