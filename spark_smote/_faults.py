"""Private test hook: make tasks of chosen phases fail (or stall) on their first attempt.

Used only by the reliability tests (``tests/test_retries.py``,
``tests/test_output_safety.py``) to prove that task retries, failed jobs and killed jobs
never change, duplicate, lose or half-write rows. It is off unless the environment
variable ``SPARK_SMOTE_FAULTS`` is set *on the driver* when the plan is built::

    SPARK_SMOTE_FAULTS="validation,keys,neighbors,synthesis,write"   # or "all"
    SPARK_SMOTE_FAULTS="write:stall"                                 # hang in the write
    SPARK_SMOTE_FAULTS_LOG=/some/folder          # optional: one marker file per fault

Each entry is ``phase`` or ``phase:action`` with action ``fail`` (the default) or
``stall``. For every enabled phase :func:`inject` adds a pass-through filter, a pandas
UDF over batches, at the end of that phase's plan. In a task whose partition id is even
and whose attempt number is 0, the UDF first lets every row through (so downstream
operators of the same stage, the Parquet writer included, have seen them) and then
raises :class:`InjectedFaultError` (``fail``) or sleeps for ten minutes (``stall``, so a
test can kill the job mid-phase). Retries (attempt >= 1) and odd partitions pass
untouched, so with ``local[N,F]`` (F >= 2 attempts per task) a faulty run must give
the clean run's output.

When the variable is unset, :func:`inject` returns its argument unchanged: the hook adds
nothing to the plan and costs nothing. The UDF is built in a factory over plain strings
and uses only ``TaskContext``, so it works in classic and Spark Connect sessions. The
filter is marked non-deterministic so the optimiser keeps it where it was put instead of
pushing it into an earlier phase.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ENV_FAULTS", "ENV_LOG", "PHASES", "InjectedFaultError", "enabled_faults", "inject"]

ENV_FAULTS = "SPARK_SMOTE_FAULTS"
ENV_LOG = "SPARK_SMOTE_FAULTS_LOG"
PHASES = ("validation", "keys", "neighbors", "synthesis", "write")
ACTIONS = ("fail", "stall")
_STALL_SECONDS = 600


class InjectedFaultError(RuntimeError):
    """The failure raised by an injected fault (never raised in normal runs)."""


def enabled_faults(spec: str | None = None) -> dict[str, str]:
    """Parse ``SPARK_SMOTE_FAULTS`` (or ``spec``) into ``{phase: action}``.

    Raises
    ------
    ValueError
        An unknown phase or action, naming the variable and what is accepted.

    """
    text = os.environ.get(ENV_FAULTS, "") if spec is None else spec
    faults: dict[str, str] = {}
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        phase, _, action = entry.partition(":")
        action = action or "fail"
        phases = PHASES if phase == "all" else (phase,)
        if any(p not in PHASES for p in phases) or action not in ACTIONS:
            raise ValueError(
                f"{ENV_FAULTS}={text!r}: entry {entry!r} is not phase[:action] with phase in "
                f"{[*PHASES, 'all']} and action in {list(ACTIONS)}. Unset it for normal runs."
            )
        faults.update(dict.fromkeys(phases, action))
    return faults


def inject(df: DataFrame, phase: str) -> DataFrame:
    """Return ``df``, with a first-attempt fault filter when ``phase`` is enabled.

    Parameters
    ----------
    df : DataFrame
        The result of one phase.
    phase : str
        One of :data:`PHASES`.

    Returns
    -------
    DataFrame
        ``df`` itself when the phase's fault is off (the normal case), else ``df``
        filtered through a pass-through UDF that fails or stalls first attempts.

    """
    action = enabled_faults().get(phase)
    if action is None:
        return df
    log_dir = os.environ.get(ENV_LOG)
    return df.where(_fault_filter(phase, action, log_dir)(F.lit(0)))


def _fault_filter(phase: str, action: str, log_dir: str | None) -> Callable[[Column], Column]:
    """Build the pass-through filter UDF of one phase (closure over plain strings).

    pandas is imported here, not at module level: the hook is off in normal runs, and
    the driver of a normal run does not otherwise need pandas (0.2 s of start-up).
    """
    import pandas as pd

    def keep_all_then_fault(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
        from pyspark import TaskContext

        for batch in batches:
            yield pd.Series(True, index=batch.index)
        context = TaskContext.get()
        if context is None or context.attemptNumber() != 0 or context.partitionId() % 2:
            return
        where = f"{phase}-stage{context.stageId()}-part{context.partitionId()}"
        if log_dir is not None:
            Path(log_dir).mkdir(parents=True, exist_ok=True)
            (Path(log_dir) / f"{action}-{where}").touch()
        if action == "stall":
            time.sleep(_STALL_SECONDS)
        raise InjectedFaultError(f"spark_smote fault injection: {where}, attempt 0 ({ENV_FAULTS})")

    # pandas_udf reads the type hints; the module's postponed annotations are strings
    # naming a module-level ``pd`` that does not exist at run time, so give it objects.
    keep_all_then_fault.__annotations__ = {
        "batches": Iterator[pd.Series],
        "return": Iterator[pd.Series],
    }
    udf = F.pandas_udf(keep_all_then_fault, "boolean")  # type: ignore[call-overload]
    return udf.asNondeterministic()
