"""Phase 5: draw the synthetic rows and assemble the output.

For each class c to grow by n_new(c) rows, draw j = 0 .. n_new(c)-1 is a triple

    base      = floor(U(seed, BASE, c, j) * n(c))         uniform with replacement
    slot      = floor(U(seed, NEIGHBOR, c, j) * k)        uniform among the base's k
    lambda    = U(seed, LAMBDA, c, j)                      uniform in [0, 1)

and the synthetic row is x_base + lambda * (x_neighbor - x_base) for all features at
once. U is the counter-based generator of :mod:`spark_smote._random`, so every draw is
a pure function of (seed, class, draw index). The draws are generated in Spark from a
one-row-per-class table (chunked, so no task builds a huge array) and joined to the
neighbours table on the base index and to the points on the neighbour index (broadcast
lookups, or two shuffles of the synthetic rows, as the plan says).

When the plan says so (every class searched whole by LSH, no per-row value carried),
the same draws are made in the search's own tasks: :func:`draw_in_search` builds the
step the sampler hands to the search, each task holding its class looks the rows up
in numpy, interpolates and returns the synthetic rows, and the neighbours table is
never materialised. The rows are the same, bit for bit. This module imports nothing of
the search but the neighbours table's column name. The output is the input's rows,
untouched, followed by the synthetic rows in the input's schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from spark_smote._arrow import list_column
from spark_smote._features import INTEGRAL_TYPES, PROVENANCE_COLUMNS, FeatureLayout
from spark_smote._keys import (
    CLASS,
    ID,
    IDX,
    NEW,
    SIZE,
    ClassPlan,
    X,
    lookup_side,
    place_by_position,
    task_count,
)
from spark_smote._params import GeneratorParams, SMOTEParams
from spark_smote._random import (
    STREAM_BASE,
    STREAM_LAMBDA,
    STREAM_NEIGHBOR,
    uniform_column,
    uniform_column_numpy,
)
from spark_smote._search.table import NBR
from spark_smote._search.whole_class import SearchTaskRows, SearchTaskStep

__all__ = [
    "DRAW",
    "LAMBDA",
    "assemble_output",
    "draw_in_search",
    "draw_synthetic",
    "drawn_rows",
    "opt_in_columns",
    "original_rows",
]

_DRAW = "_smote_draw"
_CHUNK = "_smote_chunk"
_BASE = "_smote_base"
_SLOT = "_smote_slot"
_LAMBDA = "_smote_lambda"
_NEIGHBOR = "_smote_neighbor"
_BASE_X = "_smote_base_x"
_NEIGHBOR_X = "_smote_neighbor_x"
_NEW_X = "_smote_new_x"
_BASE_ID = "_smote_base_id"
_NEIGHBOR_ID = "_smote_neighbor_id"
# Columns of the synthetic table that opt-in output options read.
DRAW, LAMBDA = _DRAW, _LAMBDA

# Draw indices generated per exploded chunk (bounds one array in one task).
DRAWS_PER_CHUNK = 1 << 16
# Chunks per synthesis task (about 250,000 synthetic rows).
CHUNKS_PER_TASK = 4


def _draws(classes: DataFrame, seed: int, k: int, total: int) -> DataFrame:
    """One row per synthetic row to make: (class, draw index, base, slot, lambda)."""
    chunk_count = F.ceil(F.col(NEW) / F.lit(DRAWS_PER_CHUNK)).cast("long")
    chunks = classes.select(
        "label",
        CLASS,
        SIZE,
        NEW,
        F.explode(F.sequence(F.lit(0).cast("long"), chunk_count - F.lit(1))).alias(_CHUNK),
    )
    start = F.col(_CHUNK) * F.lit(DRAWS_PER_CHUNK)
    stop = F.least(start + F.lit(DRAWS_PER_CHUNK), F.col(NEW)) - F.lit(1)
    tasks = task_count(classes, -(-total // DRAWS_PER_CHUNK), CHUNKS_PER_TASK)
    # Chunks dealt round-robin (class ordinal + chunk number): hashing 39 chunks into 8
    # tasks gave them 1 to 8 chunks each.
    draws = place_by_position(chunks, tasks, F.col(CLASS) + F.col(_CHUNK)).select(
        "label", CLASS, SIZE, F.explode(F.sequence(start, stop)).alias(_DRAW)
    )
    counters = (F.col(CLASS), F.col(_DRAW))
    base = F.floor(uniform_column(seed, STREAM_BASE, *counters) * F.col(SIZE)).cast("long")
    slot = F.floor(uniform_column(seed, STREAM_NEIGHBOR, *counters) * F.lit(k)).cast("int")
    return draws.select(
        "label",
        CLASS,
        _DRAW,
        F.least(base, F.col(SIZE) - F.lit(1)).alias(_BASE),
        F.least(slot, F.lit(k - 1)).alias(_SLOT),
        uniform_column(seed, STREAM_LAMBDA, *counters).alias(_LAMBDA),
    )


def draw_synthetic(
    neighbors: DataFrame,
    points: DataFrame,
    classes: DataFrame,
    params: SMOTEParams,
    *,
    synthetic_rows: int,
    broadcast_lookups: bool,
    base_extras: DataFrame | None = None,
    neighbor_columns: Mapping[str, str] | None = None,
) -> DataFrame:
    """Synthetic rows as (label, class, draw, lambda, new features, base/neighbour ids).

    Parameters
    ----------
    neighbors : DataFrame
        The neighbours table of :mod:`spark_smote._search` (read once).
    points : DataFrame
        The points table of :mod:`spark_smote._keys` (materialised), where the chosen
        neighbours' features are looked up.
    classes : DataFrame
        The class table of :func:`spark_smote._keys.class_table`.
    params : SMOTEParams
        Seed and k.
    synthetic_rows : int
        Rows to make over all classes (sets the number of synthesis tasks).
    broadcast_lookups : bool
        Both lookups are broadcast joins (the plan's choice from the size of the
        minority rows with their features and neighbour lists), else shuffle joins.
    base_extras : DataFrame, optional
        Opt-in per-row values of the base (``_smote_class``, ``_smote_idx`` and more
        columns, e.g. the categorical vote or pass-through columns), carried to the
        synthetic rows under their own names. Off by default: no extra join.
    neighbor_columns : mapping, optional
        Points-table columns of the neighbour to carry, as {column: output name}.

    Notes
    -----
    Broadcast lookups cost no shuffle of the synthetic rows; above the limit each
    lookup is a shuffle join. ``base_extras`` adds a join of the minority rows.

    """
    draws = _draws(classes, params.seed, params.k_neighbors, synthetic_rows)
    key = ID if params.id_col is not None else IDX
    base_side = neighbors.select(
        CLASS,
        F.col(IDX).alias(_BASE),
        F.col(X).alias(_BASE_X),
        F.col(NBR),
        F.col(key).alias(_BASE_ID),
    )
    carried: list[str] = []
    if base_extras is not None:
        extras = base_extras.withColumnRenamed(IDX, _BASE)
        carried += [name for name in extras.columns if name not in (CLASS, _BASE)]
        base_side = base_side.join(extras, on=[CLASS, _BASE])
    neighbor_extra = dict(neighbor_columns or {})
    carried += list(neighbor_extra.values())
    neighbor_side = points.select(
        CLASS,
        F.col(IDX).alias(_NEIGHBOR),
        F.col(X).alias(_NEIGHBOR_X),
        F.col(key).alias(_NEIGHBOR_ID),
        *[F.col(name).alias(alias) for name, alias in neighbor_extra.items()],
    )
    base_side, neighbor_side = (
        lookup_side(base_side, broadcast=broadcast_lookups),
        lookup_side(neighbor_side, broadcast=broadcast_lookups),
    )
    with_base = draws.join(base_side, on=[CLASS, _BASE]).withColumn(
        _NEIGHBOR, F.element_at(F.col(NBR), F.col(_SLOT) + F.lit(1))
    )
    joined = with_base.join(neighbor_side, on=[CLASS, _NEIGHBOR])
    return joined.select(
        "label", CLASS, _DRAW, _LAMBDA, _BASE_X, _NEIGHBOR_X, _BASE_ID, _NEIGHBOR_ID, *carried
    )


def _draw_batches(
    new_rows: Mapping[int, int], seed: int, k: int, output_schema: pa.Schema
) -> SearchTaskStep:
    """Build the step run in the search's tasks: the draws whose base the task answered.

    The draws of class c are ``j = 0 .. n_new(c) - 1``, generated by
    :func:`~spark_smote._random.uniform_column_numpy` with the same streams and
    counters as :func:`_draws` (so the same bits); a task keeps the draws whose base
    it holds and found the neighbours of, looks the base and the chosen neighbour up
    among its rows and returns the columns of :func:`draw_synthetic` without the
    label, the two feature arrays replaced by the interpolated one
    (:func:`interpolate_numpy`). Every draw is kept by exactly one task, since every
    row is answered by exactly one.
    """

    def draw_in_task(
        ordinal: int, rows: SearchTaskRows, neighbors: np.ndarray
    ) -> Iterator[pa.RecordBatch]:
        n, total, x, ids = rows.class_rows, new_rows[ordinal], rows.x, rows.ids
        for start in range(0, total, DRAWS_PER_CHUNK):
            draw = np.arange(start, min(start + DRAWS_PER_CHUNK, total), dtype=np.int64)
            u = uniform_column_numpy(seed, STREAM_BASE, ordinal, draw)
            base = np.minimum(np.floor(u * float(n)).astype(np.int64), n - 1)
            at, held = rows.locate(base)
            here = held & (neighbors[at, 0] >= 0)
            draw, at = draw[here], at[here]
            u = uniform_column_numpy(seed, STREAM_NEIGHBOR, ordinal, draw)
            slot = np.minimum(np.floor(u * float(k)).astype(np.int64), k - 1)
            neighbor = neighbors[at, slot]
            if (neighbor < 0).any():
                raise RuntimeError(
                    f"spark_smote: a row of class ordinal {ordinal} has fewer than "
                    f"k_neighbors={k} neighbours; this is a bug, please report it."
                )
            lam = uniform_column_numpy(seed, STREAM_LAMBDA, ordinal, draw)
            if ids is None:
                base_id, neighbor_id = pa.array(rows.index[at]), pa.array(rows.index[neighbor])
            else:
                base_id, neighbor_id = ids.take(pa.array(at)), ids.take(pa.array(neighbor))
            columns = {
                CLASS: pa.array(np.full(len(draw), ordinal, np.int32)),
                _DRAW: pa.array(draw),
                _LAMBDA: pa.array(lam),
                _NEW_X: list_column(interpolate_numpy(x[at], x[neighbor], lam), pa.float64()),
                _BASE_ID: base_id,
                _NEIGHBOR_ID: neighbor_id,
            }
            table = pa.table({name: columns[name] for name in output_schema.names})
            yield from table.cast(output_schema).to_batches()

    return draw_in_task


def draw_in_search(
    plans: Sequence[ClassPlan], params: SMOTEParams, id_type: T.DataType | None
) -> tuple[SearchTaskStep, T.StructType]:
    """The step that draws :func:`draw_synthetic`'s rows in the neighbour search's tasks.

    For classes searched whole by LSH with no opt-in per-row values to carry: each
    search task, holding its class, draws the synthetic rows whose base it answered
    (:func:`_draw_batches`), so the neighbours table is never written out, shuffled
    or looked up. The sampler hands the step to the search
    (:class:`spark_smote._search.StepInSearch`) and labels the rows it returns with
    :func:`drawn_rows`. The rows are the same, bit for bit, as :func:`draw_synthetic`
    and :func:`assemble_output` make from the same search's neighbours table.

    Parameters
    ----------
    plans : sequence of ClassPlan
        The classes to grow.
    params : SMOTEParams
        Seed and k.
    id_type : DataType or None
        The ``id_col`` type (the provenance ids' type), None without one.

    Returns
    -------
    (step, schema)
        ``step(class ordinal, rows, neighbours)`` returning Arrow batches of
        ``schema``: class, draw, lambda, the interpolated features and the base and
        neighbour ids.

    """
    schema = T.StructType(
        [
            T.StructField(CLASS, T.IntegerType()),
            T.StructField(_DRAW, T.LongType()),
            T.StructField(_LAMBDA, T.DoubleType()),
            T.StructField(_NEW_X, T.ArrayType(T.DoubleType())),
            T.StructField(_BASE_ID, id_type if id_type is not None else T.LongType()),
            T.StructField(_NEIGHBOR_ID, id_type if id_type is not None else T.LongType()),
        ]
    )
    new_rows = {p.ordinal: p.n_new for p in plans}
    step = _draw_batches(new_rows, params.seed, params.k_neighbors, to_arrow_schema(schema))
    return step, schema


def drawn_rows(drawn: DataFrame, plans: Sequence[ClassPlan], label_type: T.DataType) -> DataFrame:
    """The rows :func:`draw_in_search`'s step returned, with their label.

    The columns of :func:`draw_synthetic`, the features already interpolated in one array.
    """
    label = F.lit(None).cast(label_type)
    for plan in plans:
        value = F.lit(plan.label).cast(label_type)
        label = F.when(F.col(CLASS) == F.lit(plan.ordinal), value).otherwise(label)
    return drawn.select(label.alias("label"), CLASS, _DRAW, _LAMBDA, _NEW_X, _BASE_ID, _NEIGHBOR_ID)


# Below this magnitude no difference of two features overflows (half the largest double).
SAFE_MAGNITUDE = 8.0e307


def _interpolate(lam: Column, *, overflow_safe: bool = True) -> Callable[[Column, Column], Column]:
    """``b + lam * (n - b)``; ``(1 - lam) * b + lam * n`` where ``n - b`` overflows.

    Two finite features more than the largest double apart (e.g. -1.7e308 and 1.7e308)
    have an infinite difference; the second form stays finite. Every other value is
    computed by the first form, bit for bit. Without ``overflow_safe`` (every feature
    below ``SAFE_MAGNITUDE``) only the first form is written: per feature column the
    branch would make Spark's generated method too large for the JIT compiler.
    """
    if not overflow_safe:
        return lambda b, n: b + lam * (n - b)

    def between(b: Column, n: Column) -> Column:
        difference = n - b
        overflow = F.abs(difference) == F.lit(float("inf"))
        return F.when(overflow, (F.lit(1.0) - lam) * b + lam * n).otherwise(b + lam * difference)

    return between


def interpolate_numpy(base: np.ndarray, neighbor: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """:func:`_interpolate` (overflow-safe form) in numpy, row by row: the same bits.

    ``base`` and ``neighbor`` are (rows, d), ``lam`` has one value per row. IEEE
    doubles give numpy's and the JVM's ``b + lam * (n - b)`` the same bits (neither
    fuses the multiply and the add); where ``n - b`` overflows, ``(1 - lam) * b + lam * n``
    as in Spark. Without an overflow both forms are the plain one, so this matches
    Spark's result whichever form Spark was given.
    """
    lam = lam[:, None]
    with np.errstate(over="ignore", invalid="ignore"):
        difference = neighbor - base
        out = base + lam * difference
        overflow = np.abs(difference) == np.inf
        if overflow.any():
            safe = (1.0 - lam) * base + lam * neighbor
            out[overflow] = safe[overflow]
    return out


def _id_type(schema: T.StructType, params: GeneratorParams) -> T.DataType:
    return schema[params.id_col].dataType if params.id_col is not None else T.LongType()


def opt_in_columns(
    schema: T.StructType,
    params: GeneratorParams,
    *,
    synthetic: bool,
    base_id: Column,
    neighbor_id: Column,
    step: Column,
) -> list[Column]:
    """The columns the output adds after the input's, those the parameters ask for.

    ``synthetic_col`` holds ``synthetic``; the provenance columns hold ``base_id`` and
    ``neighbor_id`` (cast to the id column's type) and ``step`` (a double).
    """
    columns: list[Column] = []
    if params.synthetic_col is not None:
        columns.append(F.lit(synthetic).alias(params.synthetic_col))
    if params.provenance:
        id_type = _id_type(schema, params)
        base_name, neighbor_name, lambda_name = PROVENANCE_COLUMNS
        columns += [
            base_id.cast(id_type).alias(base_name),
            neighbor_id.cast(id_type).alias(neighbor_name),
            step.alias(lambda_name),
        ]
    return columns


def original_rows(df: DataFrame, schema: T.StructType, params: GeneratorParams) -> DataFrame:
    """The input rows, unchanged, with the opt-in columns set for original rows."""
    nothing = F.lit(None)
    added = opt_in_columns(
        schema,
        params,
        synthetic=False,
        base_id=nothing,
        neighbor_id=nothing,
        step=nothing.cast("double"),
    )
    return df.select(*[F.col(f.name) for f in schema.fields], *added)


def _synthetic_value(
    field: T.StructField,
    layout: FeatureLayout,
    params: GeneratorParams,
    overflow_safe: bool,
    drawn: bool = False,
) -> Column:
    """The value a synthetic row carries in one column of the input schema.

    ``drawn``: the features come interpolated (:func:`draw_in_search`).
    """
    if field.name == params.label_col:
        return F.col("label").cast(field.dataType)
    if field.name not in layout.columns:
        return F.lit(None).cast(field.dataType)
    between = _interpolate(F.col(_LAMBDA), overflow_safe=overflow_safe)
    if layout.kind in ("vector", "array"):
        new_x = (
            F.zip_with(F.col(_BASE_X), F.col(_NEIGHBOR_X), between) if not drawn else F.col(_NEW_X)
        )
        if layout.kind == "vector":
            # Imported here, like vector_to_array in _features: keeps scipy out of workers.
            from pyspark.ml.functions import array_to_vector

            return array_to_vector(new_x)
        # Elements may be declared nullable here; the output phase restores the input's
        # declaration (a cast cannot make array elements non-null).
        element = field.dataType.elementType  # type: ignore[attr-defined]
        return new_x.cast(T.ArrayType(element, containsNull=True))
    # One generated expression per feature column: a zip_with lambda is interpreted.
    position = layout.columns.index(field.name)
    if drawn:
        value = F.col(_NEW_X)[position]
    else:
        value = between(F.col(_BASE_X)[position], F.col(_NEIGHBOR_X)[position])
    if isinstance(field.dataType, INTEGRAL_TYPES):
        value = F.round(value)
    return value.cast(field.dataType)


def assemble_output(
    df: DataFrame,
    synthetic: DataFrame,
    schema: T.StructType,
    layout: FeatureLayout,
    params: GeneratorParams,
    *,
    dimension: int | None = None,
    overrides: Mapping[str, Column] | None = None,
    largest_magnitude: float = float("inf"),
) -> DataFrame:
    """The input rows unchanged, then the synthetic rows, in the input's schema.

    Feature columns get the interpolated values (rounded for integer columns, cast back
    to the input type), the label its class, every other column null. Opt-in columns
    ``synthetic_col`` and provenance are appended. ``dimension`` keeps only the first
    features of the interpolated array (SMOTE-NC appends encoded categories);
    ``overrides`` gives other columns' values of synthetic rows (categorical votes,
    pass-through columns, fresh ids) as expressions over the synthetic table.
    ``largest_magnitude`` (the input's largest absolute feature value) below
    ``SAFE_MAGNITUDE`` drops the overflow branch of the interpolation.
    """
    overflow_safe = not largest_magnitude < SAFE_MAGNITUDE
    drawn = _NEW_X in synthetic.columns
    if dimension is not None:
        synthetic = synthetic.withColumns(
            {name: F.slice(F.col(name), 1, dimension) for name in (_BASE_X, _NEIGHBOR_X)}
        )
    chosen = dict(overrides or {})
    columns = [
        (
            chosen[f.name].cast(f.dataType)
            if f.name in chosen
            else _synthetic_value(f, layout, params, overflow_safe, drawn)
        ).alias(f.name)
        for f in schema.fields
    ]
    columns += opt_in_columns(
        schema,
        params,
        synthetic=True,
        base_id=F.col(_BASE_ID),
        neighbor_id=F.col(_NEIGHBOR_ID),
        step=F.col(_LAMBDA),
    )
    return original_rows(df, schema, params).unionByName(synthetic.select(*columns))
