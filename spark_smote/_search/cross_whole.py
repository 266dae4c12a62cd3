"""LSH search among all classes with every row held by each task: no per-table copies.

Phase 4 (neighbour engine), the cross-class twin of
:mod:`spark_smote._search.whole_class`, for inputs whose features fit one task
(:attr:`~spark_smote._plan.SearchPlan.whole_classes` of a plan with ``reference='all'``).
Same input (the points table of every class), same output (the cross neighbours table)
and the same neighbours, bit for bit, as the per-table search of
:mod:`spark_smote._search.cross_lsh` with the same parameters: each task receives every
row, orders them in every table with numpy in the order Spark's sort gives the per-table
copies (codes, split, class, index), keeps the same rows (buckets holding a query, and
the anchors), cuts the same chunks (:func:`~spark_smote._search.kernels.chunk_ranges`)
and ranks its share of the queries there with the same kernel
(:func:`~spark_smote._search.cross_kernels.block_top_k`). What it saves is the cost that
dominates the per-table search: L shuffled and sorted copies of every row, in the
tuning (once per width tried) and in the search, and the shuffle merging the lists.

**Tuning** runs in one task holding every row: the tuning sample's exact neighbours
(against every row at once), then for each width the sample's lists in each of the
``max_tables`` tables, hence the recall with 1, 2, ... tables; only these curves reach
the driver, which chooses as :func:`~spark_smote._search.cross_lsh.choose_tuning` does
for the per-table search (the same sample, the same numbers).

**Search**: ``parts`` tasks each hold every row and answer the queries at positions
``p`` with ``p % parts == part`` (positions number the rows class by class), merging
each query's lists table after table. A task holds the features once (8 d bytes per
row), one table's order and two k-wide lists per query it answers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from spark_smote._keys import CLASS, IDX, X, place_by_position, task_count
from spark_smote._order import ordered_bits
from spark_smote._search.cross_exact import DIST, NBR, NBR_CLASS, candidate_schema
from spark_smote._search.cross_kernels import (
    block_top_k,
    lsh_codes,
    matrix_from_list_column,
    merge_candidates,
    recall_at_k,
)
from spark_smote._search.hashing import key_order
from spark_smote._search.kernels import chunk_ranges
from spark_smote._search.tuning_rules import WIDTH_FACTORS, base_width

__all__ = ["HashDraw", "search_whole_reference", "tune_whole_reference"]

# A row's copy number (the task answering a share of the queries) and query flag.
_PART = "_smote_part"
_QUERY = "_smote_query"
# Distance work per search task, in candidate-feature products (queries x tables x
# chunk rows x features): each task also orders every row once per table (about a
# tenth of a task's time at this much ranking), so more tasks repeat more ordering.
_WORK_PER_TASK = 2_000_000_000
# Answered rows per output batch: a batch of k-wide lists stays a few MB.
_OUTPUT_BATCH_ROWS = 1 << 16

# The hash functions: directions (d, tables (m + 1)) and offsets (tables, m).
HashDraw = tuple[np.ndarray, np.ndarray]


class _HeldRows:
    """Every row of the points table, placed by position (classes in ordinal order)."""

    def __init__(self, offsets: Mapping[int, int], rows: int, dimension: int) -> None:
        self.offsets = dict(offsets)
        self.x = np.empty((rows, dimension), np.float64)
        self.classes = np.empty(rows, np.int32)
        self.idx = np.empty(rows, np.int64)
        self.query = np.zeros(rows, bool)
        self.seen = np.zeros(rows, bool)

    def add(self, batch: pa.RecordBatch) -> None:
        classes = batch.column(CLASS).to_numpy()
        idx = batch.column(IDX).to_numpy()
        first = np.zeros(len(classes), np.int64)
        for ordinal, offset in self.offsets.items():
            first[classes == ordinal] = offset
        position = first + idx
        self.x[position] = matrix_from_list_column(batch.column(X), self.x.shape[1])
        self.classes[position], self.idx[position] = classes, idx
        self.query[position] = batch.column(_QUERY).to_numpy(zero_copy_only=False)
        self.seen[position] = True

    def check(self) -> None:
        if not self.seen.all():
            raise RuntimeError(
                f"spark_smote LSH: a cross-class search task got {int(self.seen.sum())} of "
                f"the {len(self.seen)} rows; this is a bug, please report it."
            )


def _table_lists(
    held: _HeldRows,
    draw: HashDraw,
    width: float,
    table: int,
    answered: np.ndarray,
    *,
    k: int,
    step: int,
    restricted: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The k candidates of the rows at positions ``answered`` in one table.

    The rows are ordered by (codes, split, class, index), as the per-table search's
    byte keys sort (positions number rows by (class, index)); with ``restricted`` only
    the rows of buckets holding a query, and each class's first k + 1 rows, are kept;
    each answered row is ranked against the kept rows of its chunk.
    """
    directions, shifts = draw
    m = shifts.shape[1]
    used = directions[:, table * (m + 1) : (table + 1) * (m + 1)]
    codes, splits = lsh_codes(held.x, used, shifts[table : table + 1], width)
    codes = codes[:, 0, :]
    order = key_order(codes, ordered_bits(splits[:, 0]), np.arange(len(codes), dtype=np.int64))
    if restricted:
        ordered_codes = codes[order]
        new_bucket = np.ones(len(order), bool)
        new_bucket[1:] = (ordered_codes[1:] != ordered_codes[:-1]).any(axis=1)
        bucket = np.cumsum(new_bucket) - 1
        hit = np.zeros(int(bucket[-1]) + 1, bool)
        hit[bucket[held.query[order]]] = True
        order = order[hit[bucket] | (held.idx[order] <= k)]
    rank = np.full(len(codes), -1, np.int64)
    rank[order] = np.arange(len(order))
    lows, highs = chunk_ranges(rank[answered], len(order), step)
    classes = np.empty((len(answered), k), np.int32)
    indices = np.empty((len(answered), k), np.int64)
    distances = np.empty((len(answered), k), np.float64)
    by_chunk = np.argsort(lows, kind="stable")
    starts = np.flatnonzero(np.diff(lows[by_chunk], prepend=-1))
    for start, stop in zip(starts, [*starts[1:], len(by_chunk)], strict=True):
        mine = by_chunk[start:stop]
        rows = order[lows[mine[0]] : highs[mine[0]]]
        at = answered[mine]
        found = block_top_k(
            held.classes[at],
            held.idx[at],
            held.x[at],
            held.classes[rows],
            held.idx[rows],
            held.x[rows],
            k,
        )
        classes[mine], indices[mine], distances[mine] = found
    return classes, indices, distances


