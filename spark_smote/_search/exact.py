"""Exact k nearest neighbours within each class, by blocked all-pairs search.

Part of the neighbour search (phase 4, :mod:`spark_smote._search`): the ground truth
for tests and the default for small classes. A class of n rows is cut into blocks of B
consecutive indices; each pair of blocks (query block, reference block) is one group
handed to an Arrow UDF that computes distances with numpy
(:func:`~spark_smote._search.kernels.block_top_k`) and keeps each query's k best; the
per-pair lists are merged per row with Spark's array functions. No group holds more
than 2B rows, whatever the class size or skew.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from spark_smote._arrow import list_column, matrix_from_list_column
from spark_smote._keys import CLASS, ID, IDX, SIZE, X
from spark_smote._search.kernels import block_top_k
from spark_smote._search.table import DIST, NBR, NeighborReport, neighbor_table_columns

__all__ = ["exact_neighbors", "merge_candidates"]

_ROLE = "_smote_role"
_QBLOCK = "_smote_qblock"
_RBLOCK = "_smote_rblock"

ROLE_QUERY = 1
ROLE_REFERENCE = 2
ROLE_BOTH = 3


def _exact_group_udf(
    k: int, dimension: int, output_schema: pa.Schema
) -> Callable[[pa.Table], pa.Table]:
    """Build the Arrow UDF of one (query block, reference block) group."""

    def top_k_of_block_pair(table: pa.Table) -> pa.Table:
        roles = table.column(_ROLE).to_numpy()
        idx = table.column(IDX).to_numpy()
        x = matrix_from_list_column(table.column(X), dimension)
        is_query = roles != ROLE_REFERENCE
        is_ref = roles != ROLE_QUERY
        neighbors, distances = block_top_k(x[is_query], idx[is_query], x[is_ref], idx[is_ref], k)
        queries = table.filter(pa.array(is_query))
        carry = pa.array(roles[is_query] == ROLE_BOTH)
        columns = {
            CLASS: queries.column(CLASS),
            IDX: queries.column(IDX),
            NBR: list_column(neighbors, pa.int64()),
            DIST: list_column(distances, pa.float64()),
        }
        # Features and id travel only with the one copy of a row that is in the diagonal
        # group, so the merge can pick them up without duplicating them.
        for name in (X, ID):
            if name in output_schema.names:
                values = queries.column(name)
                columns[name] = pa.compute.if_else(
                    carry, values, pa.nulls(len(values), values.type)
                )
        return pa.table({name: columns[name] for name in output_schema.names}, schema=output_schema)

    return top_k_of_block_pair


def _block_pairs(points: DataFrame, block_rows: int) -> DataFrame:
    """Copy each point into every (query block, reference block) group it belongs to."""
    block = F.floor(F.col(IDX) / F.lit(block_rows)).cast("long")
    n_blocks = F.ceil(F.col(SIZE) / F.lit(block_rows)).cast("long")
    other = "_smote_other"
    paired = points.withColumn("_smote_block", block).withColumn(
        other, F.explode(F.sequence(F.lit(0).cast("long"), n_blocks - F.lit(1)))
    )
    roles = F.when(F.col(other) == F.col("_smote_block"), F.array(F.lit(ROLE_BOTH))).otherwise(
        F.array(F.lit(ROLE_QUERY), F.lit(ROLE_REFERENCE))
    )
    paired = paired.withColumn(_ROLE, F.explode(roles))
    is_reference = F.col(_ROLE) == F.lit(ROLE_REFERENCE)
    return paired.withColumn(
        _QBLOCK, F.when(is_reference, F.col(other)).otherwise(F.col("_smote_block"))
    ).withColumn(_RBLOCK, F.when(is_reference, F.col("_smote_block")).otherwise(F.col(other)))


def merge_candidates(candidates: DataFrame, k: int, carried: list[str]) -> DataFrame:
    """Merge several partial neighbour lists per row into the k best (one shuffle)."""
    pairs = F.flatten(F.collect_list(F.arrays_zip(F.col(DIST).alias("d"), F.col(NBR).alias("n"))))
    best = F.slice(F.array_sort(F.array_distinct(pairs)), 1, k)
    nearest = F.transform(best, lambda s: s["n"])
    return candidates.groupBy(CLASS, IDX).agg(
        *[F.max(name).alias(name) for name in carried],
        nearest.alias(NBR),
    )


def exact_neighbors(
    points: DataFrame,
    sizes: Mapping[int, int],
    k: int,
    dimension: int,
    block_rows: int,
) -> tuple[DataFrame, NeighborReport]:
    """Exact k nearest neighbours within each class, by blocked all-pairs search.

    Parameters
    ----------
    points : DataFrame
        The points table (see :mod:`spark_smote._keys`).
    sizes : mapping
        Rows per class ordinal.
    k : int
        Neighbours per row; every class must have more than k rows.
    dimension : int
        Features per row.
    block_rows : int
        Rows per block (:attr:`spark_smote._plan.SearchPlan.exact_block_rows`).

    Returns
    -------
    (DataFrame, NeighborReport)
        The neighbours table (module docstring) and what was done.

    Notes
    -----
    Work is O(n^2 d) per class; shuffles: one of ``n * n_blocks`` copies of the rows
    into block-pair groups, and one merging ``n_blocks`` partial lists per row when a
    class has more than one block.

    """
    carried = neighbor_table_columns(points)
    fields = [
        T.StructField(CLASS, T.IntegerType()),
        T.StructField(IDX, T.LongType()),
        T.StructField(NBR, T.ArrayType(T.LongType())),
        T.StructField(DIST, T.ArrayType(T.DoubleType())),
    ]
    point_fields = {f.name: f for f in points.schema.fields}
    fields += [T.StructField(name, point_fields[name].dataType, True) for name in carried]
    schema = T.StructType(fields)
    udf = _exact_group_udf(k, dimension, to_arrow_schema(schema))
    candidates = (
        _block_pairs(points, block_rows).groupBy(_QBLOCK, _RBLOCK, CLASS).applyInArrow(udf, schema)
    )
    report = NeighborReport()
    for ordinal, size in sizes.items():
        report.method[ordinal] = "exact"
        report.parameters[ordinal] = {"block_rows": block_rows, "blocks": -(-size // block_rows)}
    if max(sizes.values(), default=0) <= block_rows:
        return candidates.select(CLASS, IDX, *carried, NBR), report
    return merge_candidates(candidates, k, carried), report
