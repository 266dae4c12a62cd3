"""Shared steps of the SMOTE variants that look across classes (Borderline-SMOTE, ADASYN).

Where it sits: keys -> neighbour engine -> **the variant's own step** -> output. The
variants differ from SMOTE in two places: which rows are bases (Borderline-SMOTE: the
rows *in danger*; ADASYN: every row, in proportion to its share of other-class
neighbours), and both are read from each row's nearest rows among *all* classes. This
module holds what both need:

- :func:`every_class_points`: the points table of :mod:`spark_smote._keys` for every
  class (the reference rows of the cross-class search), materialised, values checked;
- :func:`other_class_counts`: the cross-class search, reduced to each query row's count
  of other-class rows among its first ``m`` neighbours (and, when asked, its first
  ``k`` neighbours), materialised, with the histogram of those counts per class (small
  statistics) and, for LSH, the agreement of that count's classification with exact
  search on a seeded sample;
- :func:`positions_in_group`: a dense, stable position (in index order) for rows of one
  group of a class, bucketed so no task sorts a whole large class;
- :func:`synthetic_from_draws`: given a *draws table* (label, class, base index,
  neighbour class, neighbour index, applied step), the synthetic table that
  :func:`spark_smote._synthesis.assemble_output` writes out. It is the generic half of
  SMOTE's own ``draw_synthetic`` (which also draws the triples): SMOTE could produce its
  draws table and call this, leaving one lookup path for every generator.

Every random draw of the variants is keyed by (seed, stream, class ordinal, counters)
through :func:`spark_smote._random.uniform_column`, with streams of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_smote._checkpoint import materialized
from spark_smote._features import (
    FeatureLayout,
    checked_magnitude,
    row_checks,
    values_checked_with_keys,
)
from spark_smote._keys import (
    CLASS,
    ID,
    IDX,
    ClassPlan,
    X,
    build_points,
    lookup_side,
    spread_points,
    task_count,
)
from spark_smote._params import GeneratorParams
from spark_smote._plan import PlanLimits, plan_search
from spark_smote._search import NBR, NBR_CLASS, CrossLSHParams, CrossReport, nearest_neighbors
from spark_smote._search.cross_exact import sample_condition, sample_cross_neighbors, sample_queries
from spark_smote._synthesis import CHUNKS_PER_TASK, DRAWS_PER_CHUNK, LAMBDA

__all__ = [
    "BASE",
    "NBR",
    "NBR_CLASS",
    "NEIGHBOR",
    "NEIGHBOR_CLASS",
    "OTHER",
    "POSITION",
    "STEP",
    "VARIANT_LSH_PARAMS",
    "CrossCounts",
    "class_label",
    "every_class_points",
    "exploded",
    "other_class_counts",
    "positions_in_group",
    "synthetic_from_draws",
]

OTHER = "_smote_other"
POSITION = "_smote_position"
BASE = "_smote_base"
NEIGHBOR = "_smote_neighbor"
NEIGHBOR_CLASS = "_smote_neighbor_class"
STEP = "_smote_step"
_BUCKET = "_smote_bucket"
_CHUNK = "_smote_chunk"
_OFFSET = "_smote_offset"
# Columns of the synthetic table that assemble_output reads.
_BASE_X = "_smote_base_x"
_NEIGHBOR_X = "_smote_neighbor_x"
_BASE_ID = "_smote_base_id"
_NEIGHBOR_ID = "_smote_neighbor_id"
# The plan's default limits: index buckets and the broadcast size of row lookups.
_LIMITS = PlanLimits()
_INDEX_BUCKET_ROWS = _LIMITS.rows_per_index_bucket

# LSH settings of the variants' cross-class search. A row's class (in danger or not;
# its ratio r_i) changes when one of its m neighbours is missed and replaced by a row of
# the other kind, so agreement with exact search runs below recall@m: at the search's
# default target 0.97, ADASYN agreed on 0.963-0.970 of the rows; at 0.99, Borderline and
# ADASYN agreed on 0.988-0.997 (jobs/agreement_benchmark.py), for 2-3 more tables.
VARIANT_LSH_PARAMS = CrossLSHParams(target_recall=0.99)


def class_label(plans: Sequence[ClassPlan], label_type: T.DataType) -> Column:
    """A row's label from its class ordinal (a CASE over ``plans``)."""
    label = F.lit(None).cast(label_type)
    for plan in plans:
        value = F.lit(plan.label).cast(label_type)
        label = F.when(F.col(CLASS) == F.lit(plan.ordinal), value).otherwise(label)
    return label


