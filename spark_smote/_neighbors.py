"""Phase 4: the k nearest same-class neighbours of every minority row.

Input is the points table of :mod:`spark_smote._keys`; output is the *neighbours* table,
one row per point::

    _smote_class, _smote_idx, _smote_x, [_smote_id,]
    _smote_nbr   array<long>    indices of the k nearest other rows of the class,
                                nearest first (ties by index); exact duplicates of the
                                row count as neighbours at distance 0, the row itself never

Exact search (this module) is blocked all-pairs: a class of n rows is cut into blocks
of B consecutive indices; each pair of blocks (query block, reference block) is one
group handed to an Arrow UDF that computes distances with numpy and keeps each query's
k best; the per-pair lists are merged per row with Spark's array functions. No group
holds more than 2B rows, whatever the class size or skew. LSH search
(:mod:`spark_smote._lsh`) produces the same table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_smote._keys import CLASS, ID, IDX, SIZE, X

__all__ = [
    "DIST",
    "NBR",
    "NeighborReport",
    "block_top_k",
    "candidate_distances",
    "exact_neighbors",
    "list_column",
    "matrix_from_list_column",
]

NBR = "_smote_nbr"
DIST = "_smote_dist"
_ROLE = "_smote_role"
_QBLOCK = "_smote_qblock"
_RBLOCK = "_smote_rblock"

ROLE_QUERY = 1
ROLE_REFERENCE = 2
ROLE_BOTH = 3

# Rows per block of the exact search; a UDF group holds at most two blocks.
EXACT_BLOCK_ROWS = 2048
# Candidates kept from the fast (expanded) distances before exact re-ranking.
_RERANK_MARGIN = 8


@dataclass
class NeighborReport:
    """What the neighbour phase did, per class ordinal.

    Attributes
    ----------
    method : dict
        'exact' or 'lsh' per class ordinal.
    parameters : dict
        Method parameters per class ordinal (block size, or LSH width/tables/...).

    """

    method: dict[int, str] = field(default_factory=dict)
    parameters: dict[int, dict[str, Any]] = field(default_factory=dict)


def matrix_from_list_column(column: pa.ChunkedArray | pa.Array, dimension: int) -> np.ndarray:
    """View an Arrow ``list<double>`` column of equal-length rows as an (n, d) matrix."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    values = array.flatten().to_numpy(zero_copy_only=False)
    return values.reshape(len(array), dimension).astype(np.float64, copy=False)


def list_column(matrix: np.ndarray, value_type: pa.DataType) -> pa.ListArray:
    """Turn an (n, m) numpy matrix into an Arrow ``list`` column of n rows of length m."""
    n, m = matrix.shape
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * np.int32(m))
    return pa.ListArray.from_arrays(offsets, pa.array(matrix.reshape(-1), type=value_type))


