"""LSH search of whole classes: each task holds its class and answers a share of it.

Part of the neighbour search (phase 4, :mod:`spark_smote._search`), for LSH classes
whose features fit one task (:attr:`~spark_smote._plan.SearchPlan.whole_classes`). A
few tasks (at most ``max_tasks_per_class``) each receive the whole class, order it in
every table with numpy (the per-table search's order), cut the same chunks and rank,
with the same function, the queries of their own index groups
(:data:`~spark_smote._search.kernels.QUERY_GROUPS`), merging each row's lists in place.
After the first table, a row's running k-th distance bounds what the next table may add,
so most rows skip the selection among their chunk's candidates. The neighbours are the
per-table search's, bit for bit, without the per-table copies, their shuffle and sort,
and the merge shuffle.

A later phase may run a step in the same tasks (:data:`SearchTaskStep`): the
synthesis draws its rows there, so the neighbours table is never written out.
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
from spark_smote._keys import CLASS, ID, IDX, X, place_by_position, task_count
from spark_smote._search.hashing import ClassHash, table_order
from spark_smote._search.kernels import QUERY_GROUPS, chunk_ranges, chunk_top_k, nearest_distinct
from spark_smote._search.table import NBR, neighbor_table_columns, run_order
from spark_smote._search.tuning_rules import TunedClasses, Tuning

__all__ = ["SearchTaskStep", "search_whole_classes"]

# What a whole-class search task may hand its result to instead of returning neighbour
# rows: ``step(class ordinal, features, ids, neighbours)`` with the class's features
# (n, d) and ids (the ``id_col`` values, or None) in index order, and per index the k
# neighbours' indices, nearest first, or -1 for the rows another task answers. It
# returns the task's output batches.
SearchTaskStep = Callable[[int, np.ndarray, pa.Array | None, np.ndarray], Iterator[pa.RecordBatch]]

# Ranking work per task of the whole-class search, in candidate-feature products
# (rows x tables x chunk x (features + 2)): each task also orders the whole class once
# per table, so a task gets at least this much ranking to do (2 tasks for 170k rows of
# 18 features with 9 tables of 2048; 1 below 4e10).
_CLASS_SEARCH_WORK_PER_TASK = 40_000_000_000
# The column numbering a row's copies, one per task answering its class.
_SHARE = "_smote_part"


class _HeldClass:
    """One whole class as a search task receives it: features placed by index.

    Each Arrow batch's features are copied to their rows (the index is dense, 0 ...
    n - 1) and the batch is let go, so a task holds the class's features once, in
    index order, and not the batches they came in.
    """

    def __init__(self, n: int, dimension: int) -> None:
        self.x = np.empty((n, dimension), np.float64)
        self.seen = np.zeros(n, bool)
        self.ids: list[tuple[np.ndarray, pa.Array]] = []

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        idx = batch.column(IDX).to_numpy()
        features, dimension = batch.column(X), self.x.shape[1]
        if pa.types.is_binary(features.type):  # numbered in one task by the keys phase
            self.x[idx] = matrix_from_binary_column(features, dimension)
        else:
            self.x[idx] = matrix_from_list_column(features, dimension)
        self.seen[idx] = True
        if ID in batch.schema.names:
            column = batch.column(ID)
            self.ids.append(
                (idx, column if isinstance(column, pa.Array) else column.combine_chunks())
            )

    def ids_by_index(self) -> pa.Array | None:
        """The rows' ids in index order, or None without an id column."""
        if not self.ids:
            return None
        idx = np.concatenate([i for i, _ in self.ids])
        ids = pa.concat_arrays([a for _, a in self.ids])
        return ids.take(pa.array(np.argsort(idx)))


