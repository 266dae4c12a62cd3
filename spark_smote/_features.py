"""Phase 2: inspect the input, resolve the feature layout and check the data.

Reads the schema once, decides which columns are features (numeric columns, one Spark
ML Vector column or one ``array<double|float>`` column), and runs a single aggregation
over the input that returns, per class, the row count and the number of rows whose
features are null, NaN or infinite (plus vector lengths). Only these small statistics
reach the driver. Everything that can be wrong with the input is reported here, before
any output exists.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_smote._errors import (
    ColumnNotFoundError,
    ColumnTypeError,
    InvalidFeatureValuesError,
    InvalidInputError,
)
from spark_smote._params import PROVENANCE_COLUMNS, SamplerParams

__all__ = [
    "BAD_ROW",
    "LARGEST",
    "PROVENANCE_COLUMNS",
    "FeatureLayout",
    "InputStats",
    "check_feature_values",
    "checked_magnitude",
    "collect_input_stats",
    "feature_array",
    "is_vector_type",
    "resolve_layout",
    "row_checks",
    "values_checked_with_keys",
]

# The per-row value check's columns (:func:`row_checks`).
BAD_ROW = "_smote_bad_row"
LARGEST = "_smote_largest"

NUMERIC_TYPES = (
    T.ByteType,
    T.ShortType,
    T.IntegerType,
    T.LongType,
    T.FloatType,
    T.DoubleType,
    T.DecimalType,
)
INTEGRAL_TYPES = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)
LABEL_TYPES = (*INTEGRAL_TYPES, T.StringType, T.BooleanType)


def is_vector_type(data_type: T.DataType) -> bool:
    """Whether ``data_type`` is Spark ML's (or MLlib's) VectorUDT."""
    return isinstance(data_type, T.UserDefinedType) and type(data_type).__name__ == "VectorUDT"


def _is_float_array(data_type: T.DataType) -> bool:
    return isinstance(data_type, T.ArrayType) and isinstance(
        data_type.elementType, T.DoubleType | T.FloatType
    )


@dataclass(frozen=True)
class FeatureLayout:
    """Where the features live in the input and how to write them back.

    Attributes
    ----------
    kind : {'columns', 'vector', 'array'}
        Separate numeric columns, one ML Vector column, or one array column.
    columns : tuple of str
        The feature column names (one name for 'vector' and 'array').
    types : tuple of DataType
        Their Spark types, used to cast synthetic values back.
    categorical : tuple of str
        SMOTE-NC categorical columns (string, integer or boolean), empty for SMOTE.

    """

    kind: Literal["columns", "vector", "array"]
    columns: tuple[str, ...]
    types: tuple[T.DataType, ...]
    categorical: tuple[str, ...] = ()


@dataclass(frozen=True)
class InputStats:
    """Small statistics of the input, the only thing the driver collects.

    Attributes
    ----------
    class_counts : dict
        Rows per class, in sorted label order.
    dimension : int
        Number of features per row.
    largest_magnitude : float
        Largest absolute feature value (columns layout when the values were checked in
        this pass; infinity otherwise: the overflow-safe interpolation).
    identifier_like : tuple of str
        With ``features=None``, the integer feature columns that look like row ids:
        named ``id``, ``*_id`` or ``*Id``, or with every value distinct in each class
        (an approximate distinct count taken in the same pass).

    """

    class_counts: dict[Any, int]
    dimension: int
    largest_magnitude: float = float("inf")
    identifier_like: tuple[str, ...] = ()


def identifier_like_name(name: str) -> bool:
    """Whether a column name reads as a row identifier: ``id``, ``*_id``, ``*Id``."""
    return name.lower() == "id" or name.lower().endswith("_id") or name.endswith("Id")


# Relative error of the distinct counts that look for id-like columns, and how close to
# the row count (per class) a count must come to call the column "all distinct": the
# estimate's error stays well inside the margin.
_DISTINCT_RSD = 0.01
_ALL_DISTINCT = 0.97
# Below this many rows in a class, distinct integers are too common to mean much.
_DISTINCT_MIN_ROWS = 50


def _integer_features(layout: FeatureLayout, params: SamplerParams) -> list[str]:
    """Integer columns that ``features=None`` took as features (the ones to vet)."""
    if params.features is not None or layout.kind != "columns":
        return []
    return [
        name
        for name, data_type in zip(layout.columns, layout.types, strict=True)
        if isinstance(data_type, INTEGRAL_TYPES)
    ]


def _type_name(data_type: T.DataType) -> str:
    return data_type.simpleString()


def resolve_layout(schema: T.StructType, params: SamplerParams) -> FeatureLayout:
    """Check the label, id and feature columns against the schema; return the layout.

    Raises
    ------
    ColumnNotFoundError
        A named column is missing.
    ColumnTypeError
        The label, a feature or the vector/array column has a type SMOTE cannot use.
    InvalidInputError
        No feature column is left, an opt-in output column already exists, or column
        names contain '.' or '`'.

    """
    fields = {f.name: f.dataType for f in schema.fields}
    present = list(fields)
    unsupported = [name for name in present if "." in name or "`" in name]
    if unsupported:
        renames = {name: name.replace(".", "_").replace("`", "") for name in unsupported}
        raise InvalidInputError(
            f"input columns {unsupported}: names containing '.' or '`' are not supported "
            "(Spark reads 'a.b' as field b of a struct a). Rename them first, e.g. "
            f"df.withColumnsRenamed({renames})."
        )
    if params.label_col not in fields:
        raise ColumnNotFoundError("label_col", params.label_col, present)
    label_type = fields[params.label_col]
    if not isinstance(label_type, LABEL_TYPES):
        raise ColumnTypeError(
            f"label_col={params.label_col!r} has type {_type_name(label_type)}; SMOTE needs "
            "class labels of integer, string or boolean type. Cast the column first, e.g. "
            f"df.withColumn({params.label_col!r}, F.col({params.label_col!r}).cast('int'))."
        )
    if params.id_col is not None and params.id_col not in fields:
        raise ColumnNotFoundError("id_col", params.id_col, present)
    fresh_ids = params.generated_id_col
    if fresh_ids is not None and not isinstance(fields[fresh_ids], (*INTEGRAL_TYPES, T.StringType)):
        raise ColumnTypeError(
            f"synthetic_ids=True: id_col={fresh_ids!r} has type "
            f"{_type_name(fields[fresh_ids])}, which cannot hold generated ids. Use "
            "an integer or string id column, or synthetic_ids=False."
        )
    for option, name in params.output_columns:
        if name in fields:
            raise InvalidInputError(
                f"{option}: the output column {name!r} already exists in the input. Rename "
                "the input column or choose another name."
            )
    _check_categorical_columns(fields, params)
    layout = _continuous_layout(fields, params)
    if params.categorical_columns:
        categorical = params.categorical_columns
        return FeatureLayout(layout.kind, layout.columns, layout.types, categorical)
    return layout


CATEGORICAL_TYPES = (*INTEGRAL_TYPES, T.StringType, T.BooleanType)


def _check_categorical_columns(fields: dict[str, T.DataType], params: SamplerParams) -> None:
    for name in params.categorical_columns:
        if name not in fields:
            raise ColumnNotFoundError("categorical", name, list(fields))
        if not isinstance(fields[name], CATEGORICAL_TYPES):
            raise ColumnTypeError(
                f"categorical: column {name!r} has type {_type_name(fields[name])}; a "
                "categorical column must be string, integer or boolean. Cast it (e.g. "
                f"F.col({name!r}).cast('string')) or list it in features if it is continuous."
            )


def _continuous_layout(fields: dict[str, T.DataType], params: SamplerParams) -> FeatureLayout:
    present = list(fields)
    reserved = {params.label_col, params.id_col, *params.categorical_columns}
    features = params.features
    if features is None:
        names = tuple(
            n for n, t in fields.items() if isinstance(t, NUMERIC_TYPES) and n not in reserved
        )
        if not names and params.categorical_columns:
            raise InvalidInputError(
                f"categorical={list(params.categorical_columns)}: SMOTE-NC needs at least one "
                "continuous (numeric) feature besides the categorical columns, and there is "
                "none. For categorical-only data use SMOTEN (imblearn.over_sampling.SMOTEN), "
                "or one-hot encode the columns (pyspark.ml.feature.OneHotEncoder) and pass "
                "the result as features without categorical."
            )
        if not names:
            raise InvalidInputError(
                "features=None selects every numeric column except the label and id, but "
                f"there is none. Columns and types: "
                f"{ {n: _type_name(t) for n, t in fields.items()} }. Pass features= a list of "
                "numeric columns or one vector/array column."
            )
        return FeatureLayout("columns", names, tuple(fields[n] for n in names))
    if isinstance(features, str):
        if features not in fields:
            raise ColumnNotFoundError("features", features, present)
        data_type = fields[features]
        if is_vector_type(data_type):
            return FeatureLayout("vector", (features,), (data_type,))
        if _is_float_array(data_type):
            return FeatureLayout("array", (features,), (data_type,))
        if isinstance(data_type, NUMERIC_TYPES):
            return FeatureLayout("columns", (features,), (data_type,))
        raise ColumnTypeError(
            f"features={features!r} has type {_type_name(data_type)}; one feature column "
            "must be a Spark ML Vector, array<double>, array<float> or numeric. Assemble "
            "features with pyspark.ml.feature.VectorAssembler or pass a list of numeric "
            "columns."
        )
    missing = [n for n in features if n not in fields]
    if missing:
        raise ColumnNotFoundError("features", missing[0], present)
    wrong = {n: _type_name(fields[n]) for n in features if not isinstance(fields[n], NUMERIC_TYPES)}
    if wrong:
        raise ColumnTypeError(
            f"features: columns {wrong} are not numeric; a list of features must name "
            "numeric columns only (int, long, float, double, decimal). Encode categorical "
            "columns as numbers first, or leave them out of features."
        )
    return FeatureLayout("columns", tuple(features), tuple(fields[n] for n in features))


def feature_array(layout: FeatureLayout) -> Column:
    """The features of a row as one ``array<double>`` column expression."""
    if layout.kind == "vector":
        # Imported here: pyspark.ml pulls in pandas and scipy (0.3 s), which every
        # Python worker would pay for on its first task otherwise.
        from pyspark.ml.functions import vector_to_array

        return vector_to_array(F.col(layout.columns[0]), "float64")
    if layout.kind == "array":
        return F.col(layout.columns[0]).cast(T.ArrayType(T.DoubleType()))
    return F.array(*[F.col(name).cast("double") for name in layout.columns])


def _bad_scalar(column: Column) -> Column:
    as_double = column.cast("double")
    return column.isNull() | F.isnan(as_double) | (F.abs(as_double) == float("inf"))


def _bad_array(column: Column) -> Column:
    return column.isNull() | F.exists(
        column, lambda v: v.isNull() | F.isnan(v) | (F.abs(v) == float("inf"))
    )


def _count_true(condition: Column) -> Column:
    return F.sum(F.when(condition, 1).otherwise(0))


def values_checked_with_keys(layout: FeatureLayout) -> bool:
    """Whether the feature values are checked in the pass that indexes the minority.

    Feature columns (no vector or array, no categorical column): the validation
    aggregation then reads only the labels, and the keys pass, which reads every
    feature anyway, flags the bad rows of every class (:func:`row_checks`,
    :func:`checked_magnitude`). Either way the error comes before any output.
    """
    return layout.kind == "columns" and not layout.categorical


def _largest(features: list[Column]) -> Column:
    """The row's largest absolute value: NaN if one is NaN, skipping nulls."""
    magnitudes = [F.abs(v) for v in features]
    return F.greatest(*magnitudes) if len(magnitudes) > 1 else magnitudes[0]


