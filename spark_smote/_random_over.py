"""RandomOverSampler: copies of random rows of a class, optionally smoothed.

The flow, after the shared validation of :mod:`spark_smote._sampler` (no neighbour
search; as imbalanced-learn, the feature values are checked for null, NaN and infinity
only with ``shrinkage``, which computes with them):

keys        the rows of the classes to grow numbered in their class
            (:mod:`spark_smote._keys`), each carrying the whole input row. Not
            materialised: the numbering runs inside the write job, so no job of its
            own precedes it
-> draws    for class c and draw j = 0 .. n_new(c) - 1, the base row
            floor(U(seed, BASE, c, j) * n(c)): uniform with replacement, counter-based
            (:mod:`spark_smote._random`); the base rows are broadcast to the draws
            when small enough
-> rows     a copy of the base row, every value as it is (id_col left null, ids stay
            unique). With ``shrinkage`` a smoothed bootstrap as imbalanced-learn 0.14:
            feature f gets ``z * shrinkage(c) * std_f(c) * h`` added, z standard
            normal (Box-Muller over U(seed, RADIUS, c, j, f) and U(seed, ANGLE, c, j,
            f)), std_f(c) the class's population standard deviation of feature f,
            h = (4 / ((d + 2) * n)) ** (1 / (d + 4)) over all n rows and d features.
            Integer feature columns are rounded, as SMOTE's.
-> output   the input rows, then the added rows, in the input's schema.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, cast

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_smote._family_params import RandomOverSamplerParams, shrinkage_by_class
from spark_smote._faults import inject
from spark_smote._features import INTEGRAL_TYPES, FeatureLayout
from spark_smote._keys import (
    CLASS,
    ID,
    IDX,
    SIZE,
    ClassPlan,
    X,
    build_points,
    lookup_side,
    place_by_position,
    task_count,
)
from spark_smote._params import SMOTEParams
from spark_smote._random import STREAM_BASE, uniform_column
from spark_smote._sampler import (
    GeneratorBase,
    PreparedInput,
    ValueCheck,
    function_form,
    require_spark_dataframe,
)
from spark_smote._synthesis import opt_in_columns, original_rows

__all__ = [
    "RandomOverSampler",
    "RandomOverSamplerReport",
    "bandwidth_factor",
    "random_over_sampler",
]

# Streams of the smoothed bootstrap's normal draws (the base draw uses STREAM_BASE); kept
# apart from the streams of spark_smote._random, which SMOTE's draws use.
STREAM_RADIUS = 11
STREAM_ANGLE = 12

_ROW = "_smote_row"
_LABEL = "_smote_label"
_NEW = "_smote_new"
_SCALE = "_smote_scale"
_CHUNK = "_smote_chunk"
_DRAW = "_smote_draw"
_BASE = "_smote_base"
_NEW_X = "_smote_new_x"

# Draw indices per exploded chunk and chunks per task: bounds one array in one task.
DRAWS_PER_CHUNK = 1 << 16
CHUNKS_PER_TASK = 4


@dataclass
class RandomOverSamplerReport:
    """What one :meth:`RandomOverSampler.fit_resample` call decided and did.

    Attributes
    ----------
    seed : int
        The seed used.
    seed_was_given : bool
        Whether the user passed it.
    class_counts_before : dict
        Rows per class in the input, sorted by label.
    synthetic_counts : dict
        Rows added per class (classes left alone are absent).
    shrinkage : dict or None
        The shrinkage factor per grown class (None: plain copies).
    bandwidth_factor : float or None
        imbalanced-learn's smoothing constant ``(4 / ((d + 2) * n)) ** (1 / (d + 4))``.
    noise_scale : dict
        Per grown class, the standard deviation of the noise of each feature.
    phase_seconds : dict
        Seconds of the phases ``fit_resample`` runs itself.

    """

    seed: int
    seed_was_given: bool
    class_counts_before: dict[Any, int]
    synthetic_counts: dict[Any, int]
    shrinkage: dict[Any, float] | None = None
    bandwidth_factor: float | None = None
    noise_scale: dict[Any, list[float]] = field(default_factory=dict)
    phase_seconds: dict[str, float] = field(default_factory=dict)
    neighbor_method: dict[Any, str] = field(default_factory=dict)
    neighbor_parameters: dict[Any, dict[str, Any]] = field(default_factory=dict)
    categorical_median_std: dict[Any, float] = field(default_factory=dict)

    @property
    def class_counts_after(self) -> dict[Any, int]:
        """Rows per class in the output."""
        return {
            label: n + self.synthetic_counts.get(label, 0)
            for label, n in self.class_counts_before.items()
        }


def bandwidth_factor(n_rows: int, dimension: int) -> float:
    """imbalanced-learn's smoothing constant for ``n_rows`` rows of ``dimension`` features."""
    return float((4 / ((dimension + 2) * n_rows)) ** (1 / (dimension + 4)))


