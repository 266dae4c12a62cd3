"""Exact cross-class neighbour search: blocked all-pairs over all rows of all classes.

Phase 4 (neighbour engine), between the keys phase (the points table of
:mod:`spark_smote._keys`, here holding every class) and the samplers that need each
query row's nearest rows of any class (Borderline-SMOTE, ADASYN, ENN, Tomek links).

The query rows are numbered densely and cut into query blocks of B rows; all rows are
numbered (classes in ordinal order) and cut into reference blocks of B rows. Each
(query block, reference block) pair is one group handed to an Arrow UDF, which keeps
each query's k best references (:func:`~spark_smote._search.cross_kernels.block_top_k`);
a query's lists from the reference blocks are then merged in numpy (:func:`merge_lists`).
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

from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from spark_smote._keys import CLASS, IDX, X
from spark_smote._random import STREAM_SAMPLE, numpy_generator
from spark_smote._search.cross_kernels import (
    PAD,
    block_top_k,
    list_column,
    matrix_from_list_column,
    merge_runs,
)

__all__ = [
    "CROSS_STREAM_KEY",
    "DIST",
    "EXACT_BLOCK_ROWS",
    "NBR",
    "NBR_CLASS",
    "candidate_schema",
    "class_offsets",
    "class_position",
    "exact_cross_neighbors",
    "merge_lists",
    "sample_condition",
    "sample_cross_neighbors",
    "sample_queries",
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
# Reference rows per block of a sample's search (one query block of at most
# EXACT_BLOCK_ROWS rows): a group then holds about 2.5 MB of features for 18 of them,
# and its distances are computed in slices of bounded size (block_top_k), while 16x
# fewer groups cut the per-group cost (shuffle, Arrow, selection) that dominates there.
SAMPLE_REFERENCE_ROWS = 16 * EXACT_BLOCK_ROWS
# The key of the cross-class search's random streams (hash draws, the tuning sample):
# beyond any class ordinal, so no stream of a class's own search is reused.
CROSS_STREAM_KEY = 1 << 31


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


def class_offsets(sizes: Mapping[int, int]) -> dict[int, int]:
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


def merge_lists(candidates: DataFrame, k: int) -> DataFrame:
    """Merge each query's candidate lists into its k best distinct neighbours (one shuffle).

    ``candidates`` has the columns of :func:`candidate_schema`, several rows per query.
    The rows of a query are brought together (hashed by query, sorted by it within each
    task) and merged in numpy (:func:`~spark_smote._search.cross_kernels.merge_runs`):
    empty slots (``PAD``) are dropped, a candidate in several lists counts once (it has
    the same distance in each), the order is (distance, class, index). A task holds one
    Arrow batch and one query's rows at a time, whatever the skew.
    """
    schema = candidate_schema()
    merge = _merge_udf(k, to_arrow_schema(schema))
    return (
        candidates.repartition(CLASS, IDX)
        .sortWithinPartitions(CLASS, IDX)
        .select(*schema.names)
        .mapInArrow(merge, schema)
    )


def _padded(column: pa.Array, fill: float, dtype: str) -> np.ndarray:
    """A list column as an (n, widest) matrix, shorter lists filled with ``fill``."""
    values = column.flatten().to_numpy(zero_copy_only=False)
    offsets = column.offsets.to_numpy()
    lengths = np.diff(offsets)
    width = int(lengths.max()) if len(lengths) else 0
    if len(lengths) and (lengths == width).all():
        return values.reshape(len(lengths), width).astype(dtype, copy=False)
    matrix = np.full((len(lengths), width), fill, dtype)
    matrix[np.arange(width) < lengths[:, None]] = values
    return matrix


def _merge_udf(
    k: int, schema: pa.Schema
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Build the ``mapInArrow`` function merging runs of rows of the same query."""

    def merged(rows: pa.Table) -> pa.RecordBatch:
        rows = rows.combine_chunks()
        classes = rows.column(CLASS).to_numpy()
        idx = rows.column(IDX).to_numpy()
        starts = np.flatnonzero(
            np.concatenate([[True], (classes[1:] != classes[:-1]) | (idx[1:] != idx[:-1])])
        )
        lists = [rows.column(name).chunk(0) for name in (NBR_CLASS, NBR, DIST)]
        nbr_class, nbr, dist = merge_runs(
            starts,
            _padded(lists[0], PAD, "int32"),
            _padded(lists[1], PAD, "int64"),
            _padded(lists[2], np.inf, "float64"),
            k,
        )
        found = nbr != PAD
        offsets = pa.array(np.concatenate([[0], np.cumsum(found.sum(axis=1))]), pa.int32())
        columns = {
            CLASS: pa.array(classes[starts], pa.int32()),
            IDX: pa.array(idx[starts], pa.int64()),
            NBR_CLASS: pa.ListArray.from_arrays(offsets, pa.array(nbr_class[found], pa.int32())),
            NBR: pa.ListArray.from_arrays(offsets, pa.array(nbr[found], pa.int64())),
            DIST: pa.ListArray.from_arrays(offsets, pa.array(dist[found], pa.float64())),
        }
        return pa.RecordBatch.from_arrays([columns[f] for f in schema.names], schema=schema)

    def merge(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        pending: pa.Table | None = None
        for batch in batches:
            if batch.num_rows == 0:
                continue
            rows = pa.Table.from_batches([batch])
            if pending is not None:
                rows = pa.concat_tables([pending, rows])
            classes = rows.column(CLASS).to_numpy()
            idx = rows.column(IDX).to_numpy()
            # The last query's run may go on in the next batch: hold it back.
            last = np.flatnonzero((classes != classes[-1]) | (idx != idx[-1]))
            cut = int(last[-1]) + 1 if len(last) else 0
            if cut:
                yield merged(rows.slice(0, cut))
            pending = rows.slice(cut)
        if pending is not None and pending.num_rows:
            yield merged(pending)

    return merge


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
    ref_block = F.floor(class_position(class_offsets(sizes)) / F.lit(block_rows)).cast("long")
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
        block_rows=SAMPLE_REFERENCE_ROWS,
    )


def sample_queries(
    query_sizes: Mapping[int, int], sample_size: int, seed: int, key: int = CROSS_STREAM_KEY
) -> dict[int, list[int]]:
    """A seeded sample of query row indices per class, about proportional to class size.

    ``sample_size`` rows in all (or every query row if fewer), shared among the classes
    by largest remainder; within a class drawn without replacement from its own stream.
    ``key`` selects the streams: the default is the tuner's; another key gives a sample
    independent of it (to measure on rows the tuner did not choose by).
    """
    total = sum(query_sizes.values())
    wanted = min(sample_size, total)
    ordinals = sorted(query_sizes)
    shares = np.array([wanted * query_sizes[o] / total for o in ordinals])
    counts = np.floor(shares).astype(np.int64)
    for i in np.argsort(-(shares - counts), kind="stable")[: wanted - int(counts.sum())]:
        counts[i] += 1
    chosen = {}
    for ordinal, count in zip(ordinals, counts, strict=True):
        generator = numpy_generator(seed, STREAM_SAMPLE, ordinal, key)
        picked = generator.choice(query_sizes[ordinal], int(count), replace=False)
        chosen[ordinal] = sorted(int(i) for i in picked)
    return chosen