def _sum_null_if_any_null(values: Sequence[Column]) -> Column:
    """The sum of ``values``, null when one is null, added as a balanced tree.

    A left-deep chain of n additions is an expression n levels deep, which Spark's
    recursive plan code walks with one stack frame or more per level: at hundreds of
    features that overflows the JVM's stack. The tree is log2(n) levels deep.
    """
    level = list(values)
    while len(level) > 1:
        pairs = [level[i] + level[i + 1] for i in range(0, len(level) - 1, 2)]
        level = pairs + level[len(level) - len(level) % 2 :]
    return level[0]


def row_checks(layout: FeatureLayout) -> dict[str, Column]:
    """Per input row: ``BAD_ROW`` (a null, NaN or infinite feature) and ``LARGEST``.

    The same two tests as the validation aggregation: the sum of the features is null
    when one is null, and the largest magnitude is NaN or infinite when one is.
    """
    features = [F.col(name).cast("double") for name in layout.columns]
    largest = _largest(features)
    bad = _sum_null_if_any_null(features).isNull() | ~(largest < F.lit(float("inf")))
    return {BAD_ROW: bad, LARGEST: largest}


def checked_magnitude(points: DataFrame, df: DataFrame, layout: FeatureLayout) -> float:
    """Finish the value check of :func:`row_checks` on the points table.

    One small job over the (materialised) points table; if it holds a flagged row,
    one pass over the input counts the bad values per column for the error.

    Returns
    -------
    float
        The largest absolute feature value of the rows to interpolate.

    Raises
    ------
    InvalidFeatureValuesError
        Null, NaN or infinite feature values in any class.

    """
    row = points.agg(
        _count_true(F.col(BAD_ROW)).alias("bad"), F.max(LARGEST).alias("largest")
    ).first()
    if row is not None and row["bad"]:
        check_feature_values(df, layout)
    largest = row["largest"] if row is not None else None
    return float(largest) if largest is not None else 0.0