class RandomOverSampler(GeneratorBase[RandomOverSamplerParams], cli_name="random"):
    """Random over-sampling with replacement, optionally smoothed (imbalanced-learn's).

    Each class chosen by ``sampling_strategy`` is grown to the exact size asked by
    adding copies of its rows drawn uniformly with replacement. With ``shrinkage``,
    each copy's features get Gaussian noise (a smoothed bootstrap): standard deviation
    ``shrinkage * std * (4 / ((d + 2) * n)) ** (1 / (d + 4))`` per feature, with the
    class's per-feature (population) standard deviation, n the rows of the input and
    d the features. As imbalanced-learn's, plain copies accept any feature values
    (null, NaN and infinity are copied as they are); ``shrinkage`` needs finite ones
    and raises :class:`~spark_smote.InvalidFeatureValuesError` otherwise.

    Parameters
    ----------
    label_col : str, default 'label'
        Class label column.
    features : None, list of str, or str, default None
        As :class:`spark_smote.SMOTE`'s (the columns the noise is added to).
    sampling_strategy : str, float or dict, default 'auto'
        As :class:`spark_smote.SMOTE`'s; exact counts.
    seed : int, optional
        Seed of every draw. None draws one; it is logged and in ``report_``.
    shrinkage : float, dict or None, default None
        None: plain copies. A float >= 0 for every grown class, or
        ``{class: float}`` naming every grown class.
    id_col : str, optional
        A unique row id: the stable key; added rows get a null id.
    synthetic_col : str, optional
        Adds a boolean column of this name, True on added rows.
    provenance : bool, default False
        Adds ``smote_base_id`` (the copied row's id), ``smote_neighbor_id`` and
        ``smote_lambda`` (null).
    neighbor_search : str, default 'auto'
        Accepted for a common interface; no neighbour search runs.

    Examples
    --------
    >>> from spark_smote import RandomOverSampler
    >>> rows = [(float(i), 0) for i in range(10)] + [(float(i), 1) for i in range(3)]
    >>> df = spark.createDataFrame(rows, ["x", "label"])
    >>> out = RandomOverSampler(seed=1).fit_resample(df)
    >>> sorted(out.groupBy("label").count().collect())
    [Row(label=0, count=10), Row(label=1, count=10)]

    """

    params_class = RandomOverSamplerParams
    report_: RandomOverSamplerReport | None

    def _value_check(self) -> ValueCheck:
        """Check the feature values for the smoothed bootstrap only, as imbalanced-learn.

        Plain copies compute nothing from the values and copy them as they are, null,
        NaN and infinity included. The check runs in the validation: the rows are
        numbered inside the write job.
        """
        return "none" if self.params.shrinkage is None else "validation"

    def _check_classes(self, plans: tuple[ClassPlan, ...]) -> None:
        """A shrinkage dict must name every class to grow (and only present classes)."""
        counts = {p.label: p.n_rows for p in plans}
        shrinkage_by_class(self.params.shrinkage, [p.label for p in plans if p.n_new], counts)

    def _fit_resample(self, df: DataFrame, prepared: PreparedInput) -> DataFrame:
        params = self.params
        grown = prepared.grown
        counts = prepared.stats.class_counts
        report = self._started_report(
            RandomOverSamplerReport,
            prepared,
            shrinkage=shrinkage_by_class(params.shrinkage, [p.label for p in grown], counts),
        )
        key_params = cast(SMOTEParams, params)
        if not grown:
            return self._unchanged(df, prepared)
        row = F.struct(*[F.col(name) for name in prepared.schema.names])
        # Not materialised: the numbering runs inside the write job (its broadcast or
        # its shuffle), so no job, checkpoint or collect of its own precedes the write.
        points = inject(
            build_points(
                df,
                grown,
                prepared.layout,
                key_params,
                {p.ordinal: p.n_rows for p in grown},
                carried={_ROW: row},
                index_bucket_rows=self._limits().rows_per_index_bucket,
                with_x=report.shrinkage is not None,
            ),
            "keys",
        )
        scales: dict[int, list[float]] = {}
        if report.shrinkage is not None:
            dimension = prepared.stats.dimension
            factor = bandwidth_factor(sum(counts.values()), dimension)
            report.bandwidth_factor = factor
            stds = _class_stds(points, dimension)
            for p in grown:
                shrink = report.shrinkage[p.label]
                scales[p.ordinal] = [shrink * factor * s for s in stds[p.ordinal]]
                report.noise_scale[p.label] = scales[p.ordinal]
        row_bytes = _row_bytes(prepared.schema, prepared.stats.dimension)
        broadcast = (
            sum(p.n_rows for p in grown) * row_bytes <= self._limits().broadcast_lookup_bytes
        )
        added = _copies(points, grown, prepared.schema, params, scales, broadcast=broadcast)
        self._phase_done("draws planning")
        columns = _added_columns(prepared.schema, prepared.layout, params)
        return original_rows(df, prepared.schema, key_params).unionByName(
            inject(added, "synthesis").select(*columns)
        )