def every_class_points(
    df: DataFrame,
    plans: Sequence[ClassPlan],
    layout: FeatureLayout,
    params: GeneratorParams,
) -> tuple[DataFrame, float]:
    """The points table of every class, materialised, with the largest feature magnitude.

    :func:`spark_smote._keys.build_points` keys the classes with rows to add; every
    class is marked so here (``n_new`` of the copies is only read by the keys phase),
    since the cross-class search needs every row as a reference. Each row's index is
    the one SMOTE would give it: it depends only on the rows of its class.

    Raises
    ------
    InvalidFeatureValuesError
        Null, NaN or infinite feature values (checked in the same pass).

    """
    keyed = [replace(plan, n_new=max(plan.n_new, 1)) for plan in plans]
    sizes = {p.ordinal: p.n_rows for p in plans}
    checks = row_checks(layout) if values_checked_with_keys(layout) else {}
    points = build_points(df, keyed, layout, params, sizes, checks=checks)
    points = materialized(spread_points(points, sum(sizes.values())))
    largest = float("inf")
    if checks:
        largest = checked_magnitude(points, df, layout)
        points = points.drop(*checks)
    return points, largest


@dataclass(frozen=True)
class CrossCounts:
    """The cross-class search reduced to what the variants read.

    Attributes
    ----------
    table : DataFrame
        Materialised, one row per query row: ``_smote_class``, ``_smote_idx``,
        ``_smote_other`` (other-class rows among its first ``m`` neighbours) and, when
        asked, ``_smote_nbr_class`` / ``_smote_nbr`` (its first ``k`` neighbours).
    histogram : dict
        Per query class ordinal: {count of other-class neighbours: rows}.
    report : CrossReport
        The search's report.
    agreement : float or None
        LSH only: the classification agreement with exact search on the sample.
    agreement_sample : int
        Rows of that sample.

    """

    table: DataFrame
    histogram: dict[int, dict[int, int]]
    report: CrossReport
    agreement: float | None
    agreement_sample: int


def _other_count(classes: Column, m: int) -> Column:
    """Rows of another class among the first ``m`` of a neighbour-class array."""
    return F.size(F.filter(F.slice(classes, 1, m), lambda c: c != F.col(CLASS)))


def other_class_counts(
    points: DataFrame,
    *,
    query_classes: Sequence[int],
    m: int,
    k: int | None,
    dimension: int,
    sizes: Mapping[int, int],
    seed: int,
    method: str,
    classify: Callable[[int], Any],
    lsh_params: CrossLSHParams | None = None,
) -> CrossCounts:
    """Each query row's other-class count among its ``m`` nearest rows of every class.

    One cross-class search with ``max(m, k)`` neighbours: its first ``m`` (and first
    ``k``) are the ``m`` (``k``) nearest, ties broken by (class, index) as the search
    orders them. With LSH, the same count is found by exact search for a seeded sample
    of query rows, and the share of sample rows for which ``classify`` of both counts
    agree is measured.

    Parameters
    ----------
    points : DataFrame
        The points table of every class (:func:`every_class_points`).
    query_classes : sequence of int
        The class ordinals whose rows are queries.
    m : int
        Neighbours counted.
    k : int or None
        Neighbours kept per row (borderline-2's interpolation partners), or None.
    dimension : int
        Features per row.
    sizes : mapping
        Rows per class ordinal, every class.
    seed : int
        The run's seed (LSH hash functions and sample).
    method : {'auto', 'exact', 'lsh'}
        The search method.
    classify : callable
        Maps a count to the class of the row the variant uses (for the agreement).
    lsh_params : CrossLSHParams, optional
        LSH settings of the search; default :data:`VARIANT_LSH_PARAMS`.

    """
    width = max(m, k or 0)
    plan = plan_search(
        sizes, width, dimension, method, reference="all", query_classes=query_classes
    )
    params = VARIANT_LSH_PARAMS if lsh_params is None else lsh_params
    found, search = nearest_neighbors(points, plan, width, dimension, seed, lsh_params=params)
    report = search.cross
    assert report is not None  # a search among all classes reports as a whole
    columns: list[Column | str] = [CLASS, IDX, _other_count(F.col(NBR_CLASS), m).alias(OTHER)]
    if k is not None:
        columns += [F.slice(NBR_CLASS, 1, k).alias(NBR_CLASS), F.slice(NBR, 1, k).alias(NBR)]
    table = materialized(found.select(*columns))
    histogram: dict[int, dict[int, int]] = {c: {} for c in query_classes}
    for row in table.groupBy(CLASS, OTHER).count().collect():
        histogram[int(row[CLASS])][int(row[OTHER])] = int(row["count"])
    agreement, sample_rows = None, 0
    if report.method == "lsh":
        agreement, sample_rows = _classification_agreement(
            points, table, query_classes, m, width, dimension, sizes, seed, classify
        )
    return CrossCounts(table, histogram, report, agreement, sample_rows)


