"""LSH search among all classes with the rows held by each task: no per-table copies.

Phase 4 (neighbour engine), the cross-class twin of
:mod:`spark_smote._search.whole_class`, for the plans whose
:attr:`~spark_smote._plan.SearchPlan.whole_classes` are set with ``reference='all'``.
Same input (the points table of every class), same output (the cross neighbours table)
as the per-table search of :mod:`spark_smote._search.cross_lsh`, and with one shard the
same neighbours, bit for bit, with the same parameters: each task receives every row
(:mod:`spark_smote._search.held_rows`), orders them in every table with numpy in the
order Spark's sort gives the per-table copies (codes, split, class, index), keeps the
same rows (buckets holding a query, and the anchors), cuts the same chunks
(:func:`~spark_smote._search.kernels.chunk_ranges`) and ranks its share of the queries
there with the same kernel (:func:`~spark_smote._search.cross_kernels.block_top_k`).
What it saves is the cost that dominates the per-table search: L shuffled and sorted
copies of every row, in the tuning (once per width tried) and in the search, and the
shuffle merging the lists.

**Shards.** When the rows' features exceed what one task may hold and the queries are
few, the plan cuts the rows into ``reference_shards`` shards (by a hash of each row's
position): a task holds one shard as its references, plus every query, orders them
together in every table, and ranks each query against the references of its chunk;
each query's lists from the shards are then merged. Each row moves once per task of its
shard instead of once per table, and the distance work grows with the shards (each
ranks every query): the tuning, run on shard 0 against the sample's exact neighbours in
that shard, costs its choices accordingly (:func:`shard_costs`). When the queries are
many, the rows are cut into spatial cells instead (:mod:`~spark_smote._search.cross_cells`).

**Tuning** runs in two tasks holding shard 0 (every row, with one shard), each with
half of the tables: the tuning sample's exact neighbours (against every reference at
once), then for a width the sample's lists in each of its tables with each chunk size
of ``caps`` (a table's order serves them all). Only these lists reach the driver, which
merges them into the recall with 1, 2, ... tables and takes the cheapest choice
reaching the target (:mod:`~spark_smote._search.cross_choice`); the curves stop where
that choice cannot change, and a wider width is tried only when the smallest chunk size
did not reach the target and the search costs many tuning passes.

**Search**: ``parts`` tasks per shard each hold the shard and search every query in
the tables ``t`` with ``t % parts == part``, merging each query's lists table after
table (each list so far bounds what the next table may add); the lists of the tasks
are then merged. Splitting the tables rather than the queries orders each row once per
table in all. A task holds the features once (8 d bytes per row), one table's order
and two k-wide lists per query.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from spark_smote._keys import CLASS, IDX, task_count
from spark_smote._order import ordered_bits
from spark_smote._search.cells import Cells
from spark_smote._search.cross_choice import (
    ORDER_ROW_COST,
    cheapest_reaching,
    search_cost,
    width_settled,
)
from spark_smote._search.cross_exact import (
    DIST,
    NBR,
    NBR_CLASS,
    candidate_schema,
    class_offsets,
    merge_lists,
)
from spark_smote._search.cross_kernels import (
    block_top_k,
    merge_candidates,
    recall_at_k,
)
from spark_smote._search.hashing import bucket_order, project
from spark_smote._search.held_rows import HeldRows, held_rows_input, hold
from spark_smote._search.kernels import chunk_ranges
from spark_smote._search.tuning_rules import WIDTH_FACTORS, base_width

__all__ = [
    "HashDraw",
    "search_whole_reference",
    "tune_whole_reference",
]

# Distance work per search task, in candidate-feature products (queries x tables x
# chunk rows x features), about 2 s of ranking. Tasks split the tables, so more of them
# order no row twice; they only bound each other's candidates less tightly and each
# receive a copy of their shard.
_WORK_PER_TASK = 10_000_000_000
# References per block of the tuning sample's exact search: 36 MB of 18 features.
_TRUTH_BLOCK_ROWS = 1 << 18
# Answered rows per output batch: a batch of k-wide lists stays a few MB.
_OUTPUT_BATCH_ROWS = 1 << 16

# The hash functions: directions (d, tables (m + 1)) and offsets (tables, m).
HashDraw = tuple[np.ndarray, np.ndarray]
# A query's k-wide lists: (classes, indices, distances).
Lists = tuple[np.ndarray, np.ndarray, np.ndarray]


def anchors(held: HeldRows, k: int, *, sharded: bool) -> np.ndarray:
    """Rows every table keeps however it restricts: each class's first k + 1 rows.

    A task holding one shard also keeps its first k + 1 references, so every chunk
    of its order has k candidates.
    """
    kept = held.idx <= k
    if sharded:
        kept[np.flatnonzero(held.reference)[: k + 1]] = True
    return kept


def _table_order(
    held: HeldRows,
    draw: HashDraw,
    width: float,
    table: int,
    *,
    kept: np.ndarray,
    restricted: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """One table's references in search order, and every held row's rank among them.

    The order is (codes, split, class, index), as the per-table search's byte keys
    sort (held rows are in (class, index) order); with ``restricted`` only the rows
    of buckets holding a query, and the ``kept`` rows (:func:`anchors`), stay. A
    row's rank is the number of references before it in that order: its place among
    them when it is one, where it would fall when it is a query only.
    """
    directions, shifts = draw
    m = shifts.shape[1]
    # hashing.project sums feature by feature as lsh_codes' projection does (the same
    # bits), laid out for speed; the codes are then lsh_codes' operations.
    projected = project(held.x, directions[:, table * (m + 1) : (table + 1) * (m + 1)])
    # Column by column, so a task holds one (n, m) array of codes beside the projections.
    codes = np.empty((len(held), m), np.int64)
    for j in range(m):
        scaled = projected[:, j] / width + shifts[table, j]
        np.floor(scaled, out=scaled)
        np.clip(scaled, -(2.0**62), 2.0**62, out=scaled)
        codes[:, j] = scaled
    splits = np.ascontiguousarray(projected[:, m])
    del projected
    order, starts = bucket_order(codes, ordered_bits(splits), np.arange(len(codes), dtype=np.int64))
    if restricted:
        bucket = np.cumsum(starts) - 1
        hit = np.zeros(int(bucket[-1]) + 1, bool)
        hit[bucket[held.query[order]]] = True
        order = order[hit[bucket] | kept[order]]
    is_reference = held.reference[order]
    rank = np.full(len(held), -1, np.int64)
    rank[order] = np.cumsum(is_reference) - is_reference
    return order[is_reference], rank


def _chunk_lists(
    held: HeldRows,
    order: np.ndarray,
    rank: np.ndarray,
    answered: np.ndarray,
    *,
    k: int,
    step: int,
    limits: np.ndarray | None = None,
) -> Lists:
    """The k candidates of the held rows ``answered`` in one table's chunks.

    ``order`` is the table's references in order and ``rank`` the held rows' ranks
    among them (:func:`_table_order`); each answered row is ranked against the
    references of its chunk (:func:`chunk_ranges`, half-size ``step``). ``limits``
    are the answered rows' k-th distances so far (:func:`_merged` with them gives
    what it gives without them; see :func:`block_top_k`).
    """
    lows, highs = chunk_ranges(rank[answered], len(order), step)
    classes = np.empty((len(answered), k), np.int32)
    indices = np.empty((len(answered), k), np.int64)
    distances = np.empty((len(answered), k), np.float64)
    by_chunk = np.argsort(lows, kind="stable")
    starts = np.flatnonzero(np.diff(lows[by_chunk], prepend=-1))
    for start, stop in zip(starts, [*starts[1:], len(by_chunk)], strict=True):
        mine = by_chunk[start:stop]
        # By held row number, which is the (class, index) order block_top_k ranks ties by.
        rows = np.sort(order[lows[mine[0]] : highs[mine[0]]])
        at = answered[mine]
        found = block_top_k(
            held.classes[at],
            held.idx[at],
            held.x[at],
            held.classes[rows],
            held.idx[rows],
            held.x[rows],
            k,
            refs_sorted=True,
            limits=None if limits is None else limits[mine],
        )
        classes[mine], indices[mine], distances[mine] = found
    return classes, indices, distances


def _sample_truth(held: HeldRows, at: np.ndarray, k: int) -> np.ndarray:
    """Distances of the held rows ``at`` to their k nearest references, exactly.

    References are ranked a block at a time and the lists merged, so no copy of the
    task's features is made.
    """
    refs = np.flatnonzero(held.reference)
    best: Lists | None = None
    for start in range(0, len(refs), _TRUTH_BLOCK_ROWS):
        block = refs[start : start + _TRUTH_BLOCK_ROWS]
        found = block_top_k(
            held.classes[at],
            held.idx[at],
            held.x[at],
            held.classes[block],
            held.idx[block],
            held.x[block],
            k,
            refs_sorted=True,
            limits=None if best is None else best[2][:, -1],
        )
        best = found if best is None else _merged([best, found], k)
    assert best is not None
    return best[2]


def _cell_sample(held: HeldRows, size: int) -> np.ndarray:
    """``size`` of the held cell's queries, evenly spaced in position order (all if fewer)."""
    mine = np.flatnonzero(held.query)
    if len(mine) <= size:
        return mine
    return mine[(np.arange(size) * len(mine)) // size]


def _merged(lists: Sequence[Lists], k: int) -> Lists:
    """Several tables' lists of the same rows merged into their k best distinct."""
    parts = [np.concatenate([found[i] for found in lists], axis=1) for i in range(3)]
    return merge_candidates(parts[0], parts[1], parts[2], k)


# Tasks sharing the tuning's tables: in one task, the 2.88M set's 24 tables took 33 s
# with the other core idle.
_TUNING_TASKS = 2
# The sample's lists in one table with one cap, flattened (table -1: the exact lists'
# distances).
_LISTS_SCHEMA = T.StructType(
    [
        T.StructField("width", T.DoubleType()),
        T.StructField("cap", T.LongType()),
        T.StructField("table", T.LongType()),
        T.StructField("classes", T.ArrayType(T.IntegerType())),
        T.StructField("idx", T.ArrayType(T.LongType())),
        T.StructField("dist", T.ArrayType(T.DoubleType())),
    ]
)


def _lists_batch(width: float, cap: int, table: int, lists: Lists) -> pa.RecordBatch:
    """One row of :data:`_LISTS_SCHEMA`."""
    classes, indices, distances = (np.ravel(a) for a in lists)
    return pa.RecordBatch.from_arrays(
        [
            pa.array([width], pa.float64()),
            pa.array([cap], pa.int64()),
            pa.array([table], pa.int64()),
            pa.array([classes.astype(np.int32)], pa.list_(pa.int32())),
            pa.array([indices.astype(np.int64)], pa.list_(pa.int64())),
            pa.array([distances.astype(np.float64)], pa.list_(pa.float64())),
        ],
        schema=to_arrow_schema(_LISTS_SCHEMA),
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
    caps: Sequence[int],
    bucket_width: float | None,
    target_recall: float,
    stop_when_reached: bool,
    restricted: bool,
    queries: int,
    shards: int,
    cells: Cells | None = None,
) -> tuple[list[tuple[tuple[float, int], np.ndarray]], float, int]:
    """The tuning statistics, from two tasks holding the first shard (a job per width).

    With ``cells``, the largest cell instead, its own sample (:func:`_cell_sample`) and
    recall times the share of exact neighbours in their query's cell (``cells.kept``).

    Each task holds shard 0's rows as references and every query, and returns the
    sample's lists in its share of the tables (``t % 2``), each list of a task
    bounding its next; the driver merges them table after table into the curves.
    Recall is measured against the sample's exact neighbours in the shard, which the
    search's lists from that shard are after: merged over the shards, those lists hold
    each query's k nearest of all rows as often.

    Returns
    -------
    (curves, base, sampled)
        Per (width, cap) tried, in order, the sample recall with 1, 2, ... tables;
        the sample's median k-th distance; the sampled rows. Widths are 4 then 8
        times the median (or ``bucket_width``), each with every cap of ``caps`` (a
        table's order serves them all). With ``stop_when_reached``, no width after
        one where a wider one cannot pay for its tuning (the smallest cap reached
        ``target_recall``, or the search costs little beside a tuning pass:
        :func:`~spark_smote._search.cross_choice.width_settled`), and no table
        after the one where the choice is made.

    """
    offsets = class_offsets(sizes)
    positions = np.array(
        sorted(offsets[o] + int(i) for o, rows in sample.items() for i in rows), np.int64
    )
    sample_size = len(positions)
    most_tables = draw[1].shape[0]
    total_rows, queries = shard_costs(sum(sizes.values()), queries, shards, cells)
    tuning_cell = 0 if cells is None else int(np.argmax(cells.rows))
    # A width's tuning orders the rows of one shard or cell in every table.
    held_rows = total_rows // shards if cells is None else max(cells.rows)
    tuning_pass = most_tables * held_rows * ORDER_ROW_COST

    def _choice_made(curves: list[list[float]], tables: int) -> bool:
        cheapest = cheapest_reaching(curves, caps, target_recall, rows=total_rows, queries=queries)
        open_costs = [
            search_cost(cap, tables + 1, rows=total_rows, queries=queries)
            for cap, curve in zip(caps, curves, strict=True)
            if curve[-1] < target_recall
        ]
        return cheapest is not None and all(cost > cheapest for cost in open_costs)

    def tune(width: float | None) -> tuple[float, np.ndarray, dict[tuple[int, int], Lists]]:
        """One job: each tuning task's lists of the sample in its share of the tables."""

        def lists(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            for task, held in hold(batches, sizes, dimension).items():
                part = task % parts
                at = held.local(positions) if cells is None else _cell_sample(held, sample_size)
                truth = _sample_truth(held, at, k) if part == 0 or width is None else None
                used = width
                if used is None:
                    assert truth is not None
                    used = base_width(truth) * WIDTH_FACTORS[0]
                if truth is not None and part == 0:
                    yield _lists_batch(used, -1, -1, (np.empty((0, k)),) * 2 + (truth,))
                running: list[Lists | None] = [None for _ in caps]
                kept = anchors(held, k, sharded=shards > 1 or cells is not None)
                for table in range(part, most_tables, parts):
                    order, rank = _table_order(
                        held, draw, used, table, kept=kept, restricted=restricted
                    )
                    for c, cap in enumerate(caps):
                        so_far = running[c]
                        limits = None if so_far is None else so_far[2][:, -1]
                        found = _chunk_lists(
                            held, order, rank, at, k=k, step=cap // 2, limits=limits
                        )
                        running[c] = found if so_far is None else _merged([so_far, found], k)
                        yield _lists_batch(used, cap, table, found)

        held_input = held_rows_input(
            points,
            sizes=sizes,
            query=query,
            shards=shards,
            parts=parts,
            only_shard=tuning_cell,
            cells=cells,
        )
        found: dict[tuple[int, int], Lists] = {}
        truth, used = np.empty((0, k)), 0.0
        for row in held_input.mapInArrow(lists, _LISTS_SCHEMA).collect():
            shape = (-1, k)
            dist = np.array(row["dist"], np.float64).reshape(shape)
            used = float(row["width"])
            if row["table"] < 0:
                truth = dist
                continue
            classes = np.array(row["classes"], np.int32).reshape(shape)
            indices = np.array(row["idx"], np.int64).reshape(shape)
            found[(int(row["cap"]), int(row["table"]))] = (classes, indices, dist)
        return used, truth, found

    def curves_of(found: dict[tuple[int, int], Lists], truth: np.ndarray) -> list[list[float]]:
        """Each cap's recall with 1, 2, ... tables, cut where the choice is made."""
        curves: list[list[float]] = []
        for cap in caps:
            merged: Lists | None = None
            curve = []
            for table in range(most_tables):
                lists = found[(cap, table)]
                merged = lists if merged is None else _merged([merged, lists], k)
                curve.append(recall_at_k(merged[2], truth) * reached_share)
            curves.append(curve)
        if stop_when_reached:
            for tables in range(1, most_tables + 1):
                if _choice_made([c[:tables] for c in curves], tables):
                    return [c[:tables] for c in curves]
        return curves

    parts = min(_TUNING_TASKS, most_tables)
    reached_share = 1.0 if cells is None else cells.kept
    # The first width (given, or the first factor times the median k-th distance).
    width, truth, found = tune(bucket_width)
    base = base_width(truth)
    later = [] if bucket_width else [base * factor for factor in WIDTH_FACTORS[1:]]
    result = []
    while True:
        curves = curves_of(found, truth)
        pairs = zip(caps, curves, strict=True)
        result += [((width, cap), np.array(c, np.float64)) for cap, c in pairs]
        settled = width_settled(
            curves,
            caps,
            target_recall,
            rows=total_rows,
            queries=queries,
            tuning_pass=tuning_pass,
        )
        if not later or (stop_when_reached and settled):
            return result, base, len(truth)
        width, _, found = tune(later.pop(0))


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
    shards: int,
    cells: Cells | None = None,
) -> DataFrame:
    """The cross neighbours table by the whole-reference search (module docstring).

    ``shards * parts`` tasks (``cells.count * parts`` with ``cells``): ``parts`` grows
    with the distance work (``_WORK_PER_TASK``), up to ``max_parts`` tasks in all and
    one per table; the rows a query gets do not depend on it. With several tasks per
    query each query's lists from them are merged
    (:func:`~spark_smote._search.cross_exact.merge_lists`).
    """
    work = queries * shards * tables * min(bucket_cap, sum(sizes.values())) * dimension
    tasks = min(max_parts, task_count(points, work, _WORK_PER_TASK))
    groups = shards if cells is None else cells.count
    parts = max(1, min(tables, tasks // groups))
    schema = candidate_schema()
    arrow_schema = to_arrow_schema(schema)

    def search(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for task, held in hold(batches, sizes, dimension).items():
            mine = np.flatnonzero(held.query)
            if not len(mine):
                continue
            kept = anchors(held, k, sharded=groups > 1)
            best: Lists | None = None
            for t in range(task % parts, tables, parts):
                order, rank = _table_order(held, draw, width, t, kept=kept, restricted=restricted)
                # Each query's k-th distance so far bounds what this table may add.
                limits = None if best is None else best[2][:, -1]
                found = _chunk_lists(
                    held, order, rank, mine, k=k, step=bucket_cap // 2, limits=limits
                )
                best = found if best is None else _merged([best, found], k)
            assert best is not None
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

    held_input = held_rows_input(
        points,
        sizes=sizes,
        query=query,
        shards=shards,
        parts=parts,
        cells=cells,
    )
    found = held_input.mapInArrow(search, schema)
    # With cells a query is answered in its slab's cell only.
    answering = parts if cells is not None else shards * parts
    return found if answering == 1 else merge_lists(found, k)


def shard_costs(
    rows: int, queries: int, shards: int, cells: Cells | None = None
) -> tuple[int, int]:
    """(rows ordered, queries ranked) per table of a search over ``shards`` shards.

    Each shard orders its references and the queries from the other shards, and ranks
    every query there; with ``cells``, each orders the rows it holds (estimated).
    """
    if cells is not None:
        return sum(cells.rows), queries
    return rows + (shards - 1) * queries, shards * queries
