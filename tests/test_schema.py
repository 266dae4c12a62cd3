"""The output keeps the input's schema: names, order, types and nullability.

A column synthetic rows fill (label, features, categorical columns, fresh ids, every
column with ``non_feature_fill``) keeps its NOT NULL declaration, array elements
included; a column they leave null becomes nullable; a NOT NULL Vector column becomes
nullable (the documented exception, see spark_smote/_nullability.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from pyspark.ml.linalg import Vectors, VectorUDT
from pyspark.sql import types as T

from spark_smote import SMOTE

pytestmark = pytest.mark.e2e


def nullability(schema: T.StructType) -> dict[str, tuple[bool, bool | None]]:
    """Per column: (nullable, containsNull of an array column or None)."""
    return {f.name: (f.nullable, getattr(f.dataType, "containsNull", None)) for f in schema.fields}


def not_null_rows(n_major: int, n_minor: int) -> list[tuple[Any, ...]]:
    rows = []
    for i in range(n_major + n_minor):
        label = 1 if i < n_minor else 0
        rows.append(([float(i), float(i % 3)], float(i % 5), label, i, f"row {i}"))
    return rows


NOT_NULL_SCHEMA = T.StructType(
    [
        T.StructField("x", T.ArrayType(T.DoubleType(), containsNull=False), nullable=False),
        T.StructField("d", T.DoubleType(), nullable=False),
        T.StructField("label", T.IntegerType(), nullable=False),
        T.StructField("id", T.LongType(), nullable=False),
        T.StructField("note", T.StringType(), nullable=False),
    ]
)


def test_not_null_array_features_and_label_stay_not_null(spark: Any) -> None:
    df = spark.createDataFrame(not_null_rows(30, 8), NOT_NULL_SCHEMA)
    out = SMOTE(label_col="label", features="x", k_neighbors=3, seed=3, id_col="id").fit_resample(
        df
    )
    assert out.count() == 60
    got = nullability(out.schema)
    assert [f.name for f in out.schema.fields] == [f.name for f in df.schema.fields]
    assert [f.dataType for f in out.schema.fields] == [f.dataType for f in df.schema.fields]
    assert got["x"] == (False, False)
    assert got["label"] == (False, None)
    # Synthetic rows leave these null: declared nullable, as they are.
    assert got["d"][0] and got["id"][0] and got["note"][0]


def test_not_null_feature_columns_and_fresh_ids_stay_not_null(spark: Any) -> None:
    df = spark.createDataFrame(not_null_rows(30, 8), NOT_NULL_SCHEMA).drop("x")
    sampler = SMOTE(label_col="label", k_neighbors=3, seed=3, id_col="id", synthetic_ids=True)
    out = sampler.fit_resample(df)
    assert out.schema == df.schema.__class__(
        [
            T.StructField("d", T.DoubleType(), False),
            T.StructField("label", T.IntegerType(), False),
            T.StructField("id", T.LongType(), False),
            T.StructField("note", T.StringType(), True),
        ]
    )


def test_every_column_filled_keeps_the_input_schema_exactly(spark: Any) -> None:
    df = spark.createDataFrame(not_null_rows(30, 8), NOT_NULL_SCHEMA)
    sampler = SMOTE(
        label_col="label",
        features="x",
        k_neighbors=3,
        seed=3,
        id_col="id",
        synthetic_ids=True,
        non_feature_fill="base",
    )
    out = sampler.fit_resample(df)
    assert out.schema == df.schema
    assert out.where("note is null or d is null or id is null").count() == 0


def test_not_null_vector_column_becomes_nullable_and_nothing_else(spark: Any) -> None:
    schema = T.StructType(
        [T.StructField("v", VectorUDT(), False), T.StructField("label", T.IntegerType(), False)]
    )
    rows = [(Vectors.dense([float(i), float(i % 4)]), int(i < 8)) for i in range(38)]
    out = SMOTE(label_col="label", features="v", k_neighbors=3, seed=3).fit_resample(
        spark.createDataFrame(rows, schema)
    )
    assert nullability(out.schema) == {"v": (True, None), "label": (False, None)}
    assert out.where("v is null").count() == 0