def check_feature_values(df: DataFrame, layout: FeatureLayout) -> None:
    """One pass over the input: raise if a feature column holds a bad value.

    Raises
    ------
    InvalidFeatureValuesError
        Null, NaN or infinite feature values (names each column and the row count).

    """
    _raise_bad_values(_bad_value_counts(df, layout))


def _raise_bad_values(counts: dict[str, int]) -> None:
    bad = {name: n for name, n in counts.items() if n}
    if bad:
        detail = ", ".join(f"{name!r}: {n} row(s)" for name, n in bad.items())
        raise InvalidFeatureValuesError(
            f"features contain null, NaN or infinite values ({detail}). SMOTE cannot "
            "interpolate them: drop those rows (df.dropna(subset=...)) or impute the values "
            "(pyspark.ml.feature.Imputer) first."
        )


def collect_input_stats(
    df: DataFrame,
    layout: FeatureLayout,
    params: SamplerParams,
    *,
    check_values: bool = True,
    finite_required: bool = True,
) -> InputStats:
    """Run the one validation aggregation and return class counts and the dimension.

    Costs one pass over the input with a small shuffle (one row per class). With
    ``id_col`` a second small job looks for duplicated or null ids; when a feature holds
    a null, NaN or infinite value, a second pass counts them per column for the error.
    ``check_values=False`` (feature columns only, see :func:`values_checked_with_keys`)
    leaves the feature values to :func:`row_checks`: the pass reads only the labels.
    ``finite_required=False`` (a sampler that computes nothing from the values) checks
    none of them, whatever the layout.

    Raises
    ------
    InvalidInputError
        Empty input, null labels, duplicated or null ids, vectors of mixed lengths.
    InvalidFeatureValuesError
        Null, NaN or infinite feature values (names each column and the row count).

    """
    label = F.col(params.label_col)
    aggregations: list[Column] = [F.count(F.lit(1)).alias("n")]
    check_values = finite_required and (check_values or not values_checked_with_keys(layout))
    if layout.kind == "columns" and check_values:
        # Two aggregates find every bad value, whatever the number of columns: the sum
        # of a row's features is null when one is null, and the largest magnitude in
        # the row (greatest skips nulls) is NaN when one is NaN and infinite when one
        # is infinite. The exact counts per column are taken only when there is a bad
        # value to report.
        features = [F.col(name).cast("double") for name in layout.columns]
        aggregations += [
            F.count(_sum_null_if_any_null(features)).alias("complete"),
            F.max(_largest(features)).alias("largest"),
        ]
    elif layout.kind != "columns":
        values = feature_array(layout)
        if check_values:
            aggregations.append(_count_true(_bad_array(values)).alias("bad0"))
        aggregations += [
            F.min(F.size(values)).alias("min_size"),
            F.max(F.size(values)).alias("max_size"),
        ]
    aggregations += [
        _count_true(F.col(name).isNull()).alias(f"null_cat{i}")
        for i, name in enumerate(layout.categorical)
    ]
    vetted = _integer_features(layout, params)
    aggregations += [
        F.approx_count_distinct(name, _DISTINCT_RSD).alias(f"distinct{i}")
        for i, name in enumerate(vetted)
    ]
    rows = df.groupBy(label.alias("label")).agg(*aggregations).collect()
    if not rows:
        raise InvalidInputError(
            "the input DataFrame is empty: there is nothing to resample. Check the input "
            "path and any filter applied before resampling."
        )
    null_labels = sum(r["n"] for r in rows if r["label"] is None)
    if null_labels:
        total = sum(r["n"] for r in rows)
        raise InvalidInputError(
            f"label_col={params.label_col!r} has {null_labels} null value(s) out of {total} "
            "rows. Drop them (df.dropna(subset=[label_col])) or fill them before resampling."
        )
    if layout.kind != "columns" and check_values:
        _raise_bad_values(
            {name: sum(r[f"bad{i}"] for r in rows) for i, name in enumerate(layout.columns)}
        )
    elif check_values and _has_bad_values(rows):
        check_feature_values(df, layout)
    null_categories = {
        name: sum(r[f"null_cat{i}"] for r in rows) for i, name in enumerate(layout.categorical)
    }
    null_categories = {name: n for name, n in null_categories.items() if n}
    if null_categories:
        raise InvalidFeatureValuesError(
            f"categorical columns contain null values ({null_categories} rows). Fill them "
            "with a category of their own (df.fillna({'col': 'missing'})) or drop those rows."
        )
    if layout.kind == "columns":
        dimension = len(layout.columns)
    else:
        low = min(r["min_size"] for r in rows)
        high = max(r["max_size"] for r in rows)
        if low != high:
            raise InvalidInputError(
                f"features={layout.columns[0]!r}: vectors have different lengths (from "
                f"{low} to {high}). Every row needs the same number of features."
            )
        if high == 0:
            raise InvalidInputError(
                f"features={layout.columns[0]!r}: vectors are empty; there is nothing to "
                "interpolate."
            )
        dimension = int(high)
    if params.id_col is not None:
        _check_unique_ids(df, params.id_col)
    counts = {r["label"]: int(r["n"]) for r in rows}
    magnitude = float("inf")
    if layout.kind == "columns" and check_values:
        magnitude = max(
            (float(r["largest"]) for r in rows if r["largest"] is not None), default=0.0
        )
    identifier_like = tuple(
        name
        for i, name in enumerate(vetted)
        if identifier_like_name(name)
        or (
            min(counts.values()) >= _DISTINCT_MIN_ROWS
            and all(r[f"distinct{i}"] >= _ALL_DISTINCT * r["n"] for r in rows)
        )
    )
    return InputStats({c: counts[c] for c in sorted(counts)}, dimension, magnitude, identifier_like)


