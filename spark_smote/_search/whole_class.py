"""LSH search of whole classes: each task holds its class and answers a share of it.

Part of the neighbour search (phase 4, :mod:`spark_smote._search`), for the LSH classes
of :attr:`~spark_smote._plan.SearchPlan.whole_classes`. A
few tasks (at most ``max_tasks_per_class``) each receive the whole class, order it in
every table with numpy (the per-table search's order), cut the same chunks and rank,
with the same function, the queries of their own index groups
(:data:`~spark_smote._search.kernels.QUERY_GROUPS`), merging each row's lists in place.
After the first table, a row's running k-th distance bounds what the next table may add,
so most rows skip the selection among their chunk's candidates. The neighbours are the
per-table search's, bit for bit, without the per-table copies, their shuffle and sort,
and the merge shuffle.

A class too large for one task (:attr:`~spark_smote._plan.SearchPlan.cell_classes`) is
cut into spatial cells (:mod:`~spark_smote._search.cells`): each cell, its slab's rows
and a halo around it, is searched as a whole class is, its tasks answering the rows of
its slab only.

A later phase may run a step in the same tasks (:data:`SearchTaskStep`): the
synthesis draws its rows there, so the neighbours table is never written out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

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
from spark_smote._search.cell_cuts import core_cell, holding_cells, projection
from spark_smote._search.cells import Cells
from spark_smote._search.hashing import ClassHash, table_order
from spark_smote._search.kernels import QUERY_GROUPS, chunk_ranges, chunk_top_k, nearest_distinct
from spark_smote._search.table import NBR, neighbor_table_columns, run_order
from spark_smote._search.tuning_rules import TunedClasses, Tuning

__all__ = ["SearchTaskRows", "SearchTaskStep", "search_whole_classes"]


@dataclass(frozen=True)
class SearchTaskRows:
    """The rows a whole-class search task holds: its class, or one cell of its class.

    Attributes
    ----------
    x : ndarray (m, d)
        The held rows' features, in index order.
    ids : pyarrow.Array or None
        Their ``id_col`` values, or None without an id column.
    index : ndarray (m,) of int64
        Their indices in the class, ascending (0 ... n - 1 for a whole class).
    class_rows : int
        Rows of the class (n).

    """

    x: np.ndarray
    ids: pa.Array | None
    index: np.ndarray
    class_rows: int

    def locate(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions of class indices among the held rows, and whether each is held."""
        if len(self.index) == self.class_rows:
            return rows, np.ones(len(rows), bool)
        at = np.minimum(np.searchsorted(self.index, rows), len(self.index) - 1)
        return at, self.index[at] == rows


# What a whole-class search task may hand its result to instead of returning neighbour
# rows: ``step(class ordinal, rows, neighbours)`` with the rows the task holds and, per
# held row, its k neighbours' positions among them, nearest first, or -1 for the rows
# another task answers. It returns the task's output batches.
SearchTaskStep = Callable[[int, SearchTaskRows, np.ndarray], Iterator[pa.RecordBatch]]

# Ranking work per task of the whole-class search, in candidate-feature products
# (rows x tables x chunk x (features + 2)): each task also orders the whole class once
# per table, so a task gets at least this much ranking to do (2 tasks for 170k rows of
# 18 features with 9 tables of 2048; 1 below 4e10).
_CLASS_SEARCH_WORK_PER_TASK = 40_000_000_000
# The column numbering a row's copies, one per (cell, task) answering its class.
_SHARE = "_smote_part"
# Whether a copy's row is a query of its cell (in its slab) or only a reference.
_CORE = "_smote_core"
# Rows merged at a time after each table: the merge's sorts hold a few copies of the
# lists, a few MB per block instead of several times the task's lists.
_MERGE_ROWS = 1 << 16
# A cell's buffers grow by this factor when its estimated rows fall short.
_GROWTH = 1.25


