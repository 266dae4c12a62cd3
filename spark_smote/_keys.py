"""Phase 3: stable keys and a dense index for every row of the classes to grow.

Turns the input into the internal *points* table, one row per minority row::

    _smote_class  int            class ordinal (position in sorted label order)
    _smote_n      long           rows in the class
    _smote_idx    long           0 .. n-1, the row's place in a stable order of its class
    _smote_x      array<double>  the features
    _smote_id     (id_col type)  the user's row id, only when id_col is given

The stable order is (xxhash64 of the key, key), where the key is ``id_col`` when given
and the feature vector otherwise; rows with identical features are interchangeable, so
ties among them cannot change any output. The order therefore depends only on the rows'
content, never on partitioning or row order. The index is computed bucket by bucket
(bucket = hash mod B), with bucket offsets from a small prefix sum, so no single task
has to sort a whole large class.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from spark_smote._arrow import binary_rows, matrix_from_list_column
from spark_smote._checkpoint import materialized
from spark_smote._faults import inject
from spark_smote._features import (
    BAD_ROW,
    FeatureLayout,
    checked_magnitude,
    feature_array,
    row_checks,
)
from spark_smote._order import order_ties, ordered_bits
from spark_smote._params import SamplerParams
from spark_smote._plan import PlanLimits

__all__ = [
    "CLASS",
    "HASH",
    "ID",
    "IDX",
    "SIZE",
    "ClassPlan",
    "X",
    "build_points",
    "checked_points",
    "class_order",
    "keyed_rows",
    "lookup_side",
    "materialized_points",
    "numbered_in_tasks",
    "order_key",
    "place_by_position",
    "spread_points",
    "task_count",
]

CLASS = "_smote_class"
SIZE = "_smote_n"
IDX = "_smote_idx"
X = "_smote_x"
ID = "_smote_id"
NEW = "_smote_new"
HASH = "_smote_hash"
_BUCKET = "_smote_bucket"
_OFFSET = "_smote_offset"
_LABEL = "_smote_label"

# Minority rows per task of the stages that read the points table.
POINTS_PER_TASK = 20_000


def task_count(df: DataFrame, rows: int, rows_per_task: int) -> int:
    """Tasks for a stage of ``rows`` rows: one per ``rows_per_task``, within [1, P].

    P is the session's ``spark.sql.shuffle.partitions``. Stages that repartition to
    this count keep it under adaptive execution, which would otherwise coalesce a
    small but CPU-heavy stage (the minority rows, a few MB) into one task.
    """
    limit = int(df.sparkSession.conf.get("spark.sql.shuffle.partitions") or "200")
    return max(1, min(limit, -(-rows // rows_per_task)))


def place_by_position(df: DataFrame, partitions: int, position: Column) -> DataFrame:
    """``df`` over ``partitions`` tasks, the rows at ``position`` j in task ``j % partitions``.

    Uses ``DataFrame.repartitionById`` (Spark 4.1 and later, classic and Connect), which
    takes the position as an int and reduces it modulo ``partitions`` itself. Spark
    4.0 lacks it; there the rows are hash-partitioned by position instead, which keeps
    each position's rows together but may stack several positions in one task. Only
    where a group of rows runs is chosen, never what it computes: the output does not
    depend on this placement.
    """
    if hasattr(df, "repartitionById"):
        return df.repartitionById(partitions, position.cast("int"))
    return df.repartition(partitions, position)


def lookup_side(table: DataFrame, *, broadcast: bool) -> DataFrame:
    """A table of minority rows to look rows up in, with its join strategy.

    ``broadcast`` (the plan's choice, from the table's estimated size) broadcasts it.
    Otherwise it asks for a sort-merge join: the other side often descends from a
    one-row-per-class table (the synthesis draws), which Spark estimates tiny and would
    otherwise broadcast in full.
    """
    if broadcast:
        return F.broadcast(table)
    return table.hint("merge")


def spread_points(points: DataFrame, rows: int) -> DataFrame:
    """The points table over ``rows / POINTS_PER_TASK`` tasks (see :func:`task_count`).

    The numbering leaves a class in one partition; the neighbour search's hashing and
    tuning read the points in Python, so they are spread before being materialised.
    Skipped when every class is searched whole (the plan's ``spread_points``): that
    search and its tuning send each class whole to its tasks through a shuffle.
    """
    return points.repartition(task_count(points, rows, POINTS_PER_TASK), CLASS, IDX)


@dataclass(frozen=True)
class ClassPlan:
    """One class of the input and what the run does with it.

    Attributes
    ----------
    label : object
        The label value.
    ordinal : int
        Position of the label in sorted order; the class key in internal tables.
    n_rows : int
        Rows of the class in the input.
    n_new : int
        Synthetic rows to add (0 for classes left alone).

    """

    label: Any
    ordinal: int
    n_rows: int
    n_new: int


def class_table(df: DataFrame, plans: list[ClassPlan], label_type: T.DataType) -> DataFrame:
    """A small DataFrame (label, class ordinal, size, rows to add) of the classes to grow.

    Built from literals in the JVM (``inline`` of an array of structs), so no Python
    task runs to create it.
    """
    rows = [
        F.struct(
            F.lit(p.label).cast(label_type).alias("label"),
            F.lit(p.ordinal).cast("int").alias(CLASS),
            F.lit(p.n_rows).cast("long").alias(SIZE),
            F.lit(p.n_new).cast("long").alias(NEW),
        )
        for p in plans
        if p.n_new > 0
    ]
    if not rows:
        raise ValueError("class_table needs at least one class to grow")
    return df.sparkSession.range(1).select(F.inline(F.array(*rows)))


def class_of_label(
    df: DataFrame, plans: Sequence[ClassPlan], label_col: str, *, by_case: bool | None = None
) -> tuple[Column, Column] | None:
    """A row's class ordinal and class size from its label, as CASE expressions.

    Null for the labels of classes not grown. None when ``by_case`` is False (the
    plan's ``classes_by_label_case``; None: up to
    :attr:`~spark_smote._plan.PlanLimits.case_max_classes` grown classes): a broadcast
    join with :func:`class_table` then finds them.
    """
    grown = [p for p in plans if p.n_new > 0]
    if by_case is None:
        by_case = len(grown) <= PlanLimits().case_max_classes
    if not by_case:
        return None
    label_type = df.schema[label_col].dataType
    ordinal: Column = F.lit(None).cast("int")
    size: Column = F.lit(None).cast("long")
    for plan in grown:
        hit = F.col(label_col) == F.lit(plan.label).cast(label_type)
        ordinal = F.when(hit, F.lit(plan.ordinal).cast("int")).otherwise(ordinal)
        size = F.when(hit, F.lit(plan.n_rows).cast("long")).otherwise(size)
    return ordinal, size


def keyed_rows(
    df: DataFrame,
    plans: Sequence[ClassPlan],
    layout: FeatureLayout,
    params: SamplerParams,
    *,
    encoded_x: Column | None = None,
    carried: Mapping[str, Column] | None = None,
    checks: Mapping[str, Column] | None = None,
    keep_flagged: str | None = None,
    by_label_case: bool | None = None,
    with_x: bool = True,
) -> DataFrame:
    """The rows of the classes to grow with their order hash, not yet numbered.

    Columns: ``CLASS``, ``SIZE``, ``X`` (unless ``with_x`` is False), ``ID`` (with
    ``id_col``), the ``carried`` and ``checks`` columns and ``HASH``, the xxhash64 of
    the row's order key (:func:`order_key`). :func:`build_points` numbers them in
    Spark; :func:`numbered_in_tasks` gives the same numbering in numpy, one task per
    class. Parameters as for :func:`build_points`.
    """
    extra = dict(carried or {})
    columns: list[Column] = []
    if with_x:
        columns.append((feature_array(layout) if encoded_x is None else encoded_x).alias(X))
    if params.id_col is not None:
        columns.append(F.col(params.id_col).alias(ID))
    columns += [value.alias(name) for name, value in extra.items()]
    checked = dict(checks or {})
    columns += [value.alias(name) for name, value in checked.items()]
    by_label = class_of_label(df, plans, params.label_col, by_case=by_label_case)
    if by_label is not None:
        # A CASE over the grown classes' labels: no join, and (the filter running
        # first) no feature array built for the other rows.
        ordinal, size = by_label
        rows = df.select(ordinal.alias(CLASS), size.alias(SIZE), *columns)
        kept = F.col(CLASS).isNotNull()
        if keep_flagged is not None:
            kept = kept | F.col(keep_flagged)
        rows = rows.where(kept)
    else:
        classes = class_table(df, list(plans), df.schema[params.label_col].dataType)
        columns.insert(0, F.col(params.label_col).alias("label"))
        # Keep the rows of the grown classes before building their feature arrays
        # (built first, every input row allocated one). A semi join adds no column, so
        # no input column name can clash with the class table's.
        grown = F.broadcast(classes.select(F.col("label").alias(_LABEL)))
        on = df[params.label_col] == grown[_LABEL]
        if keep_flagged is None:
            kept_rows = df.join(grown, on, "left_semi")
            rows = kept_rows.select(*columns).join(F.broadcast(classes), on="label", how="inner")
        else:
            kept_rows = df.join(grown, on, "left").where(
                grown[_LABEL].isNotNull() | checked[keep_flagged]
            )
            kept_rows = kept_rows.drop(grown[_LABEL])
            rows = kept_rows.select(*columns).join(F.broadcast(classes), on="label", how="left")
    return rows.select(
        CLASS,
        SIZE,
        *([X] if with_x else []),
        *([ID] if params.id_col is not None else []),
        *extra,
        *checked,
        F.xxhash64(order_key(params, extra, with_x=with_x)).alias(HASH),
    )


def order_key(
    params: SamplerParams, carried: Mapping[str, Column] | None = None, *, with_x: bool = True
) -> Column:
    """The column rows are ordered by within their class, after ``HASH``.

    ``id_col`` when given; else the features, with the ``carried`` columns when there
    are any, so rows that differ only in them are still ordered by content. Without
    ``X`` (``with_x`` False) the ``carried`` columns alone, which must then hold the
    features (the whole input row).
    """
    if params.id_col is not None:
        return F.col(ID)
    if not with_x:
        if not carried:
            raise ValueError("order_key without X needs carried columns holding the features")
        return F.struct(*[F.col(name) for name in carried])
    if carried:
        return F.struct(F.col(X), *[F.col(name) for name in carried])
    return F.col(X)


def class_order(hashes: np.ndarray, key: pa.Array) -> np.ndarray:
    """The positions of a class's rows in index order: :func:`build_points`' order, in numpy.

    Parameters
    ----------
    hashes : ndarray of int64
        The rows' ``HASH``.
    key : pyarrow Array
        Their order key (:func:`order_key`): the ``id_col`` values (unique), or the
        features as a ``list<double>`` column.

    Returns
    -------
    ndarray of int64
        ``order[i]`` is the position of the row with index ``i``.

    Notes
    -----
    Rows are ordered by (hash, key) as Spark's window orders them, features compared
    value by value; ``-0.0`` goes before ``0.0`` (Spark ties them), so the order is
    total and rows that tie are identical.

    """
    if pa.types.is_list(key.type) or pa.types.is_large_list(key.type):
        # Only rows of equal hash (identical rows, or a rare collision) need the features.
        width = len(key[0])

        def feature_bits(rows: np.ndarray) -> list[np.ndarray]:
            values = key.take(pa.array(rows)).flatten().to_numpy(zero_copy_only=False)
            values = values.reshape(len(rows), width)
            return [ordered_bits(values[:, j]) for j in reversed(range(width))]

        return order_ties(hashes, np.argsort(hashes, kind="stable"), feature_bits)
    table = pa.table({"h": pa.array(hashes), "k": key})
    return pc.sort_indices(table, sort_keys=[("h", "ascending"), ("k", "ascending")]).to_numpy()


def build_points(
    df: DataFrame,
    plans: Sequence[ClassPlan],
    layout: FeatureLayout,
    params: SamplerParams,
    sizes: Mapping[int, int],
    *,
    encoded_x: Column | None = None,
    carried: Mapping[str, Column] | None = None,
    checks: Mapping[str, Column] | None = None,
    keep_flagged: str | None = None,
    index_bucket_rows: int = 200_000,
    by_label_case: bool | None = None,
    with_x: bool = True,
) -> DataFrame:
    """Return the points table (see module docstring) for the classes grown in ``plans``.

    Parameters
    ----------
    df : DataFrame
        The validated input.
    plans : sequence of ClassPlan
        The classes; those with rows to add are kept (see :func:`class_of_label`).
    layout : FeatureLayout
        Where the features are.
    params : SamplerParams
        The run's parameters (label and id columns).
    sizes : mapping
        Rows per class ordinal, for choosing the number of index buckets.
    encoded_x : Column, optional
        The ``_smote_x`` expression when it is not the plain features (SMOTE-NC
        appends scaled one-hot entries).
    carried : mapping, optional
        Extra columns (name: expression over the input row) kept in the points table,
        e.g. categorical values or pass-through columns. Without ``id_col`` they join
        the features in the stable order key, so rows that differ only in them are
        still ordered by content.
    checks : mapping, optional
        Columns (name: expression over the input row) kept in the points table outside
        the order key, e.g. the per-row value check of
        :func:`spark_smote._features.row_checks`.
    keep_flagged : str, optional
        The name of a boolean column of ``checks``: rows where it holds are kept
        whatever their class, with a null class (so the pass that indexes the minority
        also sees every row the check flags).
    index_bucket_rows : int, default 200,000
        A class larger than this is numbered in several parallel buckets (the plan's
        ``index_bucket_rows``).
    by_label_case : bool, optional
        Find a row's class by a CASE over the labels, else by a join
        (:func:`class_of_label`).
    with_x : bool, default True
        False leaves ``X`` out (a sampler that reads the features from ``carried``,
        which then holds the whole input row and is the order key).

    Notes
    -----
    Costs one shuffle of the minority rows (the window that numbers them) plus a
    shuffle of one row per bucket for the offsets.

    """
    extra = dict(carried or {})
    rows = keyed_rows(
        df,
        plans,
        layout,
        params,
        encoded_x=encoded_x,
        carried=carried,
        checks=checks,
        keep_flagged=keep_flagged,
        by_label_case=by_label_case,
        with_x=with_x,
    )
    largest = max(sizes.values(), default=1)
    n_buckets = max(1, -(-largest // index_bucket_rows))
    order = [F.col(HASH), order_key(params, extra, with_x=with_x)]
    keep = [c for c in rows.columns if c != HASH]
    keep.insert(keep.index(SIZE) + 1, IDX)
    if n_buckets == 1:
        numbered = Window.partitionBy(CLASS).orderBy(*order)
        return rows.withColumn(IDX, F.row_number().over(numbered) - F.lit(1)).select(*keep)
    rows = rows.withColumn(_BUCKET, F.pmod(F.col(HASH), F.lit(n_buckets)))
    before = Window.partitionBy(CLASS).orderBy(_BUCKET).rowsBetween(Window.unboundedPreceding, -1)
    offsets = (
        rows.groupBy(CLASS, _BUCKET)
        .agg(F.count(F.lit(1)).alias("n"))
        .select(CLASS, _BUCKET, F.coalesce(F.sum("n").over(before), F.lit(0)).alias(_OFFSET))
    )
    numbered = Window.partitionBy(CLASS, _BUCKET).orderBy(*order)
    return (
        rows.join(F.broadcast(offsets), on=[CLASS, _BUCKET])
        .withColumn(IDX, F.col(_OFFSET) + F.row_number().over(numbered) - F.lit(1))
        .select(*keep)
    )


def materialized_points(
    points: DataFrame, df: DataFrame, layout: FeatureLayout, checks: Mapping[str, Column]
) -> tuple[DataFrame, float | None]:
    """Materialise a points table once and finish the value check it carries.

    The later phases read the points several times (search, tuning, synthesis). With
    ``checks`` (:func:`spark_smote._features.row_checks`) the flagged rows raise here
    and the check columns are dropped.

    Returns
    -------
    tuple
        The materialised points, and the largest feature magnitude (None without
        ``checks``).

    Raises
    ------
    InvalidFeatureValuesError
        A row of the input holds a null, NaN or infinite feature value.

    """
    points = materialized(inject(points, "keys"))
    if not checks:
        return points, None
    largest = checked_magnitude(points, df, layout)
    return points.drop(*checks), largest


def checked_points(
    df: DataFrame,
    plans: Sequence[ClassPlan],
    layout: FeatureLayout,
    params: SamplerParams,
    *,
    check_values: bool,
    carried: Mapping[str, Column] | None = None,
) -> DataFrame:
    """The points table of the classes grown in ``plans``, materialised.

    With ``check_values`` the feature values of every input row are checked in the
    same pass (the validation deferred them); ``carried`` as for :func:`build_points`.
    """
    checks = row_checks(layout) if check_values else {}
    points = build_points(
        df,
        plans,
        layout,
        params,
        {p.ordinal: p.n_rows for p in plans},
        carried=carried,
        checks=checks,
        keep_flagged=BAD_ROW if checks else None,
    )
    return materialized_points(points, df, layout, checks)[0]


# Groups of the rows with no class (rows of other classes kept for the value check
# only, see keyed_rows): spread by hash so none grows with the data.
_UNCLASSED_GROUPS = 256

# Columns a later phase computes in the numbering task of a class: (class ordinal, its
# features (n, d) in index order) -> columns of n values in index order.
ClassColumns = Callable[[int, np.ndarray], Mapping[str, pa.Array]]


def numbered_in_tasks(
    rows: DataFrame,
    dimension: int,
    *,
    flagged: str | None = None,
    class_fields: Sequence[T.StructField] = (),
    class_columns: ClassColumns | None = None,
) -> DataFrame:
    """The points table numbered in one Arrow task per class: :func:`build_points`' rows.

    For classes small enough for one task to hold (the plan's ``numbered_in_tasks``):
    a task holds a class and numbers its rows in numpy (:func:`class_order`), the same
    indices as :func:`build_points`' window, without the window's shuffle and sort. A
    later phase may compute more columns in the same task (``class_columns``; the
    sampler passes the search's tuning statistics), so that work needs no job of its
    own.

    Parameters
    ----------
    rows : DataFrame
        :func:`keyed_rows` of the classes to number (and, with ``flagged``, rows of no
        class, passed through unnumbered).
    dimension : int
        Values per row in ``X``.
    flagged : str, optional
        A boolean column of ``rows`` marking rows with bad values: a class holding one
        gets no ``X`` and no ``class_columns`` (the run is about to fail on the value
        check).
    class_fields : sequence of StructField
        The fields of the columns ``class_columns`` returns (null where it returns none).
    class_columns : callable, optional
        ``(class ordinal, features in index order) -> {name: column}``.

    Returns
    -------
    DataFrame
        ``rows`` without the hash, with ``IDX`` before ``X`` and ``X`` as binary
        (:func:`spark_smote._arrow.binary_rows`: the checkpoint, the search's copies and
        its tasks then move one block per row; null for rows of no class or of a class
        with a bad value), plus ``class_fields``.

    """
    given = rows.schema
    fields = [
        T.StructField(X, T.BinaryType()) if f.name == X else f
        for f in given.fields
        if f.name != HASH
    ]
    fields.insert([f.name for f in fields].index(X), T.StructField(IDX, T.LongType()))
    schema = T.StructType([*fields, *class_fields])
    arrow_schema = to_arrow_schema(schema)
    extra_names = [f.name for f in class_fields]
    key = ID if ID in given.names else X

    def table_of(columns: Mapping[str, pa.Array]) -> pa.Table:
        return pa.table(dict(columns)).select(arrow_schema.names).cast(arrow_schema)

    def number_class(group: pa.Table) -> pa.Table:
        ordinal = group.column(CLASS)[0].as_py()
        n = group.num_rows
        columns = {name: group.column(name) for name in group.schema.names if name != HASH}
        extra: dict[str, pa.Array] = {
            name: pa.nulls(n, arrow_schema.field(name).type) for name in extra_names
        }
        if ordinal is None:  # rows kept for the value check only
            columns[IDX] = pa.nulls(n, pa.int64())
            columns[X] = pa.nulls(n, pa.binary())
            return table_of({**columns, **extra})
        order = class_order(group.column(HASH).to_numpy(), group.column(key).combine_chunks())
        features = columns.pop(X)
        columns = {name: column.take(pa.array(order)) for name, column in columns.items()}
        columns[IDX] = pa.array(np.arange(n, dtype=np.int64))
        if flagged is not None and bool(pc.any(columns[flagged]).as_py()):
            # The value check is about to fail the run: no features, no more columns.
            return table_of({**columns, X: pa.nulls(n, pa.binary()), **extra})
        x = matrix_from_list_column(features, dimension)[order]
        columns[X] = binary_rows(x)
        if class_columns is not None:
            extra.update(class_columns(int(ordinal), x))
        return table_of({**columns, **extra})

    spread = F.when(F.col(CLASS).isNull(), F.pmod(F.col(HASH), F.lit(_UNCLASSED_GROUPS)))
    return rows.groupBy(CLASS, spread.otherwise(F.lit(0))).applyInArrow(number_class, schema)