def _class_stds(points: DataFrame, dimension: int) -> dict[int, list[float]]:
    """Per class ordinal, the population standard deviation of each feature."""
    rows = (
        points.select(CLASS, F.posexplode(X).alias("f", "v"))
        .groupBy(CLASS, "f")
        .agg(F.stddev_pop("v").alias("s"))
        .collect()
    )
    stds: dict[int, list[float]] = {}
    for r in rows:
        stds.setdefault(r[CLASS], [0.0] * dimension)[r["f"]] = float(r["s"] or 0.0)
    return stds


# Estimated bytes of a value of a variable-width column (a string, binary, array...).
_WIDE_VALUE_BYTES = 32


def _row_bytes(schema: T.StructType, dimension: int) -> int:
    """Estimated bytes of one points row: its features, keys and carried input row."""
    fixed = (T.NumericType, T.BooleanType, T.DateType, T.TimestampType)
    values = sum(8 if isinstance(f.dataType, fixed) else _WIDE_VALUE_BYTES for f in schema.fields)
    return (dimension + 4) * 8 + values


def _copies(
    points: DataFrame,
    grown: list[ClassPlan],
    schema: T.StructType,
    params: RandomOverSamplerParams,
    scales: dict[int, list[float]],
    *,
    broadcast: bool,
) -> DataFrame:
    """One row per added row: label, class, draw, the base row, its (smoothed) features.

    ``broadcast``: the grown classes' rows are small enough to broadcast to the draws
    (each draws task then writes its copies where it runs); otherwise both sides are
    shuffled by the row's key. Either way the draws, which Spark estimates from their
    one-row class table as tiny, are never the side it broadcasts.

    """
    label_type = schema[params.label_col].dataType
    classes = points.sparkSession.range(1).select(
        F.inline(
            F.array(
                *[
                    F.struct(
                        F.lit(p.label).cast(label_type).alias(_LABEL),
                        F.lit(p.ordinal).cast("int").alias(CLASS),
                        F.lit(p.n_rows).cast("long").alias(SIZE),
                        F.lit(p.n_new).cast("long").alias(_NEW),
                    )
                    for p in grown
                ]
            )
        )
    )
    chunk_count = F.ceil(F.col(_NEW) / F.lit(DRAWS_PER_CHUNK)).cast("long")
    chunks = classes.select(
        "*", F.explode(F.sequence(F.lit(0).cast("long"), chunk_count - F.lit(1))).alias(_CHUNK)
    )
    start = F.col(_CHUNK) * F.lit(DRAWS_PER_CHUNK)
    stop = F.least(start + F.lit(DRAWS_PER_CHUNK), F.col(_NEW)) - F.lit(1)
    total = sum(p.n_new for p in grown)
    tasks = task_count(points, -(-total // DRAWS_PER_CHUNK), CHUNKS_PER_TASK)
    # Chunks dealt round-robin (class ordinal + chunk number), as SMOTE's draws: the
    # tasks that write the copies get even shares.
    draws = place_by_position(chunks, tasks, F.col(CLASS) + F.col(_CHUNK)).select(
        _LABEL, CLASS, SIZE, F.explode(F.sequence(start, stop)).alias(_DRAW)
    )
    base = F.floor(
        uniform_column(params.seed, STREAM_BASE, F.col(CLASS), F.col(_DRAW)) * F.col(SIZE)
    )
    base = F.least(base.cast("long"), F.col(SIZE) - F.lit(1))
    draws = draws.select(_LABEL, CLASS, _DRAW, base.alias(IDX))
    # Plain copies take every value from the carried row; only the smoothed
    # bootstrap needs the feature array in the lookup.
    keep = [CLASS, IDX, *([X] if scales else []), _ROW, *([ID] if params.id_col else [])]
    lookup = points.select(*keep)
    copied = draws.join(lookup_side(lookup, broadcast=broadcast), on=[CLASS, IDX])
    if not scales:
        return copied
    scale_of = F.create_map(
        *[
            item
            for ordinal, s in scales.items()
            for item in (F.lit(ordinal), F.array(*map(F.lit, s)))
        ]
    )
    copied = copied.withColumn(_SCALE, scale_of[F.col(CLASS)])

    def smoothed(value: Column, feature: Column) -> Column:
        counters = (F.col(CLASS), F.col(_DRAW), feature.cast("int"))
        radius = F.sqrt(
            F.lit(-2.0) * F.log(F.lit(1.0) - uniform_column(params.seed, STREAM_RADIUS, *counters))
        )
        angle = F.lit(2.0 * math.pi) * uniform_column(params.seed, STREAM_ANGLE, *counters)
        return value + radius * F.cos(angle) * F.col(_SCALE)[feature]

    return copied.withColumn(_NEW_X, F.transform(F.col(X), smoothed))


def _added_columns(
    schema: T.StructType, layout: FeatureLayout, params: RandomOverSamplerParams
) -> list[Column]:
    """The added rows in the input's schema, then the opt-in columns.

    Plain copies keep every value of the copied row as it is; the smoothed bootstrap
    writes its noisy features back in the layout's form.
    """
    columns: list[Column] = []
    for fld in schema.fields:
        name = fld.name
        if name == params.label_col:
            value = F.col(_LABEL)
        elif name == params.id_col:
            value = F.lit(None)
        elif name not in layout.columns or params.shrinkage is None:
            value = F.col(_ROW)[name]
        elif layout.kind == "vector":
            from pyspark.ml.functions import array_to_vector

            columns.append(array_to_vector(F.col(_NEW_X)).alias(name))
            continue
        elif layout.kind == "array":
            value = F.col(_NEW_X)
        else:
            value = F.col(_NEW_X)[layout.columns.index(name)]
            if isinstance(fld.dataType, INTEGRAL_TYPES):
                value = F.round(value)
        columns.append(value.cast(fld.dataType).alias(name))
    return columns + opt_in_columns(
        schema,
        params,
        synthetic=True,
        base_id=F.col(ID) if params.id_col is not None else F.lit(None),
        neighbor_id=F.lit(None),
        step=F.lit(None).cast("double"),
    )


@function_form(RandomOverSampler)
def random_over_sampler(df: DataFrame, **params: Any) -> DataFrame:
    """Resample ``df`` with :class:`RandomOverSampler`; its function form."""
    require_spark_dataframe(df, "random_over_sampler")
    return RandomOverSampler(**params).fit_resample(df)