def block_top_k(
    query_x: np.ndarray,
    query_idx: np.ndarray,
    ref_x: np.ndarray,
    ref_idx: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest references of each query, excluding the query itself.

    Parameters
    ----------
    query_x, ref_x : ndarray of shape (nq, d), (nr, d)
        Feature matrices.
    query_idx, ref_idx : ndarray of int64
        Row indices; a reference with the query's own index is never its neighbour.
    k : int
        Neighbours wanted.

    Returns
    -------
    (neighbors, distances) : ndarray of shape (nq, m), m = min(k, candidates)
        Reference indices, nearest first, ties broken by the smaller index; and their
        squared Euclidean distances. Queries that see their own index among the
        references get one candidate fewer; every row of a result has the same m
        because either all or none of the queries are among the references.

    Notes
    -----
    Distances are first ranked with the fast expansion |q|^2 + |r|^2 - 2 q.r, the best
    k + margin are then recomputed exactly as sum((q - r)^2) and re-ranked, so the
    result does not suffer from the expansion's cancellation on near-identical rows.
    Queries and references are put in index order first and ties in the fast ranking
    go to the smaller index, so the result does not depend on the order the rows
    arrive in (a shuffle delivers a group's rows in any order).

    """
    query_order = np.argsort(query_idx, kind="stable")
    ref_order = np.argsort(ref_idx, kind="stable")
    neighbors, distances = _top_k_in_index_order(
        query_x[query_order], query_idx[query_order], ref_x[ref_order], ref_idx[ref_order], k
    )
    restore = np.empty_like(query_order)
    restore[query_order] = np.arange(len(query_order))
    return neighbors[restore], distances[restore]


def _smallest_first_by_position(values: np.ndarray, keep: int) -> np.ndarray:
    """Column positions of the ``keep`` smallest values per row, ties to the leftmost."""
    kth = np.partition(values, keep - 1, axis=1)[:, keep - 1 : keep]
    below = values < kth
    ties = values == kth
    room = keep - below.sum(axis=1, keepdims=True)
    selected = below | (ties & (np.cumsum(ties, axis=1) <= room))
    return np.nonzero(selected)[1].reshape(len(values), keep)


def candidate_distances(
    query_x: np.ndarray, ref_x: np.ndarray, candidates: np.ndarray
) -> np.ndarray:
    """Exact squared distances from each query to its candidate references.

    Parameters
    ----------
    query_x : ndarray (q, d)
        The queries' features.
    ref_x : ndarray (r, d)
        The references' features.
    candidates : ndarray (q, c) of int
        Positions in ``ref_x`` of each query's candidates.

    Returns
    -------
    ndarray (q, c) of float64
        ``sum((ref - query) ** 2)`` over the features.

    Notes
    -----
    The gathered candidates are overwritten with their differences in place: about
    three times faster than a broadcast subtraction into a new array, same bits
    (``a - b`` is exactly ``-(b - a)``). ``np.take`` gathers them in half the time of
    fancy indexing.

    """
    diff = np.take(ref_x, candidates, axis=0)
    diff -= query_x[:, None, :]
    return np.einsum("ijk,ijk->ij", diff, diff)


def _top_k_in_index_order(
    query_x: np.ndarray,
    query_idx: np.ndarray,
    ref_x: np.ndarray,
    ref_idx: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    n_query, n_ref = len(query_x), len(ref_x)
    _, q_pos, r_pos = np.intersect1d(query_idx, ref_idx, assume_unique=True, return_indices=True)
    if len(q_pos) not in (0, n_query):
        raise ValueError("block_top_k: either all or no queries may be among the references")
    available = n_ref - (1 if len(q_pos) else 0)
    m = min(k, available)
    if n_query == 0 or m <= 0:
        return np.empty((n_query, 0), np.int64), np.empty((n_query, 0), np.float64)
    approx = (
        np.einsum("ij,ij->i", query_x, query_x)[:, None]
        + np.einsum("ij,ij->i", ref_x, ref_x)[None, :]
        - 2.0 * (query_x @ ref_x.T)
    )
    approx[q_pos, r_pos] = np.inf
    keep = min(n_ref, m + _RERANK_MARGIN + (1 if len(q_pos) else 0))
    if keep < n_ref:
        candidates = _smallest_first_by_position(approx, keep)
    else:
        candidates = np.broadcast_to(np.arange(n_ref), (n_query, n_ref))
    exact = candidate_distances(query_x, ref_x, candidates)
    candidate_idx = ref_idx[candidates]
    exact[candidate_idx == query_idx[:, None]] = np.inf
    order = np.lexsort((candidate_idx, exact), axis=1)[:, :m]
    rows = np.arange(n_query)[:, None]
    return candidate_idx[rows, order], exact[rows, order]


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
    *,
    block_rows: int | None = None,
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
    block_rows : int, optional
        Rows per block (default: 2048, fewer for high dimensions).

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
    if block_rows is None:
        block_rows = max(256, min(EXACT_BLOCK_ROWS, 2_000_000 // max(1, dimension * (k + 9))))
    carried = [X, *([ID] if ID in points.schema.names else [])]
    fields = [
        T.StructField(CLASS, T.IntegerType()),
        T.StructField(IDX, T.LongType()),
        T.StructField(NBR, T.ArrayType(T.LongType())),
        T.StructField(DIST, T.ArrayType(T.DoubleType())),
    ]
    point_fields = {f.name: f for f in points.schema.fields}
    fields += [T.StructField(name, point_fields[name].dataType, True) for name in carried]
    schema = T.StructType(fields)
    from pyspark.sql.pandas.types import to_arrow_schema

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