class _HeldClass:
    """One whole class, or one cell of a class, as a search task receives it.

    A whole class's features are copied to their rows by index (dense, 0 ... n - 1);
    a cell's rows, of any indices, are appended and put in index order at the end. In
    both cases each Arrow batch is let go once copied, so a task holds the features
    once, in index order, and not the batches they came in.
    """

    def __init__(self, rows: int, dimension: int, *, cell: bool) -> None:
        self.cell = cell
        self.x = np.empty((rows, dimension), np.float64)
        self.index = np.empty(rows if cell else 0, np.int64)
        self.core = np.empty(rows if cell else 0, bool)
        self.seen = np.zeros(0 if cell else rows, bool)
        self.filled = 0
        self.ids: list[tuple[np.ndarray, pa.Array]] = []

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        idx = batch.column(IDX).to_numpy()
        features, dimension = batch.column(X), self.x.shape[1]
        if pa.types.is_binary(features.type):  # numbered in one task by the keys phase
            x = matrix_from_binary_column(features, dimension)
        else:
            x = matrix_from_list_column(features, dimension)
        if self.cell:
            end = self.filled + len(idx)
            if end > len(self.x):
                self._grow(max(end, int(len(self.x) * _GROWTH)))
            self.x[self.filled : end] = x
            self.index[self.filled : end] = idx
            self.core[self.filled : end] = batch.column(_CORE).to_numpy(zero_copy_only=False)
            self.filled = end
        else:
            self.x[idx] = x
            self.seen[idx] = True
        if ID in batch.schema.names:
            column = batch.column(ID)
            self.ids.append(
                (idx, column if isinstance(column, pa.Array) else column.combine_chunks())
            )

    def _grow(self, rows: int) -> None:
        x = np.empty((rows, self.x.shape[1]), np.float64)
        x[: self.filled] = self.x[: self.filled]
        self.x = x
        self.index = np.resize(self.index, rows)
        self.core = np.resize(self.core, rows)

    def finish(self, ordinal: int, class_rows: int) -> tuple[SearchTaskRows, np.ndarray | None]:
        """The held rows in index order, and for a cell which of them are its queries."""
        if not self.cell:
            if not self.seen.all():
                raise RuntimeError(
                    f"spark_smote LSH: a search task got {int(self.seen.sum())} of the "
                    f"{len(self.x)} rows of class ordinal {ordinal}; this is a bug, please "
                    "report it."
                )
            index = np.arange(len(self.x), dtype=np.int64)
            return SearchTaskRows(self.x, self._ids_by_index(), index, class_rows), None
        order = np.argsort(self.index[: self.filled], kind="stable")
        x = self.x[: self.filled]
        for j in range(x.shape[1]):  # in place, one column at a time
            x[:, j] = x[order, j]
        index, core = self.index[order], self.core[order]
        return SearchTaskRows(x, self._ids_by_index(), index, class_rows), core

    def _ids_by_index(self) -> pa.Array | None:
        """The rows' ids in index order, or None without an id column."""
        if not self.ids:
            return None
        idx = np.concatenate([i for i, _ in self.ids])
        ids = pa.concat_arrays([a for _, a in self.ids])
        return ids.take(pa.array(np.argsort(idx, kind="stable")))


