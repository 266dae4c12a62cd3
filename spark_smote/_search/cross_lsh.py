"""LSH cross-class neighbour search: p-stable hashing, bounded chunks, exact distances.

Phase 4 (neighbour engine), the scalable twin of :mod:`spark_smote._search.cross_exact`:
same input (the points table of every class), same output (the cross neighbours
table). One family of hash functions serves all classes, since a query's neighbours
may be of any class:

1. **hashing** (``mapInArrow``, numpy): L tables, each of m p-stable hashes
   ``h(x) = floor((a.x + b) / w)`` (Datar et al. 2004) ANDed into the row's bucket, plus
   a split direction; each row gets one sort key per table ordering it by (bucket codes,
   split, class, index), a total order;
2. **query buckets only**: a row is kept in a table when its bucket there holds a query
   row (a join with the distinct query buckets), or when it is one of the k + 1 first
   rows of its class (anchors, so every table keeps at least k + 1 rows); reference rows
   of buckets without queries never reach a distance computation nor the sort. With
   every row a query, nothing is dropped;
3. **bounded chunks** (one shuffle, one task per table, sorted): the kept rows of a table
   stream through :class:`~spark_smote._search.cross_kernels.SortedRun`, which cuts them
   into overlapping chunks of at most ``bucket_cap`` rows; each query is answered in one
   chunk, against every row of it, with exact distances. A huge bucket (a million
   identical rows included) is split; a small one is searched with its neighbours in key
   order (a multi-probe of adjacent cells). Chunks without queries are skipped;
4. **merge**: each query's L lists are merged in numpy
   (:func:`~spark_smote._search.cross_exact.merge_lists`).

**Tuning** (statistics only reach the driver): a seeded sample of the query rows gets
its exact k nearest rows (:func:`~spark_smote._search.cross_exact.sample_cross_neighbors`).
The median k-th distance w0 sets the candidate widths 4 w0, then 8 w0; for a width, the
search of steps 1-3 runs with ``max_tables`` tables, computing distances for the sampled
queries only. A table's lists do not depend on the other tables nor on which queries get
distances, so merging the sample's lists of the first L tables gives exactly what the
search with L tables returns for them: the tuner takes the fewest tables reaching
``target_recall``, and the reported recall is that of the search's own output on the
sample, measured, not estimated.

When the features of every row fit one task (the plan's ``whole_classes``), the same
search runs with each task holding every row
(:mod:`~spark_smote._search.cross_whole`): no per-table copies, the same neighbours for
the same parameters, and a tuning in one task that also chooses the chunk size
(``bucket_cap``) among ``cross_choice.CROSS_CAP_CHOICES``. Up to a few times that size
(the plan's ``reference_shards``) the tasks hold shards of the rows instead, and the
shards' lists are merged, or, when the queries are too many to copy to every shard,
in spatial cells (:mod:`~spark_smote._search.cross_cells`); only beyond does the
search copy the rows per table.

Every random choice (directions, offsets, the sample) comes from
:func:`spark_smote._random.numpy_generator` keyed by the seed; projections are summed
feature by feature, so a row's keys do not depend on its batch, and the chunks are fixed
by the total sort order: the output is the same, bit for bit, for any partitioning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from spark_smote._errors import InvalidParameterError
from spark_smote._keys import CLASS, IDX, X, place_by_position, task_count
from spark_smote._plan import SearchPlan
from spark_smote._random import STREAM_LSH, numpy_generator
from spark_smote._search.cells import Cells
from spark_smote._search.cross_cells import cut_rows
from spark_smote._search.cross_choice import cap_choices, choose_tuning
from spark_smote._search.cross_exact import (
    CROSS_STREAM_KEY,
    DIST,
    NBR,
    NBR_CLASS,
    candidate_schema,
    merge_lists,
    sample_condition,
    sample_cross_neighbors,
    sample_queries,
)
from spark_smote._search.cross_kernels import (
    SortedRun,
    block_top_k,
    list_column,
    lsh_codes,
    matrix_from_list_column,
    merge_candidates,
    recall_at_k,
)
from spark_smote._search.cross_whole import (
    search_whole_reference,
    shard_costs,
    tune_whole_reference,
)
from spark_smote._search.hashing import sort_keys
from spark_smote._search.table import SORT_KEY, SORT_KEYS, TABLE
from spark_smote._search.tuning_rules import (
    WIDTH_FACTORS,
    base_width,
    check_shared_fields,
    hashes_for,
)

__all__ = [
    "CrossLSHParams",
    "CrossLSHTuning",
    "lsh_cross_neighbors",
]

# A copy's bucket (its sort key's leading bytes), whether it is a query, whether it
# gets distances, whether its bucket holds a query.
_BUCKET = "_smote_bucket"
_QUERY = "_smote_query"
_ANSWER = "_smote_answer"
_HIT = "_smote_hit"

# The chunk size of the per-table search (whose tuning would cost a pass per size).
PER_TABLE_CAP = 1024
# Up to this many (table, query bucket) pairs the query buckets are broadcast to the
# filter join (about 60 bytes each: a few MB); above, both sides are shuffled.
_BROADCAST_QUERY_BUCKETS = 200_000


@dataclass(frozen=True)
class CrossLSHParams:
    """Parameters of the LSH cross-class search; ``None`` fields are tuned.

    Attributes
    ----------
    bucket_width : float, optional
        Width ``w`` of each hash function's buckets, in feature units. Tuned: 4 (else
        8) times the sample's median k-th neighbour distance.
    tables : int, optional
        Hash tables ORed (``L``). Tuned: the fewest reaching ``target_recall`` on the
        sample, at most ``max_tables``.
    hashes_per_table : int, optional
        Hash functions ANDed into one bucket (``m``). None: 4 up to 100,000 rows of
        all classes, 8 above (:func:`~spark_smote._search.tuning_rules.hashes_for`).
    bucket_cap : int, optional
        Most rows of one chunk (one distance computation); at least ``4 (k + 1)``.
        Tuned when the search holds every row in its tasks: the one of
        ``cross_choice.CROSS_CAP_CHOICES`` reaching the target at the least estimated cost (rows
        ordered plus candidates ranked, :func:`choose_tuning`); else 1024.
    target_recall : float, default 0.97
        Recall@k the tuner requires on its sample.
    sample_size : int, default 256
        Query rows sampled for tuning and for the measured recall.
    max_tables : int, default 24
        Upper bound on the tuned ``tables`` (the 2.88M set needs 20 of 2048 rows).

    """

    bucket_width: float | None = None
    tables: int | None = None
    hashes_per_table: int | None = None
    bucket_cap: int | None = None
    target_recall: float = 0.97
    sample_size: int = 256
    max_tables: int = 24

    def checked(self, k: int) -> CrossLSHParams:
        """The parameters after validation against ``k`` (an odd cap made even).

        Raises
        ------
        InvalidParameterError
            A value outside its range, naming the field, the value and the fix.

        """
        check_shared_fields("CrossLSHParams", self, optional=("tables", "hashes_per_table"))
        cap = self.bucket_cap
        if cap is None:
            return self
        if not isinstance(cap, int) or isinstance(cap, bool) or cap < 4 * (k + 1):
            raise InvalidParameterError(
                f"CrossLSHParams.bucket_cap={cap!r}: must be an integer >= 4 * (k + 1) = "
                f"{4 * (k + 1)} so every chunk holds k neighbours of its queries; raise it, "
                "lower k, or pass None to tune it."
            )
        return replace(self, bucket_cap=cap + cap % 2)


@dataclass(frozen=True)
class CrossLSHTuning:
    """What the LSH search ran with and the recall it reached on its sample.

    ``recall`` is the recall@k of the search's own output for ``sample_queries``
    sampled query rows against exact search; ``recall_by_tables`` the same with the
    first 1, 2, ... tables of the chosen width.
    """

    bucket_width: float
    tables: int
    hashes_per_table: int
    bucket_cap: int
    recall: float
    recall_by_tables: tuple[float, ...]
    kth_distance_median: float
    sample_queries: int
    cells: Cells | None = None

    def as_dict(self) -> dict[str, Any]:
        """The parameters and measurements, for a report."""
        found = {
            "bucket_width": self.bucket_width,
            "tables": self.tables,
            "hashes_per_table": self.hashes_per_table,
            "bucket_cap": self.bucket_cap,
            "kth_distance_median": self.kth_distance_median,
            "recall_by_tables": list(self.recall_by_tables),
        }
        if self.cells is not None:
            found["cells"] = self.cells.count
            found["cell_halo"] = self.cells.halo
            found["cell_neighbors_kept"] = self.cells.kept
        return found


def _draw_hash(seed: int, dimension: int, hashes: int, tables: int) -> tuple[np.ndarray, ...]:
    """Directions ``(d, tables (m + 1))`` and offsets ``(tables, m)`` of the hash functions."""
    generator = numpy_generator(seed, STREAM_LSH, CROSS_STREAM_KEY)
    directions = generator.standard_normal((tables * (hashes + 1), dimension)).T.copy()
    shifts = generator.uniform(0.0, 1.0, (tables, hashes))
    return directions, shifts


def _hash_udf(
    directions: np.ndarray, shifts: np.ndarray, width: float, dimension: int, schema: pa.Schema
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Build the ``mapInArrow`` function adding each row's sort key in every table."""
    tables = shifts.shape[0]

    def hash_rows(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            n = batch.num_rows
            if n == 0:
                continue
            classes = batch.column(CLASS).to_numpy()
            idx = batch.column(IDX).to_numpy()
            x = matrix_from_list_column(batch.column(X), dimension).astype(np.float64)
            codes, splits = lsh_codes(x, directions, shifts, width)
            keys = sort_keys(codes, splits, classes, idx)
            flat = pa.Array.from_buffers(
                pa.binary(keys.shape[2]), n * tables, [None, pa.py_buffer(keys.tobytes())]
            )
            offsets = pa.array(np.arange(n + 1, dtype=np.int32) * np.int32(tables))
            columns = {name: batch.column(name) for name in (CLASS, IDX, X, _QUERY, _ANSWER)}
            columns[SORT_KEYS] = pa.ListArray.from_arrays(offsets, flat.cast(pa.binary()))
            yield pa.RecordBatch.from_arrays([columns[f] for f in schema.names], schema=schema)

    return hash_rows


def _search_udf(
    k: int, dimension: int, step: int, schema: pa.Schema
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Build the ``mapInArrow`` function answering the queries of sorted tables.

    Its partitions are sorted by (table, key), so each table arrives as one run in key
    order; each run streams through a :class:`SortedRun`.
    """

    def answer(table: int, chunks: list[Any]) -> Iterator[pa.RecordBatch]:
        for chunk in chunks:
            q = chunk.queries
            nbr_class, nbr, dist = block_top_k(
                chunk.classes[q], chunk.idx[q], chunk.x[q], chunk.classes, chunk.idx, chunk.x, k
            )
            columns = {
                TABLE: pa.array(np.full(len(q), table, np.int32)),
                CLASS: pa.array(chunk.classes[q], pa.int32()),
                IDX: pa.array(chunk.idx[q], pa.int64()),
                NBR_CLASS: list_column(nbr_class, pa.int32()),
                NBR: list_column(nbr, pa.int64()),
                DIST: list_column(dist, pa.float64()),
            }
            yield pa.RecordBatch.from_arrays([columns[f] for f in schema.names], schema=schema)

    def search(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        run: SortedRun | None = None
        current = -1
        for batch in batches:
            if batch.num_rows == 0:
                continue
            tables = batch.column(TABLE).to_numpy()
            classes = batch.column(CLASS).to_numpy()
            idx = batch.column(IDX).to_numpy()
            x = matrix_from_list_column(batch.column(X), dimension).astype(np.float64)
            answered = batch.column(_ANSWER).to_numpy(zero_copy_only=False)
            starts = np.flatnonzero(np.diff(tables, prepend=tables[0] - 1))
            for lo, hi in zip(starts, [*starts[1:], len(tables)], strict=True):
                if run is None or tables[lo] != current:
                    if run is not None:
                        yield from answer(current, run.finish())
                    run, current = SortedRun(step, dimension), int(tables[lo])
                rows = slice(lo, hi)
                chunks = run.add(classes[rows], idx[rows], x[rows], answered[rows])
                yield from answer(current, chunks)
        if run is not None:
            yield from answer(current, run.finish())

    return search


def _table_candidates(
    points: DataFrame,
    *,
    query: Column,
    answer: Column,
    restricted: bool,
    queries: int,
    directions: np.ndarray,
    shifts: np.ndarray,
    width: float,
    k: int,
    dimension: int,
    cap: int,
) -> DataFrame:
    """Steps 1-3: each answered query's k candidates in every table (one row per table).

    ``query`` marks the rows whose buckets are kept (all rows when not ``restricted``),
    ``answer`` the queries that get distances (the queries, or the tuning sample).
    """
    tables, hashes = shifts.shape
    hashed_schema = T.StructType(
        [
            T.StructField(CLASS, T.IntegerType()),
            T.StructField(IDX, T.LongType()),
            T.StructField(X, T.ArrayType(T.DoubleType())),
            T.StructField(_QUERY, T.BooleanType()),
            T.StructField(_ANSWER, T.BooleanType()),
            T.StructField(SORT_KEYS, T.ArrayType(T.BinaryType())),
        ]
    )
    hash_rows = _hash_udf(directions, shifts, width, dimension, to_arrow_schema(hashed_schema))
    copies = (
        points.select(
            CLASS,
            IDX,
            F.col(X).cast("array<double>").alias(X),
            query.alias(_QUERY),
            answer.alias(_ANSWER),
        )
        .mapInArrow(hash_rows, hashed_schema)
        .select(CLASS, IDX, X, _QUERY, _ANSWER, F.posexplode(SORT_KEYS).alias(TABLE, SORT_KEY))
        .withColumn(_BUCKET, F.substring(F.col(SORT_KEY), 1, 8 * hashes))
    )
    if restricted:
        hits = (
            copies.where(F.col(_QUERY))
            .select(TABLE, _BUCKET)
            .distinct()
            .withColumn(_HIT, F.lit(True))
        )
        if queries * tables <= _BROADCAST_QUERY_BUCKETS:
            hits = F.broadcast(hits)
        # Anchors: the k + 1 first rows of each class stay in every table, so a table
        # never has fewer than k + 1 rows (a chunk then always has k for each query).
        copies = copies.join(hits, on=[TABLE, _BUCKET], how="left").where(
            F.col(_HIT).isNotNull() | (F.col(IDX) <= F.lit(k))
        )
    searched_schema = T.StructType(
        [T.StructField(TABLE, T.IntegerType()), *candidate_schema().fields]
    )
    search = _search_udf(k, dimension, cap // 2, to_arrow_schema(searched_schema))
    return (
        place_by_position(copies, task_count(points, tables, 1), F.col(TABLE))
        .sortWithinPartitions(TABLE, SORT_KEY)
        .select(TABLE, CLASS, IDX, X, _ANSWER)
        .mapInArrow(search, searched_schema)
    )


def _recall_curve(
    rows: list[Any], truth: Mapping[tuple[int, int], np.ndarray], k: int, tables: int
) -> np.ndarray:
    """Sample recall@k with the first 1, 2, ... ``tables`` tables, from per-table lists."""
    keys = sorted(truth)
    position = {key: i for i, key in enumerate(keys)}
    shape = (len(keys), tables, k)
    classes = np.full(shape, -1, np.int32)
    indices = np.full(shape, -1, np.int64)
    distances = np.full(shape, np.inf)
    for row in rows:
        at = position[int(row[CLASS]), int(row[IDX])]
        table = int(row[TABLE])
        classes[at, table] = row[NBR_CLASS]
        indices[at, table] = row[NBR]
        distances[at, table] = row[DIST]
    true_distances = np.array([truth[key] for key in keys]).reshape(len(keys), k)
    curve = []
    for used in range(1, tables + 1):
        flat = (len(keys), used * k)
        found = merge_candidates(
            classes[:, :used].reshape(flat),
            indices[:, :used].reshape(flat),
            distances[:, :used].reshape(flat),
            k,
        )[2]
        curve.append(recall_at_k(found, true_distances))
    return np.array(curve)


def lsh_cross_neighbors(
    points: DataFrame,
    plan: SearchPlan,
    *,
    query: Column,
    k: int,
    dimension: int,
    seed: int,
    params: CrossLSHParams,
) -> tuple[DataFrame, CrossLSHTuning]:
    """The k nearest rows of all classes for the query rows, by LSH; see module docstring.

    Parameters
    ----------
    points : DataFrame
        The points table of every class.
    plan : SearchPlan
        A plan of ``reference='all'``: its query classes (``class_sizes``) and every
        class of ``points`` (``reference_sizes``).
    query : Column
        Boolean: whether a row is a query (of the plan's query classes).
    k, dimension, seed : int
        Neighbours per query, features per row, the run's seed.
    params : CrossLSHParams
        Checked parameters (:meth:`CrossLSHParams.checked`).

    Returns
    -------
    (DataFrame, CrossLSHTuning)
        The cross neighbours table (lazy) and the parameters with the measured recall.

    Notes
    -----
    Spark jobs run here. Holding every row in its tasks (the plan's
    ``whole_classes``): one tuning task. Else: the sample's exact search, and one
    tuning search per width tried (``max_tables`` copies of the kept rows, distances
    for the sample only); the returned search then costs L copies of the kept rows,
    one shuffle and sort of them, and one shuffle of the L candidate lists per query.

    """
    query_sizes, sizes = plan.class_sizes, plan.reference_sizes
    queries = sum(query_sizes.values())
    restricted = queries < sum(sizes.values())
    shards = plan.reference_shards
    most_tables = params.tables if params.tables is not None else params.max_tables
    hashes = hashes_for(sum(sizes.values()), params.hashes_per_table)
    directions, shifts = _draw_hash(seed, dimension, hashes, most_tables)
    sample = sample_queries(query_sizes, params.sample_size, seed)
    cells = cut_rows(
        points, plan, sample, k=k, dimension=dimension, seed=seed, sample_size=params.sample_size
    )
    whole = bool(plan.whole_classes) and (cells is not None or not plan.cell_classes)
    if whole:
        curves, base, sampled = tune_whole_reference(
            points,
            query=query,
            sizes=sizes,
            sample=sample,
            draw=(directions, shifts),
            k=k,
            dimension=dimension,
            caps=[params.bucket_cap] if params.bucket_cap is not None else cap_choices(k, sizes),
            bucket_width=params.bucket_width,
            target_recall=params.target_recall,
            stop_when_reached=params.tables is None,
            restricted=restricted,
            queries=queries,
            shards=shards,
            cells=cells,
        )
    else:
        curves, base, sampled = _tune_per_table(
            points,
            query=query,
            sample=sample,
            sizes=sizes,
            restricted=restricted,
            queries=queries,
            directions=directions,
            shifts=shifts,
            k=k,
            dimension=dimension,
            params=params,
        )
    cost_rows, cost_queries = shard_costs(sum(sizes.values()), queries, shards, cells)
    width, cap, tables, curve = choose_tuning(curves, params, rows=cost_rows, queries=cost_queries)
    tuning = CrossLSHTuning(
        bucket_width=width,
        tables=tables,
        hashes_per_table=hashes,
        bucket_cap=cap,
        recall=float(curve[tables - 1]),
        recall_by_tables=tuple(round(float(v), 4) for v in curve),
        kth_distance_median=base,
        sample_queries=sampled,
        cells=cells,
    )
    used = directions[:, : tables * (hashes + 1)]
    if whole:
        found = search_whole_reference(
            points,
            query=query,
            sizes=sizes,
            queries=queries,
            draw=(used, shifts[:tables]),
            width=width,
            tables=tables,
            k=k,
            dimension=dimension,
            bucket_cap=cap,
            restricted=restricted,
            max_parts=plan.max_tasks_per_class,
            shards=shards,
            cells=cells,
        )
        return found, tuning
    candidates = _table_candidates(
        points,
        query=query,
        answer=query,
        restricted=restricted,
        queries=queries,
        directions=used,
        shifts=shifts[:tables],
        width=width,
        k=k,
        dimension=dimension,
        cap=cap,
    ).drop(TABLE)
    return merge_lists(candidates, k), tuning


def _tune_per_table(
    points: DataFrame,
    *,
    query: Column,
    sample: Mapping[int, list[int]],
    sizes: Mapping[int, int],
    restricted: bool,
    queries: int,
    directions: np.ndarray,
    shifts: np.ndarray,
    k: int,
    dimension: int,
    params: CrossLSHParams,
) -> tuple[list[tuple[tuple[float, int], np.ndarray]], float, int]:
    """The tuning statistics by Spark jobs over per-table copies (see the module docstring).

    Returns, as :func:`~spark_smote._search.cross_whole.tune_whole_reference`, the
    recall curve of each width tried (none after the first reaching the target when
    ``tables`` is tuned), the sample's median k-th distance and the sampled rows.
    """
    truth_search = sample_cross_neighbors(points, sample, sizes=sizes, k=k, dimension=dimension)
    truth_rows = truth_search.collect()
    truth = {(int(r[CLASS]), int(r[IDX])): np.array(r[DIST], np.float64) for r in truth_rows}
    base = base_width(np.array(list(truth.values())).reshape(len(truth), k))
    widths = (
        [params.bucket_width]
        if params.bucket_width is not None
        else [base * factor for factor in WIDTH_FACTORS]
    )
    cap = params.bucket_cap if params.bucket_cap is not None else PER_TABLE_CAP
    curves = []
    for width in widths:
        rows = _table_candidates(
            points,
            query=query,
            answer=sample_condition(sample),
            restricted=restricted,
            queries=queries,
            directions=directions,
            shifts=shifts,
            width=width,
            k=k,
            dimension=dimension,
            cap=cap,
        ).collect()
        curve = _recall_curve(rows, truth, k, shifts.shape[0])
        curves.append(((width, cap), curve))
        if params.tables is None and (curve >= params.target_recall).any():
            break
    return curves, base, len(truth)
