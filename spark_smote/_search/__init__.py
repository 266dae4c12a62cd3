"""Phase 4, the neighbour search: the k nearest rows of query rows among reference rows.

input -> features -> strategy -> plan -> keys -> **neighbour search** -> synthesis -> output

One entry point, :func:`nearest_neighbors`, takes the points table of
:mod:`spark_smote._keys` and the search's plan (:class:`spark_smote._plan.SearchPlan`,
made by :func:`spark_smote._plan.plan_search` from the sizes and ``neighbor_search``).
The plan says the query classes, the reference their neighbours are looked up in, and
the method of each class:

- reference 'own', the other rows of the query's class (SMOTE, and the
  interpolation partners of Borderline-SMOTE and ADASYN). The result is the
  neighbours table of :mod:`spark_smote._search.table`, or, with a
  :class:`StepInSearch`, what a later phase's step makes of each class in the
  search's own tasks. Per class the plan chooses one path:

  - :mod:`~spark_smote._search.exact`: blocked all-pairs search (ground truth);
  - :mod:`~spark_smote._search.whole_class`: LSH, each task holding its class, or
    one spatial cell of a class too large for a task (:mod:`~spark_smote._search.cells`);
  - :mod:`~spark_smote._search.per_table`: LSH over per-table copies sorted by Spark
    (classes too large to cut into cells, and any when the whole-class search is off).

- reference 'all', every row of every class, with the neighbours' classes
  (Borderline-SMOTE's danger set, ADASYN's ratios, the cleaners): one method for
  every query class (:mod:`~spark_smote._search.cross`), exact
  (:mod:`~spark_smote._search.cross_exact`) or by LSH
  (:mod:`~spark_smote._search.cross_lsh`), over the numpy kernels of
  :mod:`~spark_smote._search.cross_kernels`. The result is the cross neighbours table.

Every path gives bounded UDF groups whatever the skew, collects no data rows on the
driver, and uses DataFrame calls and Arrow UDFs only (Spark Connect safe). The LSH
paths tune their parameters from a seeded sample (:mod:`~spark_smote._search.tuning`,
:mod:`~spark_smote._search.tuning_rules`) and report the recall measured on it; the
two same-class LSH paths find the same neighbours, bit for bit. The numpy work is in
:mod:`~spark_smote._search.kernels` and :mod:`~spark_smote._search.hashing`, which
import no Spark.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_smote._keys import CLASS, IDX
from spark_smote._plan import SearchPlan
from spark_smote._search.cross import search_all_classes
from spark_smote._search.cross_exact import DIST, NBR_CLASS
from spark_smote._search.cross_lsh import CrossLSHParams
from spark_smote._search.exact import exact_neighbors
from spark_smote._search.per_table import search_per_table
from spark_smote._search.table import (
    NBR,
    CrossReport,
    NeighborReport,
    neighbor_table_columns,
    of_classes,
)
from spark_smote._search.tuning import (
    lsh_report,
    sample_exact_neighbors,
    sample_indices,
    statistics_for_numbering,
    tune_classes,
)
from spark_smote._search.tuning_rules import (
    KNN_DISTANCES,
    KNN_INDICES,
    RANKS,
    LSHParams,
    TunedClasses,
)
from spark_smote._search.whole_class import SearchTaskRows, SearchTaskStep, search_whole_classes

__all__ = [
    "DIST",
    "NBR",
    "NBR_CLASS",
    "CellsDoNotFitError",
    "CrossLSHParams",
    "CrossReport",
    "LSHParams",
    "NeighborReport",
    "SearchTaskRows",
    "SearchTaskStep",
    "StepInSearch",
    "nearest_neighbors",
    "sample_exact_neighbors",
    "sample_indices",
    "statistics_for_numbering",
]


class CellsDoNotFitError(RuntimeError):
    """A class the plan cuts into cells cannot be: no step can run in its search.

    Raised by :func:`nearest_neighbors` with a step, after the tuning and before any
    search job; the caller searches without the step (the class then goes per table).
    """

    def __init__(self, classes: set[int]) -> None:
        super().__init__(f"class ordinals {sorted(classes)} cannot be cut into cells")
        self.classes = classes


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


def nearest_neighbors(
    points: DataFrame,
    plan: SearchPlan,
    k: int,
    dimension: int,
    seed: int,
    *,
    lsh_params: LSHParams | CrossLSHParams | None = None,
    step: StepInSearch | None = None,
) -> tuple[DataFrame, NeighborReport]:
    """The k nearest rows of every row of the plan's query classes, as the plan says.

    Parameters
    ----------
    points : DataFrame
        The points table (see :mod:`spark_smote._keys`): of the query classes, or of
        every class when the plan's reference is 'all'. Read several times, so pass a
        materialised one.
    plan : SearchPlan
        The query classes, the reference and each class's method
        (:func:`spark_smote._plan.plan_search`).
    k : int
        Neighbours per row; each query needs more than k rows in its reference.
    dimension : int
        Values per row compared (features and encoded categories).
    seed : int
        The run's seed; LSH hash functions and tuning samples derive from it.
    lsh_params : LSHParams or CrossLSHParams, optional
        Overrides of the LSH search (:class:`LSHParams` within each class,
        :class:`CrossLSHParams` among all classes); unset fields are tuned.
    step : StepInSearch, optional
        Run this step in the search's tasks and return its rows instead of the
        neighbours table; every class must be searched whole (reference 'own').

    Returns
    -------
    (DataFrame, NeighborReport)
        Reference 'own': the neighbours table (or ``step``'s rows); reference 'all':
        the cross neighbours table (:mod:`spark_smote._search.cross_exact`). And per
        query class the method and its parameters: for LSH within a class
        ``bucket_width``, ``hashes_per_table``, ``tables``, ``bucket_cap``,
        ``estimated_recall`` (measured on the tuning sample, -1 when not tuned),
        ``recall_by_tables``, ``kth_distance_median``, ``sample_size`` (and for a
        class cut into cells ``cells``, ``cell_halo`` and ``cell_neighbors_kept``, the
        share of the tuning sample's exact neighbours in their query's cell); for exact
        ``block_rows`` and ``blocks``; among all classes the search's parameters,
        and the whole search's :class:`CrossReport` in ``cross``.

    Raises
    ------
    InvalidParameterError
        Invalid ``lsh_params``, before any Spark job.
    TypeError
        ``lsh_params`` of the other reference's kind.
    CellsDoNotFitError
        With ``step``: a class of the plan's cell classes cannot be cut into cells
        that fit (search it without the step).

    Notes
    -----
    LSH tuning runs small Spark jobs at call time; the returned DataFrame is lazy.

    """
    if plan.reference == "all":
        if lsh_params is not None and not isinstance(lsh_params, CrossLSHParams):
            raise TypeError(
                f"lsh_params={lsh_params!r}: a search among all classes takes "
                "CrossLSHParams; pass CrossLSHParams(...) or None."
            )
        found, cross = search_all_classes(points, plan, k, dimension, seed, lsh_params)
        report = NeighborReport(
            method={o: cross.method for o in plan.class_sizes},
            parameters={o: cross.parameters for o in plan.class_sizes},
            cross=cross,
        )
        return found, report
    if isinstance(lsh_params, CrossLSHParams):
        raise TypeError(
            f"lsh_params={lsh_params!r}: a search within each class takes LSHParams; "
            "pass LSHParams(...) or None."
        )
    params = (lsh_params or LSHParams()).checked(k)
    if step is not None:
        return _search_with_step(points, plan, k, dimension, seed, step, params)
    exact = plan.sizes_of(plan.exact_classes)
    lsh = plan.sizes_of(plan.lsh_classes)
    if not lsh:
        return exact_neighbors(points, exact, k, dimension, plan.exact_block_rows)
    if not exact:
        return _lsh_within_classes(points, plan, k, dimension, seed, params)
    exact_part, exact_report = exact_neighbors(
        points.filter(F.col(CLASS).isin(list(exact))), exact, k, dimension, plan.exact_block_rows
    )
    lsh_part, lsh_search = _lsh_within_classes(
        points.filter(F.col(CLASS).isin(list(lsh))), plan, k, dimension, seed, params
    )
    report = NeighborReport(
        method={**exact_report.method, **lsh_search.method},
        parameters={**exact_report.parameters, **lsh_search.parameters},
    )
    return exact_part.unionByName(lsh_part), report


def _lsh_within_classes(
    points: DataFrame, plan: SearchPlan, k: int, dimension: int, seed: int, params: LSHParams
) -> tuple[DataFrame, NeighborReport]:
    """The plan's LSH classes, each searched within itself: whole or per table.

    A class of the plan's cell classes that cannot be cut into cells that fit (rows
    concentrated along its main direction, identical rows at worst) is searched per
    table, with the same tuning.
    """
    sizes = plan.sizes_of(plan.lsh_classes)
    whole = {o: n for o, n in sizes.items() if o in plan.whole_classes}
    split = {o: n for o, n in sizes.items() if o not in whole}
    found: list[DataFrame] = []
    tuned_parts: list[TunedClasses] = []
    for subset in (whole, split):
        if not subset:
            continue
        tuned = _tuned(of_classes(points, subset, sizes), subset, plan, k, dimension, seed, params)
        tuned_parts.append(tuned)
        uncut = uncut_classes(plan, tuned)
        held = [o for o in subset if subset is whole and o not in uncut]
        if held:
            found.append(
                search_whole_classes(
                    of_classes(points, held, sizes),
                    tuned.of(held),
                    k,
                    dimension,
                    max_parts=plan.max_tasks_per_class,
                )
            )
        if len(held) < len(subset):
            per_table = [o for o in subset if o not in held]
            found.append(
                search_per_table(
                    of_classes(points, per_table, sizes),
                    tuned.of(per_table),
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
    neighbors = found[0]
    for more in found[1:]:
        neighbors = neighbors.unionByName(more)
    neighbors = neighbors.select(
        CLASS, IDX, *carried, complete.cast(T.ArrayType(T.LongType())).alias(NBR)
    )
    every = TunedClasses(
        sizes,
        {o: t for part in tuned_parts for o, t in part.tunings.items()},
        {o: h for part in tuned_parts for o, h in part.hashes.items()},
        {o: c for part in tuned_parts for o, c in part.cells.items()},
    )
    return neighbors, lsh_report(every, k, params)


def _tuned(
    points: DataFrame,
    sizes: dict[int, int],
    plan: SearchPlan,
    k: int,
    dimension: int,
    seed: int,
    params: LSHParams,
) -> TunedClasses:
    """:func:`tune_classes` of ``sizes``' classes, as the plan says to tune them."""
    return tune_classes(
        points,
        sizes,
        k,
        dimension,
        seed,
        params,
        one_task=plan.one_task_tuning,
        statistics_on_points=plan.statistics_on_points,
        cell_classes=plan.cell_classes,
        cell_bytes=plan.cell_bytes,
    )


