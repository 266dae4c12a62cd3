"""Exact cross-class neighbour search: blocked all-pairs over all rows of all classes.

Phase 4 (neighbour engine), between the keys phase (the points table of
:mod:`spark_smote._keys`, here holding every class) and the samplers that need each
query row's nearest rows of any class (Borderline-SMOTE, ADASYN, ENN, Tomek links).

The query rows are numbered densely and cut into query blocks of B rows; all rows are
numbered (classes in ordinal order) and cut into reference blocks of B rows. Each
(query block, reference block) pair is one group handed to an Arrow UDF, which keeps
each query's k best references (:func:`~spark_smote._search.cross_kernels.block_top_k`);
a query's lists from the reference blocks are then merged with Spark's array functions.
No group holds more than 2B rows, whatever the data or its skew. Also used, with a
seeded sample as the queries, as the ground truth the LSH tuning measures recall
against.

Output (the *cross neighbours* table), one row per query::

    _smote_class      int            the query's class ordinal
    _smote_idx        long           its index in its class
    _smote_nbr_class  array<int>     the k nearest rows' class ordinals
    _smote_nbr        array<long>    their indices in their classes
    _smote_dist       array<double>  their Euclidean distances

nearest first, ties by (class, index); the query itself never, exact duplicates of it
at distance 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from spark_smote._keys import CLASS, IDX, X
from spark_smote._search.cross_kernels import (
    PAD,
    block_top_k,
    list_column,
    matrix_from_list_column,
)

__all__ = [
    "DIST",
    "EXACT_BLOCK_ROWS",
    "NBR",
    "NBR_CLASS",
    "candidate_schema",
    "class_position",
    "exact_cross_neighbors",
    "merge_lists",
    "sample_condition",
    "sample_cross_neighbors",
]

NBR_CLASS = "_smote_nbr_class"
NBR = "_smote_nbr"
DIST = "_smote_dist"
_ROLE = "_smote_role"
_QBLOCK = "_smote_qblock"
_RBLOCK = "_smote_rblock"
_ROLE_QUERY = 0
_ROLE_REFERENCE = 1

# Rows per block: a group holds at most two blocks, and its distances (B x B float64)
# take 8 MB.
EXACT_BLOCK_ROWS = 1024


def candidate_schema() -> T.StructType:
    """Schema of a list of candidates per query: the cross neighbours table's."""
    return T.StructType(
        [
            T.StructField(CLASS, T.IntegerType()),
            T.StructField(IDX, T.LongType()),
            T.StructField(NBR_CLASS, T.ArrayType(T.IntegerType())),
            T.StructField(NBR, T.ArrayType(T.LongType())),
            T.StructField(DIST, T.ArrayType(T.DoubleType())),
        ]
    )


def class_position(offsets: Mapping[int, int]) -> Column:
    """A row's place in a numbering of several classes: its class's offset plus its index.

    ``offsets`` gives each class ordinal's first position; rows of other classes get
    null.
    """
    cases = " ".join(f"WHEN {int(o)} THEN {int(first)}" for o, first in sorted(offsets.items()))
    return F.expr(f"CASE {CLASS} {cases} END") + F.col(IDX)


def _offsets(sizes: Mapping[int, int]) -> dict[int, int]:
    """First position of each class when the classes are numbered in ordinal order."""
    first, offsets = 0, {}
    for ordinal in sorted(sizes):
        offsets[ordinal] = first
        first += sizes[ordinal]
    return offsets


def _top_k_udf(k: int, dimension: int, output_schema: pa.Schema) -> Callable[[pa.Table], pa.Table]:
    """Build the Arrow UDF of one (query block, reference block) group."""

    def top_k_of_block_pair(group: pa.Table) -> pa.Table:
        roles = group.column(_ROLE).to_numpy()
        classes = group.column(CLASS).to_numpy()
        idx = group.column(IDX).to_numpy()
        x = matrix_from_list_column(group.column(X), dimension).astype("float64", copy=False)
        query, ref = roles == _ROLE_QUERY, roles == _ROLE_REFERENCE
        nbr_class, nbr, dist = block_top_k(
            classes[query], idx[query], x[query], classes[ref], idx[ref], x[ref], k
        )
        columns = {
            CLASS: pa.array(classes[query], pa.int32()),
            IDX: pa.array(idx[query], pa.int64()),
            NBR_CLASS: list_column(nbr_class, pa.int32()),
            NBR: list_column(nbr, pa.int64()),
            DIST: list_column(dist, pa.float64()),
        }
        return pa.table([columns[name] for name in output_schema.names], schema=output_schema)

    return top_k_of_block_pair


