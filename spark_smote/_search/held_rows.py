"""The rows each task of the whole-reference LSH search holds, in shards when they are many.

Phase 4 (neighbour engine), the input side of :mod:`spark_smote._search.cross_whole`.
Positions number every row of every class, class by class (ordinal order). The
reference (every row) is cut into ``shards`` by a hash of the position, so a shard is a
random-looking share of the rows whatever the input's order or partitioning; a task
holds one shard's rows as references, and every query row (the plan shards the rows
only when the queries are few; a task keeps the buckets holding a query). With one
shard every task holds every row; with more, a task holds ``1 / shards`` of the
references, and a query's lists from the shards are merged afterwards (the k best of
all rows are among the union of each shard's k best).

In a task the rows are kept in position order, which is the (class, index) order the
kernels break ties by. The features go straight from each Arrow batch into numpy
chunks, and then into one array whose pages fill as the chunks are released, so a task
holds about one copy of its rows' features.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_smote._keys import CLASS, IDX, X, place_by_position
from spark_smote._search.cell_cuts import core_cell, holding_cells, projection
from spark_smote._search.cells import Cells
from spark_smote._search.cross_exact import class_offsets, class_position
from spark_smote._search.cross_kernels import matrix_from_list_column

__all__ = ["TASK", "HeldRows", "held_rows_input", "hold", "shard_of"]

# A copy's task (shard * parts + part), and whether it is a query and a reference there.
TASK = "_smote_task"
_QUERY = "_smote_query"
_REFERENCE = "_smote_reference"
_COPY = "_smote_copy"
_Z = "_smote_z"


def shard_of(position: Column, shards: int) -> Column:
    """The shard of the row at ``position``: a hash of it modulo ``shards`` (0 for one)."""
    if shards == 1:
        return F.lit(0)
    return F.pmod(F.xxhash64(position.cast("long")), F.lit(shards)).cast("int")


def held_rows_input(
    points: DataFrame,
    *,
    sizes: Mapping[int, int],
    query: Column,
    shards: int,
    parts: int,
    only_shard: int | None = None,
    cells: Cells | None = None,
) -> DataFrame:
    """The copies of the rows the search's tasks hold, placed by task.

    With ``shards``: ``shards * parts`` tasks. Every row is a reference in the
    ``parts`` tasks of its shard (a query there too when ``query``); a query row is
    also copied, as a query only, to every task of the other shards.

    With ``cells`` (``shards`` is then 1): ``cells.count * parts`` tasks. Every row is
    a reference in the ``parts`` tasks of each cell holding it (its slab's, and those
    whose halo reaches it), and a query (when ``query``) in its slab's cell only.

    ``only_shard`` keeps the copies of that shard's (or cell's) ``parts`` tasks alone.
    """
    position = class_position(class_offsets(sizes))

    def copy(task: Column, reference: bool, is_query: Column) -> Column:
        flags = (F.lit(reference).alias(_REFERENCE), is_query.alias(_QUERY))
        return F.struct(task.alias(TASK), *flags)

    share = F.sequence(F.lit(0), F.lit(parts - 1))
    if cells is not None:
        # Projected in a select of its own: within the select that recasts X, Spark
        # would take X in the projection's lambda for that new column.
        points = points.select(CLASS, IDX, X, projection(cells).alias(_Z))
        z = F.col(_Z)
        copies = F.flatten(
            F.transform(
                holding_cells(cells, z),
                lambda c: F.transform(
                    share, lambda p: copy(c * parts + p, True, query & (c == core_cell(cells, z)))
                ),
            )
        )
        groups = cells.count
    else:
        shard = shard_of(position, shards)
        copies = F.transform(share, lambda p: copy(shard * parts + p, True, query))
        if shards > 1:
            foreign = F.transform(
                F.filter(
                    F.sequence(F.lit(0), F.lit(shards * parts - 1)),
                    lambda t: F.floor(t / parts) != shard,
                ),
                lambda t: copy(t, False, F.lit(True)),
            )
            copies = F.when(query, F.concat(copies, foreign)).otherwise(copies)
        if only_shard is not None and shards > 1:
            # Before the copies are made: that shard's rows and the queries.
            points = points.where((shard == F.lit(only_shard)) | query)
        groups = shards
    rows = points.select(
        CLASS,
        IDX,
        F.col(X).cast("array<double>").alias(X),
        F.explode(copies).alias(_COPY),
    ).select(CLASS, IDX, X, f"{_COPY}.{_QUERY}", f"{_COPY}.{TASK}", f"{_COPY}.{_REFERENCE}")
    if only_shard is not None:
        first = only_shard * parts
        rows = rows.filter(F.col(TASK).between(first, first + parts - 1))
    tasks = parts if only_shard is not None else groups * parts
    return place_by_position(rows, tasks, F.col(TASK))


@dataclass
class HeldRows:
    """One task's rows in position order (the (class, index) order).

    Attributes
    ----------
    x : ndarray (n, d)
        Features.
    classes, idx, position : ndarray (n,)
        Class ordinal, index in the class, position among all rows.
    query, reference : ndarray (n,) of bool
        Whether the row is a query and whether it is a reference of this task.

    """

    x: np.ndarray
    classes: np.ndarray
    idx: np.ndarray
    position: np.ndarray
    query: np.ndarray
    reference: np.ndarray

    def __len__(self) -> int:
        return len(self.idx)

    def local(self, positions: np.ndarray) -> np.ndarray:
        """The task's row numbers of the rows at ``positions`` (every one held)."""
        at = np.searchsorted(self.position, positions)
        if (at >= len(self.position)).any() or (self.position[at] != positions).any():
            raise RuntimeError(
                "spark_smote LSH: a search task misses rows it must hold; this is a bug, "
                "please report it."
            )
        return at


