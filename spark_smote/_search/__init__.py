"""Phase 4, the neighbour search: the k nearest same-class rows of every minority row.

input -> features -> strategy -> plan -> keys -> **neighbour search** -> synthesis -> output

One entry point, :func:`find_neighbors`, takes the points table of
:mod:`spark_smote._keys` and the search part of the run's plan
(:class:`spark_smote._plan.SearchPlan`) and returns the neighbours table of
:mod:`spark_smote._search.table`, or, with a :class:`StepInSearch`, what a later
phase's step makes of each class in the search's own tasks. Per class the plan
chooses one path; all give bounded UDF groups whatever the skew, collect no data rows
on the driver, and use DataFrame calls and Arrow UDFs only (Spark Connect safe):

- :mod:`~spark_smote._search.exact`: blocked all-pairs search (ground truth);
- :mod:`~spark_smote._search.whole_class`: LSH, each task holding its class;
- :mod:`~spark_smote._search.per_table`: LSH over per-table copies sorted by Spark.

The cross-class question (the k nearest rows among all rows of all classes, with
their labels: Borderline-SMOTE, ADASYN and the cleaners) has its own entry point,
:func:`spark_smote._search.cross.cross_class_neighbors`, exact
(:mod:`~spark_smote._search.cross_exact`) or by LSH
(:mod:`~spark_smote._search.cross_lsh`), over the numpy kernels of
:mod:`~spark_smote._search.cross_kernels`.

Both LSH paths find the same neighbours, bit for bit, with parameters tuned per class
from a seeded sample (:mod:`~spark_smote._search.tuning`,
:mod:`~spark_smote._search.tuning_rules`); the measured sample recall is reported. The
numpy work is in :mod:`~spark_smote._search.kernels` and
:mod:`~spark_smote._search.hashing`, which import no Spark.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_smote._keys import CLASS, IDX
from spark_smote._plan import SearchPlan, plan_search
from spark_smote._search.exact import exact_neighbors
from spark_smote._search.per_table import search_per_table
from spark_smote._search.table import NBR, NeighborReport, neighbor_table_columns, of_classes
from spark_smote._search.tuning import (
    lsh_report,
    sample_exact_neighbors,
    sample_indices,
    statistics_for_numbering,
    tune_classes,
)
from spark_smote._search.tuning_rules import KNN_DISTANCES, KNN_INDICES, RANKS, LSHParams
from spark_smote._search.whole_class import SearchTaskStep, search_whole_classes

__all__ = [
    "NBR",
    "LSHParams",
    "NeighborReport",
    "SearchTaskStep",
    "StepInSearch",
    "exact_neighbors",
    "find_neighbors",
    "lsh_neighbors",
    "sample_exact_neighbors",
    "sample_indices",
    "statistics_for_numbering",
]


@dataclass(frozen=True)
class StepInSearch:
    """A later phase's step, run by the whole-class search's tasks on their answers.

    Attributes
    ----------
    step : SearchTaskStep
        Called once per (class, task) with the class and the neighbours the task found.
    schema : StructType
        The schema of the batches ``step`` returns.

    """

    step: SearchTaskStep
    schema: T.StructType


def find_neighbors(
    points: DataFrame,
    plan: SearchPlan,
    k: int,
    dimension: int,
    seed: int,
    *,
    lsh_params: LSHParams | None = None,
    step: StepInSearch | None = None,
) -> tuple[DataFrame, NeighborReport]:
    """The k nearest same-class neighbours of every point, by the plan's paths.

    Parameters
    ----------
    points : DataFrame
        The points table (see :mod:`spark_smote._keys`); read several times, so pass a
        materialised one.
    plan : SearchPlan
        Which path each class takes (:func:`spark_smote._plan.plan_search`).
    k : int
        Neighbours per row; every class must have more than k rows.
    dimension : int
        Values per row compared (features and encoded categories).
    seed : int
        The run's seed; LSH hash functions and tuning samples derive from it.
    lsh_params : LSHParams, optional
        Overrides of the LSH search; unset fields are tuned per class.
    step : StepInSearch, optional
        Run this step in the search's tasks and return its rows instead of the
        neighbours table; every class must be searched whole.

    Returns
    -------
    (DataFrame, NeighborReport)
        The neighbours table (or ``step``'s rows) and, per class, the method and its
        parameters: for LSH ``bucket_width``, ``hashes_per_table``, ``tables``,
        ``bucket_cap``, ``estimated_recall`` (measured on the tuning sample, -1 when
        not tuned), ``recall_by_tables``, ``kth_distance_median``, ``sample_size``;
        for exact ``block_rows`` and ``blocks``.

    Raises
    ------
    InvalidParameterError
        Invalid ``lsh_params``.

    Notes
    -----
    Tuning runs small Spark jobs at call time; the returned DataFrame is lazy.

    """
    if step is not None:
        return _search_with_step(points, plan, k, dimension, seed, step, lsh_params)
    exact = plan.sizes_of(plan.exact_classes)
    lsh = plan.sizes_of(plan.lsh_classes)
    if not lsh:
        return exact_neighbors(points, exact, k, dimension, plan.exact_block_rows)
    if not exact:
        return lsh_neighbors(points, lsh, k, dimension, seed, params=lsh_params, plan=plan)
    exact_part, exact_report = exact_neighbors(
        points.filter(F.col(CLASS).isin(list(exact))), exact, k, dimension, plan.exact_block_rows
    )
    lsh_part, lsh_search = lsh_neighbors(
        points.filter(F.col(CLASS).isin(list(lsh))),
        lsh,
        k,
        dimension,
        seed,
        params=lsh_params,
        plan=plan,
    )
    report = NeighborReport(
        method={**exact_report.method, **lsh_search.method},
        parameters={**exact_report.parameters, **lsh_search.parameters},
    )
    return exact_part.unionByName(lsh_part), report


def lsh_neighbors(
    points: DataFrame,
    sizes: Mapping[int, int],
    k: int,
    dimension: int,
    seed: int,
    *,
    params: LSHParams | None = None,
    plan: SearchPlan | None = None,
) -> tuple[DataFrame, NeighborReport]:
    """Approximate k nearest neighbours within each class of ``sizes`` by LSH.

    Parameters as for :func:`find_neighbors`; ``plan`` (default: the plan of
    ``neighbor_search='lsh'`` for these sizes) says which classes are searched whole
    and which are tuned in one task. Returns the neighbours table and the report.
    """
    params = (params or LSHParams()).checked(k)
    plan = plan or plan_search(sizes, k, dimension, "lsh")
    whole = {o: n for o, n in sizes.items() if o in plan.whole_classes}
    split = {o: n for o, n in sizes.items() if o not in whole}
    found, tunings, hashes = [], {}, {}
    for subset, is_whole in ((whole, True), (split, False)):
        if not subset:
            continue
        rows = of_classes(points, subset, sizes)
        tuned, drawn = tune_classes(
            rows, subset, k, dimension, seed, params, one_task=plan.one_task_tuning
        )
        tunings.update(tuned)
        hashes.update(drawn)
        if is_whole:
            found.append(
                search_whole_classes(
                    rows, subset, tuned, drawn, k, dimension, max_parts=plan.max_tasks_per_class
                )
            )
        else:
            found.append(
                search_per_table(
                    rows,
                    subset,
                    tuned,
                    drawn,
                    k,
                    dimension,
                    broadcast_rows=plan.broadcast_row_lookup,
                )
            )
    complete = F.when(
        F.size(NBR) < F.lit(k),
        F.raise_error(
            F.concat(
                F.lit("spark_smote LSH: a row of class ordinal "),
                F.col(CLASS).cast("string"),
                F.lit(
                    f" got fewer than k_neighbors={k} neighbours; this is a bug, please report it."
                ),
            )
        ),
    ).otherwise(F.col(NBR))
    carried = neighbor_table_columns(points)
    neighbors = found[0] if len(found) == 1 else found[0].unionByName(found[1])
    neighbors = neighbors.select(
        CLASS, IDX, *carried, complete.cast(T.ArrayType(T.LongType())).alias(NBR)
    )
    return neighbors, lsh_report(tunings, sizes, k, params)


def _search_with_step(
    points: DataFrame,
    plan: SearchPlan,
    k: int,
    dimension: int,
    seed: int,
    step: StepInSearch,
    lsh_params: LSHParams | None,
) -> tuple[DataFrame, NeighborReport]:
    """Search every class whole, each task handing its answers to ``step``."""
    params = (lsh_params or LSHParams()).checked(k)
    sizes = dict(plan.class_sizes)
    if plan.whole_classes != set(sizes):
        raise ValueError("find_neighbors: a step in the search needs every class searched whole")
    tunings, hashes = tune_classes(
        points,
        sizes,
        k,
        dimension,
        seed,
        params,
        one_task=plan.one_task_tuning,
        statistics_on_points=plan.statistics_on_points,
    )
    if plan.statistics_on_points:
        points = points.drop(KNN_DISTANCES, KNN_INDICES, RANKS)
    found = search_whole_classes(
        points,
        sizes,
        tunings,
        hashes,
        k,
        dimension,
        step=step.step,
        step_schema=step.schema,
        min_parts=plan.min_tasks_per_class,
        max_parts=plan.max_tasks_per_class,
    )
    return found, lsh_report(tunings, sizes, k, params)