def uncut_classes(plan: SearchPlan, tuned: TunedClasses) -> set[int]:
    """The plan's cell classes of ``tuned`` whose cells do not fit: searched per table."""
    return {o for o in tuned.sizes if o in plan.cell_classes and o not in tuned.cells}


def _search_with_step(
    points: DataFrame,
    plan: SearchPlan,
    k: int,
    dimension: int,
    seed: int,
    step: StepInSearch,
    params: LSHParams,
) -> tuple[DataFrame, NeighborReport]:
    """Search every class whole, each task handing its answers to ``step``."""
    sizes = dict(plan.class_sizes)
    if plan.whole_classes != set(sizes):
        raise ValueError(
            "nearest_neighbors: a step in the search needs every class searched whole "
            f"(plan.whole_classes={sorted(plan.whole_classes)} of {sorted(sizes)})"
        )
    tuned = _tuned(points, sizes, plan, k, dimension, seed, params)
    uncut = uncut_classes(plan, tuned)
    if uncut:
        raise CellsDoNotFitError(uncut)
    if plan.statistics_on_points:
        points = points.drop(KNN_DISTANCES, KNN_INDICES, RANKS)
    found = search_whole_classes(
        points,
        tuned,
        k,
        dimension,
        step=step.step,
        step_schema=step.schema,
        min_parts=plan.min_tasks_per_class,
        max_parts=plan.max_tasks_per_class,
    )
    return found, lsh_report(tuned, k, params)
