"""LSH tuning in Spark: the statistics jobs, the choice per class, the report.

Part of the neighbour search (phase 4, :mod:`spark_smote._search`); the rules are in
:mod:`spark_smote._search.tuning_rules`. Per class the statistics come from one of:

- one task holding the class (:func:`_one_task_tuning_udf`), for classes of
  :attr:`~spark_smote._plan.SearchPlan.one_task_tuning`;
- the keys phase's numbering task, which computed them with
  :func:`statistics_for_numbering` (:attr:`~spark_smote._plan.SearchPlan.statistics_on_points`);
- two jobs over blocks of the class: the sample against its class in blocks
  (:func:`sample_exact_neighbors`), then the ranks of the sample in every candidate
  order (:func:`sample_ranks`).

All three give the same numbers, from the same functions. Only indices, k distances and
ranks per sampled row reach the driver, never data rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from spark_smote._arrow import list_column, matrix_from_list_column
from spark_smote._keys import CLASS, IDX, SIZE, X
from spark_smote._random import STREAM_LSH, STREAM_SAMPLE, numpy_generator
from spark_smote._search.cell_cuts import class_cells
from spark_smote._search.hashing import ClassHash, draw_hash, probe_ranks
from spark_smote._search.kernels import sample_block_neighbors
from spark_smote._search.table import NeighborReport, of_classes, sample_condition
from spark_smote._search.tuning_rules import (
    CAP_CHOICES,
    DEFAULT_CAP,
    KNN_DISTANCES,
    KNN_INDICES,
    MANY_CLASS_ROWS,
    RANKS,
    SAMPLE_BLOCK_ROWS,
    WIDTH_FACTORS,
    LSHParams,
    TunedClasses,
    Tuning,
    base_width,
    candidate_curves,
    choose_parameters,
    class_statistics,
    hashes_for,
    recall_by_tables,
)

__all__ = [
    "class_hashes",
    "lsh_report",
    "sample_exact_neighbors",
    "sample_indices",
    "statistics_for_numbering",
    "tune_classes",
]

logger = logging.getLogger("spark_smote")

_BLOCK = "_smote_sblock"
_ROLE = "_smote_srole"
# Rows per reference block of the rank count: it copies its probes to every block, so
# its blocks are larger than the sample search's.
_RANK_BLOCK_ROWS = 16384

# The tuning statistics per sampled row or probe. Each tuning job returns the fields it
# computes.
_STAT_FIELDS = {
    CLASS: T.StructField(CLASS, T.IntegerType()),
    IDX: T.StructField(IDX, T.LongType()),
    KNN_DISTANCES: T.StructField(KNN_DISTANCES, T.ArrayType(T.DoubleType())),
    KNN_INDICES: T.StructField(KNN_INDICES, T.ArrayType(T.LongType())),
    RANKS: T.StructField(RANKS, T.ArrayType(T.LongType())),
}


def stat_schema(*names: str) -> T.StructType:
    """The schema of a tuning job's output: class, index and the named statistics."""
    return T.StructType([_STAT_FIELDS[name] for name in (CLASS, IDX, *names)])


def sample_indices(
    sizes: Mapping[int, int], sample_size: int, seed: int, purpose: int
) -> dict[int, list[int]]:
    """Seeded sample of row indices per class (indices only; no data rows)."""
    chosen: dict[int, list[int]] = {}
    for ordinal, size in sorted(sizes.items()):
        generator = numpy_generator(seed, STREAM_SAMPLE, ordinal, purpose)
        count = min(sample_size, size)
        chosen[ordinal] = sorted(int(i) for i in generator.choice(size, count, replace=False))
    return chosen


def blocks_with_sample(
    points: DataFrame, indices: Mapping[int, list[int]], block_rows: int
) -> DataFrame:
    """The rows in blocks of ``block_rows`` indices, with the sample copied to each block.

    Every row appears once with role 1 in its block; each sampled row appears again with
    role 0 in every block of its class, so a (class, block) group holds one block and
    the sample, whatever the class size or skew.
    """
    references = points.select(
        CLASS,
        IDX,
        X,
        F.floor(F.col(IDX) / F.lit(block_rows)).cast("long").alias(_BLOCK),
        F.lit(1).alias(_ROLE),
    )
    n_blocks = F.ceil(F.col(SIZE) / F.lit(block_rows)).cast("long")
    sampled = points.filter(sample_condition(indices)).select(
        CLASS,
        IDX,
        X,
        F.explode(F.sequence(F.lit(0).cast("long"), n_blocks - F.lit(1))).alias(_BLOCK),
        F.lit(0).alias(_ROLE),
    )
    return sampled.unionByName(references)