def _whole_class_task(
    k: int,
    dimension: int,
    hashes: Mapping[int, ClassHash],
    tunings: Mapping[int, Tuning],
    sizes: Mapping[int, int],
    parts: int,
    output_schema: pa.Schema,
    step: SearchTaskStep | None = None,
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Build the mapInArrow function searching whole classes, one share per task.

    Each task receives every row of a class (its partition holds one (class, part)
    group) and answers the queries of the index groups ``g`` with
    ``g % parts == part``: in each table it orders the class, cuts the same chunks
    as the per-table search and ranks its queries there with :func:`chunk_top_k`, each
    query bounded by its running k-th distance, merging each table's lists into the
    running k nearest (:func:`nearest_distinct`).
    A query's result is therefore the per-table search's, bit for bit, whatever
    ``parts``. The task holds the class's features once (:class:`_HeldClass`), one
    table's keys at a time and two k-wide lists per answered row. It returns the
    answered rows of the neighbours table, or, with ``step``, whatever ``step`` makes
    of the class and the answered rows' neighbours (see :data:`SearchTaskStep`).
    """
    x_type = output_schema.field(X).type if X in output_schema.names else None

    def search_group(ordinal: int, part: int, held: _HeldClass) -> Iterator[pa.RecordBatch]:
        spec, tuning = hashes[ordinal], tunings[ordinal]
        x = held.x
        n = len(x)
        if not held.seen.all():
            raise RuntimeError(
                f"spark_smote LSH: a search task got {int(held.seen.sum())} of the {n} rows "
                f"of class ordinal {ordinal}; this is a bug, please report it."
            )
        idx = np.arange(n, dtype=np.int64)
        mine = np.flatnonzero(idx % QUERY_GROUPS % parts == part)
        slot = np.full(n, -1, np.int64)
        slot[mine] = np.arange(len(mine))
        # Each table's lists go into the running k nearest (2k columns at most).
        neighbors = np.empty((len(mine), 2 * k), np.int64)
        distances = np.empty((len(mine), 2 * k), np.float64)
        lows, highs = chunk_ranges(idx, n, tuning.cap // 2)
        starts = np.flatnonzero(np.concatenate([[True], lows[1:] != lows[:-1]]))
        ends = np.append(starts[1:], n)
        for table in range(tuning.tables):
            order = table_order(x, idx, spec, tuning.width, table)
            is_mine = slot[order] >= 0
            columns = slice(k, 2 * k) if table else slice(0, k)
            for start, end in zip(starts, ends, strict=True):
                lo, hi = int(lows[start]), int(highs[start])
                queries = np.flatnonzero(is_mine[start:end]) + (start - lo)
                if queries.size:
                    rows = order[lo:hi]
                    at = slot[rows[queries]]
                    # The running list's k-th distance bounds what this table may add.
                    limits = distances[at, k - 1] if table else None
                    found, dist = chunk_top_k(x[rows], rows, queries, k, limits)
                    neighbors[at, columns], distances[at, columns] = found, dist
            if table:
                neighbors[:, :k], distances[:, :k] = nearest_distinct(neighbors, distances, k)
        del slot, distances
        ids = held.ids_by_index()
        if step is not None:
            answered_lists = np.full((n, k), -1, np.int64)
            answered_lists[mine] = neighbors[:, :k]
            del neighbors
            yield from step(ordinal, x, ids, answered_lists)
            return
        if x_type is not None and pa.types.is_binary(x_type):
            features = binary_rows(x[mine])
        else:
            features = list_column(x[mine], pa.float64())
        columns_out = {
            CLASS: pa.array(np.full(len(mine), ordinal, np.int32)),
            IDX: pa.array(mine),
            X: features,
            ID: ids.take(pa.array(mine)) if ids is not None else None,
            NBR: list_column(neighbors[:, :k], pa.int64()),
        }
        table_out = pa.table({name: columns_out[name] for name in output_schema.names})
        yield from table_out.cast(output_schema).to_batches()

    def search(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        held: dict[int, _HeldClass] = {}
        for batch in batches:
            if not batch.num_rows:
                continue
            keys = (
                batch.column(CLASS).to_numpy().astype(np.int64) * parts
                + batch.column(_SHARE).to_numpy()
            )
            distinct = np.unique(keys)
            for key in distinct.tolist():
                if key not in held:
                    held[key] = _HeldClass(sizes[key // parts], dimension)
                rows = batch if len(distinct) == 1 else batch.filter(pa.array(keys == key))
                held[key].add(rows)
        for key in sorted(held):
            yield from search_group(key // parts, key % parts, held.pop(key))

    return search


def search_whole_classes(
    points: DataFrame,
    tuned: TunedClasses,
    k: int,
    dimension: int,
    *,
    step: SearchTaskStep | None = None,
    step_schema: T.StructType | None = None,
    min_parts: int = 1,
    max_parts: int = 4,
) -> DataFrame:
    """The whole-class search (:func:`_whole_class_task`): the neighbours table.

    Each class is sent whole to ``parts`` tasks, ``parts`` growing with the class's
    ranking work (``_CLASS_SEARCH_WORK_PER_TASK``), at least ``min_parts`` and at most
    ``max_parts`` (the plan's bounds). With ``step`` the tasks return ``step``'s rows, of
    ``step_schema``, instead.
    """
    sizes, tunings = tuned.sizes, tuned.tunings
    work = sum(
        n * tunings[o].tables * min(n, tunings[o].cap) * (dimension + 2) for o, n in sizes.items()
    )
    searched = task_count(points, work, _CLASS_SEARCH_WORK_PER_TASK)
    parts = min(max_parts, max(min_parts, searched))
    carried = neighbor_table_columns(points)
    fields = {field.name: field for field in points.schema.fields}
    schema = step_schema or T.StructType(
        [
            T.StructField(CLASS, T.IntegerType()),
            T.StructField(IDX, T.LongType()),
            *[fields[name] for name in carried],
            T.StructField(NBR, T.ArrayType(T.LongType())),
        ]
    )
    search = _whole_class_task(
        k, dimension, tuned.hashes, tunings, sizes, parts, to_arrow_schema(schema), step=step
    )
    # One copy of each row per share, made in place (a cross join with a table of the
    # shares would cost a broadcast job of its own).
    share = F.explode(F.sequence(F.lit(0), F.lit(parts - 1))).alias(_SHARE)
    copies = points.select(CLASS, IDX, *carried, share)
    position = run_order(dict.fromkeys(sizes, parts), sizes, _SHARE)
    return place_by_position(copies, len(sizes) * parts, position).mapInArrow(search, schema)
