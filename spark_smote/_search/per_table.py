"""LSH search of large classes over per-table copies: hash, sort, chunk, merge in Spark.

Part of the neighbour search (phase 4, :mod:`spark_smote._search`), for LSH classes too
large for one task to hold that are not cut into cells
(:attr:`~spark_smote._plan.SearchPlan.per_table_classes`, and the cell classes whose
rows crowd so that no cut fits, identical rows at worst):

1. **copies** (one shuffle): every row is copied once per table (``mapInArrow``, numpy
   hashing of :mod:`~spark_smote._search.hashing`) and each (class, table) is sorted by
   (codes, split, index): bucket after bucket, adjacent buckets being neighbouring
   cells of the grid;
2. **bounded chunks**: the sorted rows of a (class, table) are cut into overlapping
   chunks of ``bucket_cap`` consecutive rows, stride ``bucket_cap / 2``; every row is
   the query of the one chunk in which it lies in the central half. A bucket larger
   than the cap is thereby split along the split direction (no group grows with skew,
   a million identical rows included), and a bucket smaller than the cap is searched
   together with the adjacent buckets of its table (a multi-probe of the neighbouring
   cells). Every chunk holds at least ``min(n, bucket_cap / 2 + 1)`` rows, so every
   row gets k candidates from every table;
3. **refinement**: per chunk, :func:`~spark_smote._search.kernels.chunk_top_k`;
4. **merge** (one shuffle): the candidates of all tables are merged per row,
   duplicates removed, nearest first, ties by index.

The rows' order and chunks are fixed by the sort keys, so the output is the same, bit
for bit, for any partitioning, row order or shuffle setting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from spark_smote._arrow import (
    binary_rows,
    list_column,
    matrix_from_binary_column,
    matrix_from_list_column,
)
from spark_smote._keys import CLASS, IDX, X, lookup_side, place_by_position, task_count
from spark_smote._search.hashing import (
    ClassHash,
    coarse_keys,
    sort_keys,
    table_keys,
    table_projections,
)
from spark_smote._search.kernels import (
    blobs_to_candidates,
    candidate_blobs,
    chunk_ranges,
    chunk_top_k,
    merge_tables,
)
from spark_smote._search.table import (
    NBR,
    SORT_KEY,
    SORT_KEYS,
    TABLE,
    neighbor_table_columns,
    run_order,
)
from spark_smote._search.tuning_rules import TunedClasses

__all__ = ["search_per_table"]

COARSE_KEYS = "_smote_coarses"
COARSE_KEY = "_smote_coarse"
XBYTES = "_smote_xbytes"
CANDIDATES = "_smote_candidates"
# Rows per task of the merge of the tables' lists: a task's lists (tables x k
# candidates per row) stay a few MB.
_MERGE_ROWS_PER_TASK = 20_000


def _hash_udf(
    hashes: Mapping[int, ClassHash],
    widths: Mapping[int, float],
    tables: Mapping[int, int],
    dimension: int,
    output_schema: pa.Schema,
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Build the mapInArrow function adding each point's sort keys in every table.

    One output row per point (its L sort keys in one ``array<binary>`` and its L
    coarse keys in one ``array<long>``), so only the points cross from Python to the
    JVM; Spark's ``posexplode`` then makes the L copies. Run numbers follow the class
    ordinals in order, ``max(tables)`` apart.
    """
    stride = max(tables.values(), default=1)
    first_run = {o: rank * stride for rank, o in enumerate(sorted(tables))}
    run_bits = max(1, (len(tables) * stride - 1).bit_length())

    def hash_rows(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            table = pa.Table.from_batches([batch])
            classes = table.column(CLASS).to_numpy()
            for ordinal in np.unique(classes):
                spec, n_tables = hashes[int(ordinal)], tables[int(ordinal)]
                rows = table.filter(pa.array(classes == ordinal))
                n = rows.num_rows
                x = matrix_from_list_column(rows.column(X), dimension)
                projected = table_projections(x, spec, n_tables)
                codes, splits = table_keys(projected, spec, widths[int(ordinal)])
                keys = sort_keys(codes, splits, rows.column(IDX).to_numpy())
                runs = first_run[int(ordinal)] + np.arange(n_tables, dtype=np.int64)
                coarse = coarse_keys(codes, splits, runs, run_bits)
                width = keys.shape[2]
                binary = pa.Array.from_buffers(
                    pa.binary(width), n * n_tables, [None, pa.py_buffer(keys.tobytes())]
                )
                offsets = pa.array(np.arange(n + 1, dtype=np.int32) * n_tables)
                columns = {
                    CLASS: rows.column(CLASS),
                    IDX: rows.column(IDX),
                    XBYTES: binary_rows(x),
                    SORT_KEYS: pa.ListArray.from_arrays(offsets, binary),
                    COARSE_KEYS: pa.ListArray.from_arrays(offsets, pa.array(coarse.ravel())),
                }
                out = pa.table({name: columns[name] for name in output_schema.names})
                yield from out.cast(output_schema).to_batches()

    return hash_rows


def _search_udf(
    k: int,
    dimension: int,
    caps: Mapping[int, int],
    sizes: Mapping[int, int],
    output_schema: pa.Schema,
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Build the mapInArrow function that searches the chunks of sorted partitions.

    Its input partitions are sorted by (coarse key, sort key), which is the order
    (class, table, codes, split, index) (see :func:`coarse_keys`), so a (class,
    table) arrives as one run in key order. The function keeps at most one
    chunk plus one batch of the run in memory and solves a chunk as soon as the rows
    after it prove it is not the run's last one (whose end moves with the run length).
    """

    class Run:
        def __init__(self, ordinal: int) -> None:
            self.ordinal = ordinal
            self.n = sizes[ordinal]
            self.step = caps[ordinal] // 2
            self.seen = 0  # rows of the run received so far
            self.first = 0  # rank of the first buffered row
            self.chunk = 0  # next chunk to solve
            self.idx = np.empty(0, np.int64)
            self.x = np.empty((0, dimension), np.float64)

        def add(self, idx: np.ndarray, x: np.ndarray) -> list[pa.RecordBatch]:
            self.idx = np.concatenate([self.idx, idx])
            self.x = np.concatenate([self.x, x])
            self.seen += len(idx)
            solved = []
            # Chunk j is not the last one once the run is longer than (j + 2) * step.
            while self.n > 2 * self.step and self.seen > (self.chunk + 2) * self.step:
                solved.append(self.solve(self.chunk, -(-self.n // self.step) - 2))
                self.chunk += 1
                self.drop_before(self.chunk * self.step)
            return solved

        def finish(self) -> list[pa.RecordBatch]:
            if self.seen != self.n:
                raise RuntimeError(
                    f"spark_smote LSH: class ordinal {self.ordinal} sent {self.seen} rows to "
                    f"one table instead of {self.n}; this is a bug, please report it."
                )
            if self.n <= 2 * self.step:
                return [self.solve(0, 0)]
            last = -(-self.n // self.step) - 2
            return [self.solve(j, last) for j in range(self.chunk, last + 1)]

        def drop_before(self, rank: int) -> None:
            cut = rank - self.first
            self.idx, self.x = self.idx[cut:], self.x[cut:]
            self.first = rank

        def solve(self, j: int, last: int) -> pa.RecordBatch:
            """Search chunk j (of a run whose last chunk is ``last``) for its queries."""
            step = self.step
            lo = j * step - self.first
            hi = self.n - self.first if j == last else lo + 2 * step
            ranks = np.arange(lo, hi) + self.first
            lows, _ = chunk_ranges(ranks, self.n, step)
            queries = np.flatnonzero(lows == j * step) if self.n > 2 * step else np.arange(hi - lo)
            idx, x = self.idx[lo:hi], self.x[lo:hi]
            neighbors, distances = chunk_top_k(x, idx, queries, k)
            columns = {
                CLASS: pa.array(np.full(len(queries), self.ordinal, np.int32)),
                IDX: pa.array(idx[queries]),
                CANDIDATES: candidate_blobs(neighbors, distances),
            }
            table = pa.table({name: columns[name] for name in output_schema.names})
            return table.cast(output_schema).combine_chunks().to_batches()[0]

    def search(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        run: Run | None = None
        key: tuple[int, int] | None = None
        for batch in batches:
            if batch.num_rows == 0:
                continue
            classes = batch.column(CLASS).to_numpy()
            tables = batch.column(TABLE).to_numpy()
            change = np.flatnonzero((classes[1:] != classes[:-1]) | (tables[1:] != tables[:-1]))
            starts = np.concatenate([[0], change + 1])
            ends = np.append(starts[1:], batch.num_rows)
            idx = batch.column(IDX).to_numpy()
            x = matrix_from_binary_column(batch.column(XBYTES), dimension)
            for lo, hi in zip(starts, ends, strict=True):
                segment = (int(classes[lo]), int(tables[lo]))
                if segment != key:
                    if run is not None:
                        yield from run.finish()
                    run, key = Run(segment[0]), segment
                assert run is not None
                yield from run.add(idx[lo:hi], x[lo:hi])
        if run is not None:
            yield from run.finish()

    return search


def _merge_udf(
    k: int, tables: Mapping[int, int], output_schema: pa.Schema
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Build the mapInArrow function merging the tables' lists of each row.

    Its input partitions are sorted by (index, class), so the L lists of a row are
    consecutive (the index leads: Spark then compares a long, not the pair); a row
    cut by a batch boundary is completed from the next batch.
    """

    def merge_rows(table: pa.Table) -> pa.Table:
        classes = table.column(CLASS).to_numpy()
        ordinals = np.unique(classes)
        parts = []
        for ordinal in ordinals:
            rows = table.filter(pa.array(classes == ordinal)) if len(ordinals) > 1 else table
            n_tables = tables[int(ordinal)]
            if rows.num_rows % n_tables:
                raise RuntimeError(
                    f"spark_smote LSH: class ordinal {int(ordinal)} has a row without one "
                    f"candidate list per table ({n_tables}); this is a bug, please report it."
                )
            n = rows.num_rows // n_tables
            nbr, dist = blobs_to_candidates(rows.column(CANDIDATES), k)
            nbr, dist = nbr.reshape(n, n_tables * k), dist.reshape(n, n_tables * k)
            first = rows.take(pa.array(np.arange(n) * n_tables))
            parts.append(
                pa.table(
                    {
                        CLASS: first.column(CLASS),
                        IDX: first.column(IDX),
                        NBR: list_column(merge_tables(nbr, dist, k), pa.int64()),
                    }
                ).cast(output_schema)
            )
        return pa.concat_tables(parts)

    def merge(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        pending: pa.Table | None = None
        for batch in batches:
            table = pa.Table.from_batches([batch])
            if pending is not None:
                table = pa.concat_tables([pending, table])
            if table.num_rows == 0:
                continue
            classes = table.column(CLASS).to_numpy()
            idx = table.column(IDX).to_numpy()
            same = (classes == classes[-1]) & (idx == idx[-1])
            last = int(np.argmax(same))
            pending = table.slice(last)
            if last:
                yield from merge_rows(table.slice(0, last)).to_batches()
        if pending is not None and pending.num_rows:
            yield from merge_rows(pending).to_batches()

    return merge


def search_per_table(
    points: DataFrame, tuned: TunedClasses, k: int, dimension: int, *, broadcast_rows: bool
) -> DataFrame:
    """The per-table search: L copies of each row, one shuffle and sort, one merge.

    Returns the neighbours table (class, index, features, id if any, neighbours).
    """
    sizes, tunings = tuned.sizes, tuned.tunings
    tables = {o: tunings[o].tables for o in sizes}
    carried = neighbor_table_columns(points)
    hashed_schema = T.StructType(
        [
            T.StructField(CLASS, T.IntegerType()),
            T.StructField(IDX, T.LongType()),
            T.StructField(XBYTES, T.BinaryType()),
            T.StructField(SORT_KEYS, T.ArrayType(T.BinaryType())),
            T.StructField(COARSE_KEYS, T.ArrayType(T.LongType())),
        ]
    )
    hash_rows = _hash_udf(
        tuned.hashes,
        {o: t.width for o, t in tunings.items()},
        tables,
        dimension,
        to_arrow_schema(hashed_schema),
    )
    candidate_schema = T.StructType(
        [
            T.StructField(CLASS, T.IntegerType()),
            T.StructField(IDX, T.LongType()),
            T.StructField(CANDIDATES, T.BinaryType()),
        ]
    )
    search = _search_udf(
        k,
        dimension,
        {o: t.cap for o, t in tunings.items()},
        dict(sizes),
        to_arrow_schema(candidate_schema),
    )
    copies = (
        points.select(CLASS, IDX, X)
        .mapInArrow(hash_rows, hashed_schema)
        .select(CLASS, IDX, XBYTES, COARSE_KEYS, F.posexplode(SORT_KEYS).alias(TABLE, SORT_KEY))
        .select(
            CLASS, IDX, XBYTES, TABLE, SORT_KEY, F.col(COARSE_KEYS)[F.col(TABLE)].alias(COARSE_KEY)
        )
    )
    partitions = task_count(points, sum(tables.values()), 1)
    candidates = (
        place_by_position(copies, partitions, run_order(tables, sizes, TABLE))
        .sortWithinPartitions(COARSE_KEY, SORT_KEY)
        .select(CLASS, TABLE, IDX, XBYTES)
        .mapInArrow(search, candidate_schema)
    )
    merged_schema = T.StructType(
        [
            T.StructField(CLASS, T.IntegerType()),
            T.StructField(IDX, T.LongType()),
            T.StructField(NBR, T.ArrayType(T.LongType())),
        ]
    )
    merge = _merge_udf(k, tables, to_arrow_schema(merged_schema))
    merged = (
        candidates.repartition(
            task_count(points, sum(sizes.values()), _MERGE_ROWS_PER_TASK), CLASS, IDX
        )
        .sortWithinPartitions(IDX, CLASS)
        .mapInArrow(merge, merged_schema)
    )
    rows = lookup_side(points.select(CLASS, IDX, *carried), broadcast=broadcast_rows)
    return merged.join(rows, on=[CLASS, IDX]).select(CLASS, IDX, *carried, NBR)