def _has_bad_values(rows: Sequence[Row]) -> bool:
    """Whether the validation aggregates show a null, NaN or infinite feature value."""
    for row in rows:
        largest = row["largest"]
        if row["complete"] < row["n"] or (largest is not None and not math.isfinite(largest)):
            return True
    return False


def _bad_value_counts(df: DataFrame, layout: FeatureLayout) -> dict[str, int]:
    """Rows with a null, NaN or infinite value, per feature column (the error's detail)."""
    counts = df.agg(
        *[
            _count_true(_bad_scalar(F.col(name))).alias(f"bad{i}")
            for i, name in enumerate(layout.columns)
        ]
    ).collect()[0]
    return {name: int(counts[f"bad{i}"] or 0) for i, name in enumerate(layout.columns)}


def _check_unique_ids(df: DataFrame, id_col: str) -> None:
    repeated = (
        df.groupBy(F.col(id_col).alias("id"))
        .count()
        .where((F.col("count") > 1) | F.col("id").isNull())
        .orderBy(F.col("count").desc(), F.col("id"))
        .limit(5)
        .collect()
    )
    if not repeated:
        return
    examples: Sequence[str] = [f"{r['id']!r} x{r['count']}" for r in repeated]
    raise InvalidInputError(
        f"id_col={id_col!r} must be a unique, non-null row id, but values repeat or are "
        f"null (e.g. {', '.join(examples)}). Pass a unique id column, or leave id_col=None "
        "to key rows by their content."
    )