def _whole_class_task(
    k: int,
    dimension: int,
    hashes: Mapping[int, ClassHash],
    tunings: Mapping[int, Tuning],
    sizes: Mapping[int, int],
    parts: Mapping[int, int],
    output_schema: pa.Schema,
    step: SearchTaskStep | None = None,
    cells: Mapping[int, Cells] | None = None,
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Build the mapInArrow function searching whole classes, one share per task.

    Each task receives every row of a class, or of one cell of a class of ``cells``
    (its partition holds one (class, cell, part) group), and answers the queries of
    the index groups ``g`` with ``g % parts[class] == part`` (in a cell, those of its
    slab). In each table it orders the rows, cuts the same chunks as the per-table
    search and ranks its queries there with :func:`chunk_top_k`, each query bounded by
    its running k-th distance, merging each table's lists into the running k nearest
    (:func:`nearest_distinct`). For a whole class a query's result is therefore the
    per-table search's, bit for bit, whatever its ``parts``; for a cell it is the same
    search over the cell's rows. The task holds the features once
    (:class:`_HeldClass`), one table's keys at a time and two k-wide lists per
    answered row. It returns the answered rows of the neighbours table, or, with
    ``step``, whatever ``step`` makes of the rows and the answered rows' neighbours
    (see :data:`SearchTaskStep`).
    """
    x_type = output_schema.field(X).type if X in output_schema.names else None
    cut = dict(cells or {})
    groups = max((cut[o].count if o in cut else 1) * p for o, p in parts.items())

    def search_group(
        ordinal: int, part: int, rows: SearchTaskRows, core: np.ndarray | None
    ) -> Iterator[pa.RecordBatch]:
        spec, tuning = hashes[ordinal], tunings[ordinal]
        x, index = rows.x, rows.index
        n = len(x)
        answered = index % QUERY_GROUPS % parts[ordinal] == part
        if core is not None:
            answered &= core
        mine = np.flatnonzero(answered)
        slot = np.full(n, -1, np.int64)
        slot[mine] = np.arange(len(mine))
        # Each table's lists go into the running k nearest (2k columns at most).
        neighbors = np.empty((len(mine), 2 * k), np.int64)
        distances = np.empty((len(mine), 2 * k), np.float64)
        lows, highs = chunk_ranges(np.arange(n, dtype=np.int64), n, tuning.cap // 2)
        starts = np.flatnonzero(np.concatenate([[True], lows[1:] != lows[:-1]]))
        ends = np.append(starts[1:], n)
        # Per chunk: its rows [lo, hi) and its queries, the rows [start, end).
        chunks = list(zip(lows[starts].tolist(), highs[starts].tolist(), starts, ends, strict=True))
        del lows, highs
        for table in range(tuning.tables):
            order = table_order(x, index, spec, tuning.width, table)
            is_mine = slot[order] >= 0
            columns = slice(k, 2 * k) if table else slice(0, k)
            for lo, hi, start, end in chunks:
                queries = np.flatnonzero(is_mine[start:end]) + (start - lo)
                if queries.size:
                    held = order[lo:hi]
                    at = slot[held[queries]]
                    # The running list's k-th distance bounds what this table may add.
                    limits = distances[at, k - 1] if table else None
                    found, dist = chunk_top_k(x[held], held, queries, k, limits)
                    neighbors[at, columns], distances[at, columns] = found, dist
            for first in range(0, len(mine) if table else 0, _MERGE_ROWS):
                block = slice(first, first + _MERGE_ROWS)
                neighbors[block, :k], distances[block, :k] = nearest_distinct(
                    neighbors[block], distances[block], k
                )
        del slot, distances
        if step is not None:
            answered_lists = np.full((n, k), -1, np.int64)
            answered_lists[mine] = neighbors[:, :k]
            del neighbors
            yield from step(ordinal, rows, answered_lists)
            return
        if x_type is not None and pa.types.is_binary(x_type):
            features = binary_rows(x[mine])
        else:
            features = list_column(x[mine], pa.float64())
        lists = neighbors[:, :k]
        columns_out = {
            CLASS: pa.array(np.full(len(mine), ordinal, np.int32)),
            IDX: pa.array(index[mine]),
            X: features,
            ID: rows.ids.take(pa.array(mine)) if rows.ids is not None else None,
            NBR: list_column(np.where(lists >= 0, index[lists], -1), pa.int64()),
        }
        table_out = pa.table({name: columns_out[name] for name in output_schema.names})
        yield from table_out.cast(output_schema).to_batches()

    def holder(ordinal: int, within: int) -> _HeldClass:
        if ordinal not in cut:
            return _HeldClass(sizes[ordinal], dimension, cell=False)
        return _HeldClass(cut[ordinal].rows[within // parts[ordinal]], dimension, cell=True)

    def search(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        held: dict[int, _HeldClass] = {}
        for batch in batches:
            if not batch.num_rows:
                continue
            keys = (
                batch.column(CLASS).to_numpy().astype(np.int64) * groups
                + batch.column(_SHARE).to_numpy()
            )
            distinct = np.unique(keys)
            for key in distinct.tolist():
                if key not in held:
                    held[key] = holder(key // groups, key % groups)
                rows = batch if len(distinct) == 1 else batch.filter(pa.array(keys == key))
                held[key].add(rows)
        for key in sorted(held):
            ordinal, within = divmod(key, groups)
            rows, core = held.pop(key).finish(ordinal, sizes[ordinal])
            yield from search_group(ordinal, within % parts[ordinal], rows, core)

    return search


def _cell_copies(points: DataFrame, carried: list[str], cells: Cells, parts: int) -> DataFrame:
    """One copy of each row of a class per (cell holding it, task of the cell).

    The projection sums the products feature after feature, as
    :func:`~spark_smote._search.cells.project_rows` does.
    """
    projected = points.select(CLASS, IDX, *carried, projection(cells).alias("_smote_z"))
    zc = F.col("_smote_z")
    with_cell = projected.select(
        CLASS,
        IDX,
        *carried,
        F.explode(holding_cells(cells, zc)).alias("_smote_cell"),
        core_cell(cells, zc).alias("_smote_slab"),
    )
    share = F.explode(F.sequence(F.lit(0), F.lit(parts - 1))).alias("_smote_share")
    return with_cell.select("*", share).select(
        CLASS,
        IDX,
        *carried,
        (F.col("_smote_cell") * parts + F.col("_smote_share")).alias(_SHARE),
        (F.col("_smote_cell") == F.col("_smote_slab")).alias(_CORE),
    )


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

    Each class, or each cell of a class of ``tuned.cells``, is sent whole to a few
    tasks. A class gets ``parts`` tasks in all, growing with the ranking work of every
    class (``_CLASS_SEARCH_WORK_PER_TASK``), at least ``min_parts`` and at most
    ``max_parts`` (the plan's bounds); a class of c cells gives each ``parts / c``
    tasks, rounded up: its cells already share the work, and every task orders the rows
    it holds in every table. With ``step`` the tasks return ``step``'s rows, of
    ``step_schema``, instead.
    """
    sizes, tunings, cells = tuned.sizes, tuned.tunings, tuned.cells
    counts = {o: cells[o].count if o in cells else 1 for o in sizes}
    work = sum(
        n * tunings[o].tables * min(n, tunings[o].cap) * (dimension + 2) for o, n in sizes.items()
    )
    searched = task_count(points, work, _CLASS_SEARCH_WORK_PER_TASK)
    tasks = min(max_parts, max(min_parts, searched))
    parts = {o: -(-tasks // counts[o]) for o in sizes}
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
        k,
        dimension,
        tuned.hashes,
        tunings,
        sizes,
        parts,
        to_arrow_schema(schema),
        step=step,
        cells=cells,
    )
    # One copy of each row per share, made in place (a cross join with a table of the
    # shares would cost a broadcast job of its own).
    whole = [o for o in sizes if o not in cells]
    copies_of = [
        _cell_copies(points.where(F.col(CLASS) == o), carried, cells[o], parts[o])
        for o in sizes
        if o in cells
    ]
    if whole:
        share = F.explode(F.sequence(F.lit(0), F.lit(tasks - 1))).alias(_SHARE)
        rows = points if not cells else points.where(F.col(CLASS).isin(whole))
        copies_of.append(rows.select(CLASS, IDX, *carried, share, F.lit(True).alias(_CORE)))
    copies = copies_of[0]
    for more in copies_of[1:]:
        copies = copies.unionByName(more)
    groups = {o: counts[o] * parts[o] for o in sizes}
    position = run_order(groups, sizes, _SHARE)
    return place_by_position(copies, sum(groups.values()), position).mapInArrow(search, schema)