def _sample_udf(k: int, dimension: int, output_schema: pa.Schema) -> Callable[[pa.Table], pa.Table]:
    """Build the UDF comparing the sample queries with one reference block."""

    def compare_block(group: pa.Table) -> pa.Table:
        group = group.take(
            pa.compute.sort_indices(group, [(_ROLE, "ascending"), (IDX, "ascending")])
        )
        roles = group.column(_ROLE).to_numpy()
        idx = group.column(IDX).to_numpy()
        x = matrix_from_list_column(group.column(X), dimension)
        is_query = roles == 0
        best, best_idx = sample_block_neighbors(
            x[is_query], idx[is_query], x[~is_query], idx[~is_query], k
        )
        queries = group.filter(pa.array(is_query))
        return pa.table(
            {
                CLASS: queries.column(CLASS),
                IDX: queries.column(IDX),
                KNN_DISTANCES: list_column(best, pa.float64()),
                KNN_INDICES: list_column(best_idx, pa.int64()),
            }
        ).cast(output_schema)

    return compare_block


def sample_exact_neighbors(
    points: DataFrame, indices: Mapping[int, list[int]], k: int, dimension: int
) -> DataFrame:
    """Exact k nearest distances and indices of sampled rows against their class.

    Parameters
    ----------
    points : DataFrame
        The points table.
    indices : mapping
        Sampled row indices per class ordinal (from :func:`sample_indices`).
    k : int
        Neighbours per query.
    dimension : int
        Features per row.

    Returns
    -------
    DataFrame
        One row per sampled query: class, index, ``_smote_knn_dist`` (k nearest
        Euclidean distances, ascending) and ``_smote_knn_idx`` (their indices,
        ties by index). Lazy; small enough to collect.

    Notes
    -----
    Each sampled query is copied to every reference block of its class; a group holds
    one block (4096 rows) and the sample, whatever the class size or skew.

    """
    schema = stat_schema(KNN_DISTANCES, KNN_INDICES)
    udf = _sample_udf(k, dimension, to_arrow_schema(schema))
    blocks = blocks_with_sample(points, indices, SAMPLE_BLOCK_ROWS)
    partial = blocks.groupBy(_BLOCK, CLASS).applyInArrow(udf, schema)
    pairs = F.flatten(
        F.collect_list(F.arrays_zip(F.col(KNN_DISTANCES).alias("d"), F.col(KNN_INDICES).alias("n")))
    )
    best = F.slice(F.array_sort(pairs), 1, k)
    return partial.groupBy(CLASS, IDX).agg(
        F.transform(best, lambda s: s["d"]).alias(KNN_DISTANCES),
        F.transform(best, lambda s: s["n"]).alias(KNN_INDICES),
    )


def _rank_udf(
    hashes: Mapping[int, ClassHash],
    widths: Mapping[int, list[float]],
    dimension: int,
    output_schema: pa.Schema,
) -> Callable[[pa.Table], pa.Table]:
    """Build the UDF counting, per probe row, the block's rows before it in each order."""

    def count_block(group: pa.Table) -> pa.Table:
        roles = group.column(_ROLE).to_numpy()
        ordinal = int(group.column(CLASS)[0].as_py())
        idx = group.column(IDX).to_numpy()
        x = matrix_from_list_column(group.column(X), dimension)
        # Probes first: a probe's own reference copy (same key) then sorts after it.
        order_in = np.argsort(roles, kind="stable")
        is_ref = roles[order_in] == 1
        counts = probe_ranks(x[order_in], idx[order_in], is_ref, hashes[ordinal], widths[ordinal])
        probes = group.take(pa.array(order_in[: len(counts)]))
        return pa.table(
            {
                CLASS: probes.column(CLASS),
                IDX: probes.column(IDX),
                RANKS: list_column(counts, pa.int64()),
            }
        ).cast(output_schema)

    return count_block