class _Chunks:
    """The numpy chunks of one task's batches, before they are put in position order."""

    def __init__(self) -> None:
        self.x: list[np.ndarray] = []
        self.columns: list[tuple[np.ndarray, ...]] = []

    def add(self, batch: pa.RecordBatch, offsets: Mapping[int, int], dimension: int) -> None:
        classes = batch.column(CLASS).to_numpy()
        idx = batch.column(IDX).to_numpy()
        first = np.zeros(len(classes), np.int64)
        for ordinal, offset in offsets.items():
            first[classes == ordinal] = offset
        self.x.append(matrix_from_list_column(batch.column(X), dimension))
        self.columns.append(
            (
                classes.astype(np.int32),
                idx.astype(np.int64),
                first + idx,
                batch.column(_QUERY).to_numpy(zero_copy_only=False),
                batch.column(_REFERENCE).to_numpy(zero_copy_only=False),
            )
        )

    def held(self, dimension: int) -> HeldRows:
        classes, idx, position, query, reference = (
            np.concatenate([c[i] for c in self.columns]) for i in range(5)
        )
        order = np.argsort(position, kind="stable")
        if (np.diff(position[order]) == 0).any():
            raise RuntimeError(
                "spark_smote LSH: a search task got a row twice; this is a bug, please report it."
            )
        slot = np.empty(len(order), np.int64)
        slot[order] = np.arange(len(order))
        # np.empty commits pages as they are written, while each chunk is released
        # after its copy: the task holds about one copy of the features throughout.
        x = np.empty((len(order), dimension), np.float64)
        first = 0
        while self.x:
            chunk = self.x.pop(0)
            x[slot[first : first + len(chunk)]] = chunk
            first += len(chunk)
            del chunk
        return HeldRows(
            x=x,
            classes=classes[order],
            idx=idx[order],
            position=position[order],
            query=query[order].astype(bool),
            reference=reference[order].astype(bool),
        )


def hold(
    batches: Iterator[pa.RecordBatch], sizes: Mapping[int, int], dimension: int
) -> dict[int, HeldRows]:
    """The rows of each task found in a task's batches (one task's, or more)."""
    offsets = class_offsets(sizes)
    chunks: dict[int, _Chunks] = {}
    for batch in batches:
        if not batch.num_rows:
            continue
        tasks = batch.column(TASK).to_numpy()
        for task in np.unique(tasks).tolist():
            chosen = batch if (tasks == task).all() else batch.filter(pa.array(tasks == task))
            chunks.setdefault(int(task), _Chunks()).add(chosen, offsets, dimension)
    held = {task: chunks.pop(task).held(dimension) for task in sorted(chunks)}
    # The Arrow batches are gone; hand their memory back rather than keep it pooled.
    pa.default_memory_pool().release_unused()
    return held