def _merged(
    lists: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Several tables' lists of the same rows merged into their k best distinct."""
    parts = [np.concatenate([found[i] for found in lists], axis=1) for i in range(3)]
    return merge_candidates(parts[0], parts[1], parts[2], k)


def _offsets(sizes: Mapping[int, int]) -> dict[int, int]:
    first, offsets = 0, {}
    for ordinal in sorted(sizes):
        offsets[ordinal] = first
        first += sizes[ordinal]
    return offsets


def _held_rows_input(points: DataFrame, query: Column, parts: int) -> DataFrame:
    """Every row once per task share, with its query flag, placed by share."""
    share = F.explode(F.sequence(F.lit(0), F.lit(parts - 1))).alias(_PART)
    copies = points.select(
        CLASS, IDX, F.col(X).cast("array<double>").alias(X), query.alias(_QUERY), share
    )
    return place_by_position(copies, parts, F.col(_PART))


def _hold(
    batches: Iterator[pa.RecordBatch], sizes: Mapping[int, int], dimension: int
) -> dict[int, _HeldRows]:
    """Every row of each share found in a task's batches (one share per task, or more)."""
    offsets, rows = _offsets(sizes), sum(sizes.values())
    held: dict[int, _HeldRows] = {}
    for batch in batches:
        if not batch.num_rows:
            continue
        parts = batch.column(_PART).to_numpy()
        for part in np.unique(parts).tolist():
            if part not in held:
                held[part] = _HeldRows(offsets, rows, dimension)
            chosen = batch if (parts == part).all() else batch.filter(pa.array(parts == part))
            held[part].add(chosen)
    for rows_of_part in held.values():
        rows_of_part.check()
    return held


_CURVE_SCHEMA = T.StructType(
    [
        T.StructField("width", T.DoubleType()),
        T.StructField("curve", T.ArrayType(T.DoubleType())),
        T.StructField("base", T.DoubleType()),
        T.StructField("sampled", T.LongType()),
    ]
)


def tune_whole_reference(
    points: DataFrame,
    *,
    query: Column,
    sizes: Mapping[int, int],
    sample: Mapping[int, Sequence[int]],
    draw: HashDraw,
    k: int,
    dimension: int,
    bucket_cap: int,
    bucket_width: float | None,
    target_recall: float,
    stop_when_reached: bool,
    restricted: bool,
) -> tuple[list[tuple[float, np.ndarray]], float, int]:
    """The tuning statistics, in one task holding every row (one Spark job).

    Returns
    -------
    (curves, base, sampled)
        Per width tried, in order, the sample recall with 1, 2, ... tables (all the
        drawn tables); the sample's median k-th distance; the sampled rows. Widths
        are 4 then 8 times the median (or ``bucket_width``); with
        ``stop_when_reached`` none after the first that reaches ``target_recall``.

    """
    offsets = _offsets(sizes)
    positions = np.array(
        sorted(offsets[o] + int(i) for o, rows in sample.items() for i in rows), np.int64
    )
    tables = draw[1].shape[0]
    schema = to_arrow_schema(_CURVE_SCHEMA)

    def tune(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for held in _hold(batches, sizes, dimension).values():
            at = positions
            truth = block_top_k(
                held.classes[at], held.idx[at], held.x[at], held.classes, held.idx, held.x, k
            )[2]
            base = base_width(truth)
            widths = [bucket_width] if bucket_width else [base * f for f in WIDTH_FACTORS]
            for width in widths:
                lists = [
                    _table_lists(
                        held, draw, width, t, at, k=k, step=bucket_cap // 2, restricted=restricted
                    )
                    for t in range(tables)
                ]
                curve = [
                    recall_at_k(_merged(lists[:used], k)[2], truth) for used in range(1, tables + 1)
                ]
                yield pa.RecordBatch.from_arrays(
                    [
                        pa.array([width], pa.float64()),
                        pa.array([curve], pa.list_(pa.float64())),
                        pa.array([base], pa.float64()),
                        pa.array([len(at)], pa.int64()),
                    ],
                    schema=schema,
                )
                if stop_when_reached and max(curve) >= target_recall:
                    break
            return  # one share is enough: every share holds the same rows

    rows = _held_rows_input(points, query, 1).mapInArrow(tune, _CURVE_SCHEMA).collect()
    curves = [(float(r["width"]), np.array(r["curve"], np.float64)) for r in rows]
    return curves, float(rows[0]["base"]), int(rows[0]["sampled"])


def search_whole_reference(
    points: DataFrame,
    *,
    query: Column,
    sizes: Mapping[int, int],
    queries: int,
    draw: HashDraw,
    width: float,
    tables: int,
    k: int,
    dimension: int,
    bucket_cap: int,
    restricted: bool,
    max_parts: int,
) -> DataFrame:
    """The cross neighbours table by the whole-reference search (module docstring).

    ``parts`` grows with the distance work (``_WORK_PER_TASK``), at most
    ``max_parts``; the rows a query gets do not depend on it.
    """
    work = queries * tables * min(bucket_cap, sum(sizes.values())) * dimension
    parts = min(max_parts, task_count(points, work, _WORK_PER_TASK))
    schema = candidate_schema()
    arrow_schema = to_arrow_schema(schema)

    def search(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for part, held in _hold(batches, sizes, dimension).items():
            positions = np.arange(len(held.idx), dtype=np.int64)
            mine = positions[held.query & (positions % parts == part)]
            best: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
            for t in range(tables):
                found = _table_lists(
                    held, draw, width, t, mine, k=k, step=bucket_cap // 2, restricted=restricted
                )
                best = found if best is None else _merged([best, found], k)
            if best is None or not len(mine):
                continue
            nbr_class, nbr, dist = best
            keep = nbr != -1
            offsets = pa.array(np.concatenate([[0], np.cumsum(keep.sum(axis=1))]), pa.int32())
            columns = {
                CLASS: pa.array(held.classes[mine], pa.int32()),
                IDX: pa.array(held.idx[mine], pa.int64()),
                NBR_CLASS: pa.ListArray.from_arrays(offsets, pa.array(nbr_class[keep], pa.int32())),
                NBR: pa.ListArray.from_arrays(offsets, pa.array(nbr[keep], pa.int64())),
                DIST: pa.ListArray.from_arrays(offsets, pa.array(dist[keep], pa.float64())),
            }
            found_rows = pa.Table.from_arrays(
                [columns[f] for f in arrow_schema.names], schema=arrow_schema
            )
            yield from found_rows.to_batches(max_chunksize=_OUTPUT_BATCH_ROWS)

    return _held_rows_input(points, query, parts).mapInArrow(search, schema)