def sample_ranks(
    points: DataFrame,
    hashes: Mapping[int, ClassHash],
    widths: Mapping[int, list[float]],
    truth: Mapping[int, dict[int, list[int]]],
    dimension: int,
) -> dict[int, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """Ranks of the sampled rows and of their true neighbours in every candidate order.

    Returns, per class and sampled row, (its ranks, ranks of its true neighbours), one
    column per (candidate width, table). Only ranks (counts) reach the driver: one row
    per sampled row or true neighbour, at most ``(k + 1) * sample_size`` per class.
    """
    probe_indices = {
        o: sorted(set(rows) | {v for nbrs in rows.values() for v in nbrs})
        for o, rows in truth.items()
    }
    schema = stat_schema(RANKS)
    udf = _rank_udf(hashes, widths, dimension, to_arrow_schema(schema))
    blocks = blocks_with_sample(points, probe_indices, _RANK_BLOCK_ROWS)
    partial = blocks.groupBy(_BLOCK, CLASS).applyInArrow(udf, schema)
    columns = len(next(iter(widths.values()))) * next(iter(hashes.values())).max_tables
    zero = F.array_repeat(F.lit(0).cast("long"), columns)
    summed = partial.groupBy(CLASS, IDX).agg(
        F.aggregate(
            F.collect_list(RANKS), zero, lambda acc, r: F.zip_with(acc, r, lambda a, b: a + b)
        ).alias(RANKS)
    )
    return ranks_by_query(summed.collect(), truth)


def ranks_by_query(
    rows: list[Any], truth: Mapping[int, dict[int, list[int]]]
) -> dict[int, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """Per class and sampled row: (its ranks, its true neighbours' ranks), from probe rows."""
    ranks = {(int(r[CLASS]), int(r[IDX])): r[RANKS] for r in rows}
    out: dict[int, dict[int, tuple[np.ndarray, np.ndarray]]] = {o: {} for o in truth}
    for ordinal, sampled in truth.items():
        for query, nbrs in sampled.items():
            found = np.array([ranks[ordinal, v] for v in [query, *nbrs]], dtype=np.int64)
            out[ordinal][query] = (found[0], found[1:])
    return out


def _one_task_tuning_udf(
    k: int,
    dimension: int,
    hashes: Mapping[int, ClassHash],
    indices: Mapping[int, list[int]],
    bucket_width: float | None,
    output_schema: pa.Schema,
) -> Callable[[pa.Table], pa.Table]:
    """Build the UDF computing both tuning statistics of one whole class in one task.

    One row per probe (sampled row or true neighbour of one): its exact neighbours
    (empty unless sampled) and its ranks (:func:`class_statistics`).
    """

    def tune_class(group: pa.Table) -> pa.Table:
        ordinal = int(group.column(CLASS)[0].as_py())
        order = np.argsort(group.column(IDX).to_numpy(), kind="stable")
        x = matrix_from_list_column(group.column(X), dimension)[order]
        sample = np.asarray(indices[ordinal], np.int64)
        probes, stats = class_statistics(x, sample, k, hashes[ordinal], bucket_width)
        return pa.table(
            {
                CLASS: pa.array(np.full(len(probes), ordinal, np.int32)),
                IDX: pa.array(probes),
                **stats,
            }
        ).cast(output_schema)

    return tune_class


# The statistics computed for one class in the task that numbers it: (class ordinal,
# its features in index order) -> columns of one value per row (null but on probes).
ClassStatistics = Callable[[int, np.ndarray], dict[str, pa.Array]]


def statistics_for_numbering(
    sizes: Mapping[int, int],
    k: int,
    dimension: int,
    seed: int,
    params: LSHParams | None = None,
) -> tuple[list[T.StructField], ClassStatistics]:
    """The tuning statistics as columns the keys phase's numbering task adds per class.

    The keys phase may number each class in one task that holds it
    (:func:`spark_smote._keys.numbered_in_tasks`); the sampler hands it this function,
    which computes in the same task the statistics :func:`_one_task_tuning_udf` would,
    so the tuning needs no job and shuffle of its own. :func:`tune_classes` with
    ``statistics_on_points`` then collects them from the probe rows.

    Returns
    -------
    (fields, statistics)
        The columns' fields and the per-class function; it returns no columns (all
        null) when nothing is tuned.

    """
    params = (params or LSHParams()).checked(k)
    hashes = class_hashes(sizes, dimension, seed, params)
    indices = sample_indices(sizes, params.sample_size, seed, purpose=0)
    fields = stat_schema(KNN_DISTANCES, KNN_INDICES, RANKS).fields[2:]

    def statistics(ordinal: int, x: np.ndarray) -> dict[str, pa.Array]:
        if params.untuned:
            return {}
        sample = np.asarray(indices[ordinal], np.int64)
        probes, by_probe = class_statistics(x, sample, k, hashes[ordinal], params.bucket_width)
        at = np.full(len(x), -1, np.int64)
        at[probes] = np.arange(len(probes))
        slot = pa.array(at, mask=at < 0)
        return {name: column.take(slot) for name, column in by_probe.items()}

    return list(fields), statistics


def class_hashes(
    sizes: Mapping[int, int], dimension: int, seed: int, params: LSHParams
) -> dict[int, ClassHash]:
    """The hash functions of every class: as many tables as the tuning may choose."""
    tables = params.drawn_tables
    return {
        o: draw_hash(
            numpy_generator(seed, STREAM_LSH, o),
            dimension,
            hashes_for(n_rows, params.hashes_per_table, above=MANY_CLASS_ROWS),
            tables,
        )
        for o, n_rows in sizes.items()
    }


def _recall_of(
    query_ranks: np.ndarray,
    neighbor_ranks: np.ndarray,
    found: np.ndarray,
    n: int,
    inside: np.ndarray | None,
) -> Callable[[int, int], np.ndarray]:
    """The recall curve of one class by (width number, cap), from its sample's ranks."""

    def recall_of(width: int, cap: int) -> np.ndarray:
        return recall_by_tables(
            query_ranks[:, width], neighbor_ranks[:, :, width], found, n, cap // 2, inside
        )

    return recall_of


def tune_classes(
    points: DataFrame,
    sizes: Mapping[int, int],
    k: int,
    dimension: int,
    seed: int,
    params: LSHParams,
    *,
    one_task: Collection[int] = (),
    statistics_on_points: bool = False,
    cell_classes: Collection[int] = (),
    cell_bytes: int = 0,
) -> TunedClasses:
    """Run the tuning job(s) and choose width and tables per class.

    The classes of ``one_task`` take one job holding each class in one task
    (:func:`_one_task_tuning_udf`); the others two jobs over blocks of the class. Both
    give the same statistics. ``statistics_on_points``: the statistics are already on
    the points' probe rows (:func:`statistics_for_numbering`); one small job collects
    them. The classes of ``cell_classes`` are also cut into cells of at most
    ``cell_bytes`` of features (:func:`class_cells`), and their recall counts only the
    neighbours in a query's cell; a class whose cells do not fit is returned without
    cells (and its recall counted as for the per-table search).
    """
    max_tables = params.drawn_tables
    hashes = class_hashes(sizes, dimension, seed, params)
    caps = CAP_CHOICES if params.bucket_cap is None else (params.bucket_cap,)
    if params.bucket_width is not None and params.tables is not None:  # params.untuned
        cap = params.bucket_cap if params.bucket_cap is not None else DEFAULT_CAP
        fixed = Tuning(params.bucket_width, cap, params.tables, -1.0, -1.0)
        return TunedClasses(sizes, dict.fromkeys(sizes, fixed), hashes)
    indices = sample_indices(sizes, params.sample_size, seed, purpose=0)
    in_one_task = set(sizes) if statistics_on_points else set(one_task) & set(sizes)
    in_blocks = [o for o in sizes if o not in in_one_task]
    rows: list[Any] = []
    if statistics_on_points:
        probes = points.where(F.col(RANKS).isNotNull())
        rows += probes.select(CLASS, IDX, KNN_DISTANCES, KNN_INDICES, RANKS).collect()
    elif in_one_task:
        schema = stat_schema(KNN_DISTANCES, KNN_INDICES, RANKS)
        tune = _one_task_tuning_udf(
            k, dimension, hashes, indices, params.bucket_width, to_arrow_schema(schema)
        )
        rows += (
            of_classes(points, in_one_task, sizes)
            .select(CLASS, IDX, X)
            .groupBy(CLASS)
            .applyInArrow(tune, schema)
            .collect()
        )
    blocked = of_classes(points, in_blocks, sizes) if in_blocks else points
    if in_blocks:
        rows += (
            sample_exact_neighbors(blocked, {o: indices[o] for o in in_blocks}, k, dimension)
            .select(CLASS, IDX, KNN_DISTANCES, KNN_INDICES)
            .collect()
        )
    truth: dict[int, dict[int, list[int]]] = {o: {} for o in sizes}
    distances: dict[int, dict[int, list[float]]] = {o: {} for o in sizes}
    for row in rows:
        if len(row[KNN_INDICES]) >= k:
            truth[int(row[CLASS])][int(row[IDX])] = [int(v) for v in row[KNN_INDICES][:k]]
            distances[int(row[CLASS])][int(row[IDX])] = [float(v) for v in row[KNN_DISTANCES][:k]]
    bases = {
        o: base_width(np.array(list(distances[o].values()), np.float64).reshape(-1, k))
        for o in sizes
    }
    widths = {
        o: [params.bucket_width]
        if params.bucket_width is not None
        else [bases[o] * f for f in WIDTH_FACTORS]
        for o in sizes
    }
    cut = {o for o in cell_classes if o in sizes}
    cells = (
        class_cells(points, {o: truth[o] for o in cut}, sizes, dimension, cell_bytes) if cut else {}
    )
    ranks = ranks_by_query(
        [r for r in rows if int(r[CLASS]) in in_one_task], {o: truth[o] for o in in_one_task}
    )
    if in_blocks:
        blocked_truth = {o: truth[o] for o in in_blocks}
        ranks.update(sample_ranks(blocked, hashes, widths, blocked_truth, dimension))
    tunings: dict[int, Tuning] = {}
    for ordinal, n in sizes.items():
        queries = sorted(ranks[ordinal])
        n_widths = len(widths[ordinal])
        shape = (len(queries), n_widths, max_tables)
        query_ranks = np.array([ranks[ordinal][q][0] for q in queries], np.int64).reshape(shape)
        neighbor_ranks = np.array([ranks[ordinal][q][1] for q in queries], np.int64).reshape(
            len(queries), k, n_widths, max_tables
        )
        found = np.array([distances[ordinal][q] for q in queries], np.float64).reshape(-1, k) == 0
        inside = (
            np.array([cells[ordinal][1][q] for q in queries], bool).reshape(-1, k)
            if ordinal in cells and cells[ordinal][0].fits
            else None
        )

        recall_of = _recall_of(query_ranks, neighbor_ranks, found, n, inside)
        curves = candidate_curves(recall_of, widths[ordinal], caps, params)
        width, cap, tables = choose_parameters(curves, params)
        tunings[ordinal] = Tuning(
            width,
            cap,
            tables,
            float(curves[width, cap][tables - 1]),
            bases[ordinal],
            tuple(round(float(v), 4) for v in curves[width, cap]),
        )
    for ordinal, (cut_class, _) in cells.items():
        if not cut_class.fits:
            logger.warning(
                "spark_smote: class ordinal %d cannot be cut into cells of %d MB (its rows "
                "crowd along its main direction; the largest cell would hold about %d "
                "rows): it is searched over per-table copies instead.",
                ordinal,
                cell_bytes >> 20,
                max(cut_class.rows),
            )
    fitting = {o: c for o, (c, _) in cells.items() if c.fits}
    return TunedClasses(sizes, tunings, hashes, fitting)


def lsh_report(tuned: TunedClasses, k: int, params: LSHParams) -> NeighborReport:
    """The search's report per class; a warning for each class below the target."""
    report = NeighborReport()
    for ordinal, tuning in tuned.tunings.items():
        if 0 <= tuning.sample_recall < params.target_recall:
            logger.warning(
                "spark_smote: LSH on class ordinal %d reaches recall@%d %.3f on its tuning "
                "sample, below target_recall=%.3f even with %d tables; neighbor_search='exact' "
                "finds the exact neighbours.",
                ordinal,
                k,
                tuning.sample_recall,
                params.target_recall,
                tuning.tables,
            )
        report.method[ordinal] = "lsh"
        report.parameters[ordinal] = {
            "bucket_width": tuning.width,
            "hashes_per_table": tuned.hashes[ordinal].hashes,
            "tables": tuning.tables,
            "bucket_cap": tuning.cap,
            "estimated_recall": round(tuning.sample_recall, 4),
            "recall_by_tables": list(tuning.recall_by_tables),
            "kth_distance_median": tuning.kth_distance_median,
            "sample_size": min(params.sample_size, tuned.sizes[ordinal]),
        }
        if ordinal in tuned.cells:
            cells = tuned.cells[ordinal]
            report.parameters[ordinal].update(
                cells=cells.count, cell_halo=cells.halo, cell_neighbors_kept=cells.kept
            )
    return report