# Sample rows of the agreement measure: at most one exact-search block of queries, so
# the check costs one pass over the points; drawn from streams of their own, so not the
# rows the tuner chose its tables by (their agreement would be optimistic).
AGREEMENT_SAMPLE_ROWS = 1000
_AGREEMENT_STREAM_KEY = (1 << 31) + 1


def _classification_agreement(
    points: DataFrame,
    table: DataFrame,
    query_classes: Sequence[int],
    m: int,
    width: int,
    dimension: int,
    sizes: Mapping[int, int],
    seed: int,
    classify: Callable[[int], Any],
) -> tuple[float, int]:
    """Share of a seeded sample of query rows classified alike by LSH and exact search."""
    query_sizes = {c: sizes[c] for c in query_classes}
    sample = sample_queries(query_sizes, AGREEMENT_SAMPLE_ROWS, seed, _AGREEMENT_STREAM_KEY)
    exact = sample_cross_neighbors(points, sample, sizes=sizes, k=width, dimension=dimension)
    exact = exact.select(CLASS, IDX, _other_count(F.col(NBR_CLASS), m).alias("exact"))
    pairs = table.where(sample_condition(sample)).select(CLASS, IDX, F.col(OTHER).alias("lsh"))
    rows = pairs.join(exact, on=[CLASS, IDX]).select("lsh", "exact").collect()
    same = sum(classify(int(r["lsh"])) == classify(int(r["exact"])) for r in rows)
    return (same / len(rows) if rows else 1.0), len(rows)


def positions_in_group(rows: DataFrame) -> DataFrame:
    """Number the rows of one group per class densely, in index order.

    Parameters
    ----------
    rows : DataFrame
        The rows of the group (``_smote_class``, ``_smote_idx``, more columns).

    Returns
    -------
    DataFrame
        ``rows`` with ``_smote_position``: 0 .. n_g - 1 within its class, by index.
        The rows are counted per (class, index bucket), bucket = index //
        ``rows_per_index_bucket`` (one small aggregate); the offsets of the buckets are
        prefix sums of those counts (driver side), so each window sorts one bucket,
        never a whole class.

    """
    counts = _bucket_counts(rows)
    offsets: list[Column] = []
    running: dict[int, int] = {}
    for (ordinal, bucket), n in sorted(counts.items()):
        offsets.append(
            F.struct(
                F.lit(ordinal).cast("int").alias(CLASS),
                F.lit(bucket).cast("long").alias(_BUCKET),
                F.lit(running.get(ordinal, 0)).cast("long").alias(_OFFSET),
            )
        )
        running[ordinal] = running.get(ordinal, 0) + n
    table = rows.sparkSession.range(1).select(F.inline(F.array(*offsets)))
    bucketed = rows.withColumn(_BUCKET, F.floor(F.col(IDX) / F.lit(_INDEX_BUCKET_ROWS)))
    within = Window.partitionBy(CLASS, _BUCKET).orderBy(IDX)
    return (
        bucketed.join(F.broadcast(table), on=[CLASS, _BUCKET])
        .withColumn(POSITION, F.col(_OFFSET) + F.row_number().over(within) - F.lit(1))
        .drop(_BUCKET, _OFFSET)
    )


def _bucket_counts(rows: DataFrame) -> dict[tuple[int, int], int]:
    """Rows per (class ordinal, index bucket) of ``rows``."""
    bucket = F.floor(F.col(IDX) / F.lit(_INDEX_BUCKET_ROWS)).alias(_BUCKET)
    counted = rows.groupBy(CLASS, bucket).count().collect()
    return {(int(r[CLASS]), int(r[_BUCKET])): int(r["count"]) for r in counted}


