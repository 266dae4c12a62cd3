"""Output phase: which columns synthetic rows fill, and the input's nullability kept.

The last step of ``fit_resample``. Synthetic rows carry values in the label, the
features, the SMOTE-NC categorical columns, ``id_col`` with ``synthetic_ids`` and, with
``non_feature_fill`` other than 'null', every other input column; any other column is
null in them (:func:`columns_left_null`). Spark infers the nullability of computed
columns conservatively (a join, a UDF or a cast makes a column nullable), so the union
of input and synthetic rows would declare such a NOT NULL column nullable and turn a
NOT NULL ``array<double>`` feature into one whose elements may be null.
:func:`with_input_nullability` gives every filled column back the input's declaration:
a column that is NOT NULL in the input, and array elements that are, stay so. Two
exceptions: a column synthetic rows leave null becomes nullable (it does hold nulls),
and a NOT NULL Spark ML Vector column becomes nullable (synthetic vectors are made by
Spark ML's ``array_to_vector``, a UDF, and Spark has no non-null vector literal to
prove otherwise).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_smote._features import FeatureLayout
from spark_smote._params import SMOTEParams

__all__ = ["columns_filled", "columns_left_null", "with_input_nullability"]


def columns_filled(schema: T.StructType, layout: FeatureLayout, params: SMOTEParams) -> list[str]:
    """Input columns in which synthetic rows carry values, in input order."""
    if params.non_feature_fill != "null":
        taken = {f.name for f in schema.fields}
        if params.id_col is not None and not params.synthetic_ids:
            taken.discard(params.id_col)
    else:
        taken = {params.label_col, *layout.columns, *layout.categorical}
        if params.synthetic_ids and params.id_col is not None:
            taken.add(params.id_col)
    return [f.name for f in schema.fields if f.name in taken]


def columns_left_null(
    schema: T.StructType, layout: FeatureLayout, params: SMOTEParams
) -> list[str]:
    """Input columns that are null in every synthetic row, in input order."""
    filled = set(columns_filled(schema, layout, params))
    return [f.name for f in schema.fields if f.name not in filled]


def with_input_nullability(
    out: DataFrame, schema: T.StructType, layout: FeatureLayout, params: SMOTEParams
) -> DataFrame:
    """``out`` with the input's nullability on every column synthetic rows fill.

    Parameters
    ----------
    out : DataFrame
        The resampled rows: the input's columns first, then the opt-in columns.
    schema : StructType
        The input's schema.
    layout, params
        The run's feature layout and parameters.

    Returns
    -------
    DataFrame
        The same rows; only declared nullability changes. A NOT NULL column is never
        null in ``out`` (input values, or values computed from them), so the fallback
        that makes the declaration provable is never used.

    """
    filled = set(columns_filled(schema, layout, params))
    declared = {f.name: f for f in out.schema.fields}
    changed = [
        f
        for f in schema.fields
        if f.name in filled and not _declared_as_strictly(declared[f.name], f)
    ]
    if not changed:
        return out
    return out.withColumns({f.name: _not_null(F.col(f.name), f) for f in changed})


def _declared_as_strictly(output: T.StructField, field: T.StructField) -> bool:
    """Whether the output column is declared as non-null as the input ``field``."""
    if output.nullable and not field.nullable:
        return False
    if isinstance(field.dataType, T.ArrayType) and isinstance(output.dataType, T.ArrayType):
        return not (output.dataType.containsNull and not field.dataType.containsNull)
    return True


def _not_null(column: Column, field: T.StructField) -> Column:
    """``column`` declared with ``field``'s nullability (values unchanged)."""
    data_type = field.dataType
    if isinstance(data_type, T.ArrayType) and not data_type.containsNull:
        element_zero = _zero(data_type.elementType)
        if element_zero is not None:
            zero = element_zero
            column = F.transform(column, lambda value: F.coalesce(value, zero))
    if field.nullable:
        return column
    column_zero = _zero(data_type)
    return column if column_zero is None else F.coalesce(column, column_zero)


def _zero(data_type: T.DataType) -> Column | None:
    """A non-null literal of ``data_type`` (None for types without a simple one)."""
    if isinstance(data_type, T.NumericType):
        return F.lit(0).cast(data_type)
    if isinstance(data_type, T.StringType):
        return F.lit("").cast(data_type)
    if isinstance(data_type, T.BooleanType):
        return F.lit(False)
    if isinstance(data_type, T.ArrayType):
        return F.array().cast(T.ArrayType(data_type.elementType, data_type.containsNull))
    return None
