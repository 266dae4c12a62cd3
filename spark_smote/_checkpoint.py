"""Materialise an intermediate DataFrame once, and release it safely on Spark Connect.

Used by the phases that read one intermediate table several times (the keys pass's
points table, the neighbours table of SMOTE-NC): :func:`materialized` is
``localCheckpoint(eager=True)`` plus, on Spark Connect, a release at interpreter exit.

Why the release: on Connect a checkpointed DataFrame is backed by a server-side cached
relation that pyspark frees from a finaliser (``CachedRemoteRelation.__del__``), a
blocking gRPC call. When that finaliser runs during interpreter shutdown (a script that
ends without ``spark.stop()``, the usual shape of a Databricks job), gRPC cannot start
the thread the call needs and the process never exits. The library therefore keeps a
weak reference to every relation it created and, from an ``atexit`` hook (which runs
before the interpreter starts finalising objects), releases those still alive and
disarms their finalisers. Relations the garbage collector frees earlier are released
by pyspark as usual. A classic session needs none of this.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from typing import Any

from pyspark.sql import DataFrame

__all__ = ["materialized", "release_cached_relations"]

logger = logging.getLogger("spark_smote")

# The server-side relations this process created and has not seen freed (plans are
# held weakly: the DataFrames that use them decide how long they live).
_relations: weakref.WeakSet[Any] = weakref.WeakSet()
_lock = threading.Lock()
_hook_registered = False


def materialized(df: DataFrame) -> DataFrame:
    """``df.localCheckpoint(eager=True)``, released at exit on Spark Connect.

    Parameters
    ----------
    df : DataFrame
        The intermediate table to compute once (classic or Spark Connect).

    Returns
    -------
    DataFrame
        The checkpointed table, with its lineage cut.

    """
    checkpointed = df.localCheckpoint(eager=True)
    _track(checkpointed)
    return checkpointed


def _track(df: DataFrame) -> None:
    """Remember ``df``'s server-side relation (Spark Connect only) for the exit hook."""
    global _hook_registered
    plan = getattr(df, "_plan", None)
    if plan is None or getattr(plan, "_relation_id", None) is None:
        return  # a classic DataFrame: the JVM's cleaner frees the checkpoint
    with _lock:
        _relations.add(plan)
        if not _hook_registered:
            # Registered after the Connect client's own exit hook, so it runs first
            # (atexit runs last-in first-out) while the client is still open.
            atexit.register(release_cached_relations)
            _hook_registered = True


def release_cached_relations() -> int:
    """Release every Spark Connect relation the library created that is still alive.

    Each release is the request pyspark's finaliser would send, made now, while the
    interpreter can still start the threads gRPC needs; the finaliser is then disarmed
    so that it sends nothing at shutdown. DataFrames that use a released relation can no
    longer be evaluated, so this runs at interpreter exit (it is safe to call earlier
    only when those DataFrames are no longer needed).

    Returns
    -------
    int
        How many relations were released.

    """
    with _lock:
        plans = list(_relations)
        _relations.clear()
    released = 0
    for plan in plans:
        if getattr(plan, "_relation_id", None) is None:
            continue
        try:
            plan.__del__()  # pyspark's own release: skipped when the session is closed
            released += 1
        except Exception as error:  # a release is best effort, as in the finaliser
            logger.debug("spark_smote: releasing a cached relation failed: %s", error)
        finally:
            plan._relation_id = None
    return released