def merge_lists(candidates: DataFrame, k: int, keys: list[str] | None = None) -> DataFrame:
    """Merge each query's candidate lists into its k best distinct neighbours (one shuffle).

    ``candidates`` has the columns of :func:`candidate_schema` (plus ``keys`` beyond
    class and index, if given), several rows per query. Empty slots (``PAD``) are
    dropped; a candidate in several lists has the same distance in each and counts
    once; the struct sort orders by (distance, class, index), as the kernels do.
    """
    group = [CLASS, IDX, *(keys or [])]
    zipped = F.arrays_zip(
        F.col(DIST).alias("d"), F.col(NBR_CLASS).alias("c"), F.col(NBR).alias("i")
    )
    pooled = F.flatten(F.collect_list(zipped))
    found = F.filter(pooled, lambda s: s["i"] != F.lit(PAD))
    best = F.slice(F.array_sort(F.array_distinct(found)), 1, k)
    return (
        candidates.groupBy(*group)
        .agg(best.alias("_smote_best"))
        .select(
            *group,
            F.transform("_smote_best", lambda s: s["c"]).alias(NBR_CLASS),
            F.transform("_smote_best", lambda s: s["i"]).alias(NBR),
            F.transform("_smote_best", lambda s: s["d"]).alias(DIST),
        )
    )


def exact_cross_neighbors(
    points: DataFrame,
    *,
    sizes: Mapping[int, int],
    k: int,
    dimension: int,
    query: Column,
    query_block: Column,
    query_blocks: int,
    block_rows: int = EXACT_BLOCK_ROWS,
) -> DataFrame:
    """Exact k nearest rows of all classes for the query rows.

    Parameters
    ----------
    points : DataFrame
        The points table of every class (class, index, features).
    sizes : mapping
        Rows per class ordinal, every class of ``points``.
    k : int
        Neighbours per query, at most the total rows minus one.
    dimension : int
        Features per row.
    query : Column
        Boolean: whether a row is a query.
    query_block : Column
        A query row's block, in ``0 .. query_blocks - 1``, each block at most
        ``block_rows`` queries (see :func:`spark_smote._search.cross.search_all_classes`).
    query_blocks : int
        Number of query blocks.
    block_rows : int
        Rows per reference block.

    Returns
    -------
    DataFrame
        The cross neighbours table (module docstring), lazy.

    Notes
    -----
    Work is O(queries x rows x d). Shuffles: one of the block-pair copies (each query
    once per reference block, each reference once per query block), and one merging
    the lists of a query when there is more than one reference block.

    """
    ref_blocks = max(1, -(-sum(sizes.values()) // block_rows))
    ref_block = F.floor(class_position(_offsets(sizes)) / F.lit(block_rows)).cast("long")
    references = points.select(
        CLASS,
        IDX,
        X,
        F.explode(F.sequence(F.lit(0).cast("long"), F.lit(query_blocks - 1).cast("long"))).alias(
            _QBLOCK
        ),
        ref_block.alias(_RBLOCK),
        F.lit(_ROLE_REFERENCE).alias(_ROLE),
    )
    queries = points.where(query).select(
        CLASS,
        IDX,
        X,
        query_block.cast("long").alias(_QBLOCK),
        F.explode(F.sequence(F.lit(0).cast("long"), F.lit(ref_blocks - 1).cast("long"))).alias(
            _RBLOCK
        ),
        F.lit(_ROLE_QUERY).alias(_ROLE),
    )
    schema = candidate_schema()
    udf = _top_k_udf(k, dimension, to_arrow_schema(schema))
    candidates = queries.unionByName(references).groupBy(_QBLOCK, _RBLOCK).applyInArrow(udf, schema)
    if ref_blocks == 1:
        return candidates
    return merge_lists(candidates, k)


def sample_condition(sample: Mapping[int, Sequence[int]]) -> Column:
    """Whether a row is in ``sample`` (class ordinal -> indices), as one SQL expression."""
    terms = [
        f"({CLASS} = {int(o)} AND {IDX} IN ({', '.join(str(int(i)) for i in rows)}))"
        for o, rows in sorted(sample.items())
        if rows
    ]
    return F.expr(" OR ".join(terms)) if terms else F.lit(False)


def sample_cross_neighbors(
    points: DataFrame,
    sample: Mapping[int, Sequence[int]],
    *,
    sizes: Mapping[int, int],
    k: int,
    dimension: int,
) -> DataFrame:
    """The exact cross neighbours of a seeded sample of rows, in one query block.

    The ground truth the LSH search's recall and the samplers' agreement with exact
    search are measured against; arguments as for :func:`exact_cross_neighbors`.
    """
    query = sample_condition(sample)
    return exact_cross_neighbors(
        points,
        sizes=sizes,
        k=k,
        dimension=dimension,
        query=query,
        query_block=F.lit(0),
        query_blocks=1,
    )