def exploded(table: DataFrame, count: str, index: str, total: int) -> DataFrame:
    """One row per unit of ``count``: ``table``'s row with ``index`` = 0 .. count - 1.

    Exploded in chunks of ``DRAWS_PER_CHUNK`` spread over tasks first, so a row with a
    huge count neither builds one huge array nor lands whole in one task. ``total``
    (the sum of the counts) sets the number of tasks.
    """
    chunks = F.ceil(F.col(count) / F.lit(DRAWS_PER_CHUNK)).cast("long")
    split = table.where(F.col(count) > 0).withColumn(
        _CHUNK, F.explode(F.sequence(F.lit(0).cast("long"), chunks - F.lit(1)))
    )
    tasks = task_count(table, -(-total // DRAWS_PER_CHUNK), CHUNKS_PER_TASK)
    start = F.col(_CHUNK) * F.lit(DRAWS_PER_CHUNK)
    stop = F.least(start + F.lit(DRAWS_PER_CHUNK), F.col(count)) - F.lit(1)
    spread = split.repartition(tasks, *[F.col(c) for c in split.columns])
    return spread.withColumn(index, F.explode(F.sequence(start, stop))).drop(_CHUNK)


def synthetic_from_draws(
    draws: DataFrame,
    points: DataFrame,
    params: GeneratorParams,
    *,
    base_classes: Sequence[int],
    neighbor_classes: Sequence[int],
    sizes: Mapping[int, int],
    dimension: int,
) -> DataFrame:
    """The synthetic table :func:`~spark_smote._synthesis.assemble_output` writes out.

    Parameters
    ----------
    draws : DataFrame
        One row per synthetic row: ``label``, ``_smote_class``, ``_smote_base`` (the
        base's index in its class), ``_smote_neighbor_class``, ``_smote_neighbor``
        (the neighbour's class ordinal and index) and ``_smote_step`` (the step
        applied: the synthetic row is ``x_base + step * (x_neighbor - x_base)``).
    points : DataFrame
        The points table holding every base and neighbour (materialised).
    params : GeneratorParams
        ``id_col``: provenance ids are its values, else the rows' indices.
    base_classes, neighbor_classes : sequence of int
        The class ordinals bases and neighbours belong to (the lookups read only them).
    sizes : mapping
        Rows per class ordinal.
    dimension : int
        Features per row. With ``sizes``, sets each lookup's join: broadcast up to
        ``BROADCAST_LOOKUP_BYTES`` of rows (:func:`spark_smote._keys.lookup_side`).

    Returns
    -------
    DataFrame
        ``label``, ``_smote_class``, ``_smote_lambda`` (the step), the base's and the
        neighbour's features and ids: two joins with the points table.

    """
    key = ID if params.id_col is not None else IDX
    base_side = points.where(F.col(CLASS).isin(list(base_classes))).select(
        CLASS,
        F.col(IDX).alias(BASE),
        F.col(X).alias(_BASE_X),
        F.col(key).alias(_BASE_ID),
    )
    neighbor_side = points.where(F.col(CLASS).isin(list(neighbor_classes))).select(
        F.col(CLASS).alias(NEIGHBOR_CLASS),
        F.col(IDX).alias(NEIGHBOR),
        F.col(X).alias(_NEIGHBOR_X),
        F.col(key).alias(_NEIGHBOR_ID),
    )
    base_side = lookup_side(base_side, broadcast=_broadcast(base_classes, sizes, dimension))
    neighbor_side = lookup_side(
        neighbor_side, broadcast=_broadcast(neighbor_classes, sizes, dimension)
    )
    joined = draws.join(base_side, on=[CLASS, BASE]).join(
        neighbor_side, on=[NEIGHBOR_CLASS, NEIGHBOR]
    )
    return joined.select(
        "label",
        CLASS,
        F.col(STEP).alias(LAMBDA),
        _BASE_X,
        _NEIGHBOR_X,
        _BASE_ID,
        _NEIGHBOR_ID,
    )


def _broadcast(classes: Sequence[int], sizes: Mapping[int, int], dimension: int) -> bool:
    """Whether a lookup of the rows of ``classes`` (features, keys, id) is broadcast."""
    estimated_bytes = sum(sizes[c] for c in classes) * (dimension + 4) * 8
    return estimated_bytes <= _LIMITS.broadcast_lookup_bytes
