"""The search among all classes: exact or LSH as the plan says, and its report.

Phase 4 (neighbour engine), behind :func:`spark_smote._search.nearest_neighbors` when
the plan's reference is 'all' (:func:`spark_smote._plan.plan_search`): for the samplers
that need each query row's nearest rows among all rows of all classes, with the
neighbours' classes (Borderline-SMOTE's danger set and borderline-2's neighbours,
ADASYN's ratios, ENN and Tomek links). Input is the points table of every class
(:mod:`spark_smote._keys`); output the cross neighbours table
(:mod:`spark_smote._search.cross_exact`), by exact search or by LSH
(:mod:`spark_smote._search.cross_lsh`).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_smote._keys import CLASS
from spark_smote._plan import SearchPlan
from spark_smote._search.cross_exact import class_position, exact_cross_neighbors
from spark_smote._search.cross_lsh import CrossLSHParams, lsh_cross_neighbors
from spark_smote._search.table import CrossReport

__all__ = ["search_all_classes"]


def search_all_classes(
    points: DataFrame,
    plan: SearchPlan,
    k: int,
    dimension: int,
    seed: int,
    params: CrossLSHParams | None,
) -> tuple[DataFrame, CrossReport]:
    """The k nearest rows among all rows of all classes, for each row of a query class.

    Parameters as for :func:`spark_smote._search.nearest_neighbors`, with a plan of
    ``reference='all'``; ``params`` (default: everything tuned) are checked against
    ``k`` before any Spark job when LSH runs.

    Returns
    -------
    (DataFrame, CrossReport)
        One row per query: ``_smote_class``, ``_smote_idx``, ``_smote_nbr_class``
        (array<int>, k), ``_smote_nbr`` (array<long>, k, the neighbours'
        ``_smote_idx``), ``_smote_dist`` (array<double>, k, Euclidean), nearest first,
        ties by (neighbour class, neighbour index); the row itself never, its exact
        duplicates at distance 0. Lazy. And what was done.

    Notes
    -----
    Distances are ``sqrt`` of the sum of squared differences in float64 in both methods,
    so they agree bit for bit on the neighbours they share. The LSH path runs its tuning
    jobs (statistics only) before returning.

    """
    sizes, query_sizes = plan.reference_sizes, plan.class_sizes
    rows, queries = sum(sizes.values()), sum(query_sizes.values())
    every_row = len(query_sizes) == len(sizes)
    query = F.lit(True) if every_row else F.col(CLASS).isin(sorted(query_sizes))
    if plan.exact_classes:
        block_rows = plan.exact_block_rows
        offsets, first = {}, 0
        for ordinal in sorted(query_sizes):
            offsets[ordinal] = first
            first += query_sizes[ordinal]
        query_blocks = -(-queries // block_rows)
        result = exact_cross_neighbors(
            points,
            sizes=sizes,
            k=k,
            dimension=dimension,
            query=query,
            query_block=F.floor(class_position(offsets) / F.lit(block_rows)),
            query_blocks=query_blocks,
            block_rows=block_rows,
        )
        method, recall, recall_sample = "exact", None, 0
        parameters = {
            "block_rows": block_rows,
            "query_blocks": query_blocks,
            "reference_blocks": -(-rows // block_rows),
        }
    else:
        checked = (params or CrossLSHParams()).checked(k)
        result, tuning = lsh_cross_neighbors(
            points, plan, query=query, k=k, dimension=dimension, seed=seed, params=checked
        )
        method, recall, recall_sample = "lsh", tuning.recall, tuning.sample_queries
        parameters = tuning.as_dict()
    report = CrossReport(method, plan.reason, k, queries, rows, parameters, recall, recall_sample)
    return result, report
