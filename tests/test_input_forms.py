"""Every feature layout and label type: the output contract holds.

Contract: output schema = input schema (same order and types) plus only the opt-in
columns; every original row unchanged; exactly the asked rows per class; synthetic
rows carry their class, interpolated features (rounded for integer columns) and null
in every other column.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from pyspark.ml.linalg import DenseVector, VectorUDT
from pyspark.sql import types as T

from spark_smote import SMOTE
from spark_smote._errors import InvalidParameterError
from spark_smote._features import PROVENANCE_COLUMNS
from tests.helpers import label_counts, row_multiset

pytestmark = pytest.mark.e2e

N_MAJOR, N_MINOR, K = 40, 12, 3


def blob(n: int, centre: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(centre, 1.0, size=(n, 2)).round(3)


def points() -> list[tuple[int, np.ndarray, int]]:
    """(id, features, class ordinal) of a two-class dataset."""
    major = [(i, x, 0) for i, x in enumerate(blob(N_MAJOR, 0.0, 1))]
    minor = [(100 + i, x, 1) for i, x in enumerate(blob(N_MINOR, 8.0, 2))]
    return major + minor


@dataclass(frozen=True)
class Form:
    """One way to lay out the features: the schema, a row builder and a reader."""

    schema: T.StructType
    features: Any
    make: Callable[[int, np.ndarray, Any], tuple]
    read: Callable[[Any], np.ndarray]
    tolerance: float = 1e-12
    integer: bool = False


def _fields(*fields: tuple[str, T.DataType]) -> T.StructType:
    return T.StructType([T.StructField(name, data_type) for name, data_type in fields])


LABEL = ("label", T.IntegerType())
ID = ("id", T.LongType())
NOTE = ("note", T.StringType())
DAY = ("day", T.DateType())

FORMS = {
    "list": Form(
        _fields(ID, ("a", T.DoubleType()), NOTE, ("b", T.DoubleType()), LABEL),
        ["a", "b"],
        lambda i, x, y: (i, float(x[0]), f"n{i}", float(x[1]), y),
        lambda r: np.array([r["a"], r["b"]]),
    ),
    "none_all_numeric": Form(
        _fields(ID, ("a", T.DoubleType()), NOTE, ("b", T.FloatType()), LABEL),
        None,
        lambda i, x, y: (i, float(x[0]), f"n{i}", float(x[1]), y),
        lambda r: np.array([r["a"], r["b"]]),
        tolerance=1e-6,
    ),
    "vector": Form(
        _fields(ID, NOTE, ("v", VectorUDT()), LABEL),
        "v",
        lambda i, x, y: (i, f"n{i}", DenseVector(x), y),
        lambda r: r["v"].toArray(),
    ),
    "array_double": Form(
        _fields(ID, ("v", T.ArrayType(T.DoubleType())), NOTE, LABEL),
        "v",
        lambda i, x, y: (i, [float(v) for v in x], f"n{i}", y),
        lambda r: np.array(r["v"]),
    ),
    "array_float": Form(
        _fields(ID, ("v", T.ArrayType(T.FloatType())), NOTE, LABEL),
        "v",
        lambda i, x, y: (i, [float(v) for v in x], f"n{i}", y),
        lambda r: np.array(r["v"]),
        tolerance=1e-5,
    ),
    "single_numeric_column": Form(
        _fields(ID, ("a", T.DoubleType()), NOTE, ("b", T.DoubleType()), LABEL),
        "a",
        lambda i, x, y: (i, float(x[0]), f"n{i}", float(x[1]), y),
        lambda r: np.array([r["a"]]),
    ),
    "integer_columns": Form(
        _fields(ID, ("a", T.IntegerType()), ("b", T.LongType()), DAY, LABEL),
        ["a", "b"],
        lambda i, x, y: (i, int(x[0] * 100), int(x[1] * 1000), None, y),
        lambda r: np.array([r["a"], r["b"]], dtype=float),
        integer=True,
    ),
}


def make_df(spark, form: Form, labels=(0, 1), label_type: T.DataType | None = None):
    label_type = label_type or T.IntegerType()
    fields = [
        T.StructField(f.name, label_type) if f.name == "label" else f for f in form.schema.fields
    ]
    rows = [form.make(i, x, labels[y]) for i, x, y in points()]
    return spark.createDataFrame(rows, T.StructType(fields))


def types_of(schema: T.StructType) -> list[tuple[str, str]]:
    return [(f.name, f.dataType.simpleString()) for f in schema.fields]


def run(df, form: Form, **options):
    params = {"label_col": "label", "features": form.features, "k_neighbors": K, "seed": 4}
    params.update(options)
    sampler = SMOTE(**params)
    return sampler.fit_resample(df), sampler.report_


def feature_columns(form: Form, schema: T.StructType) -> set[str]:
    if form.features is None:
        numeric = (T.IntegerType, T.LongType, T.FloatType, T.DoubleType)
        return {
            f.name
            for f in schema.fields
            if isinstance(f.dataType, numeric) and f.name not in ("id", "label")
        }
    return {form.features} if isinstance(form.features, str) else set(form.features)


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_output_contract_for_every_feature_form(spark, form):
    df = make_df(spark, form)
    out, report = run(df, form, id_col="id", synthetic_col="is_synthetic", provenance=True)
    extra = [
        ("is_synthetic", "boolean"),
        ("smote_base_id", "bigint"),
        ("smote_neighbor_id", "bigint"),
        ("smote_lambda", "double"),
    ]
    assert types_of(out.schema) == types_of(df.schema) + extra
    assert label_counts(out, "label") == {0: N_MAJOR, 1: N_MAJOR}
    assert report.synthetic_counts == {1: N_MAJOR - N_MINOR}

    originals = out.where("NOT is_synthetic").drop("is_synthetic", *PROVENANCE_COLUMNS)
    assert row_multiset(originals) == row_multiset(df)

    by_id = {r["id"]: form.read(r) for r in df.collect()}
    features = feature_columns(form, df.schema)
    others = [n for n in df.columns if n not in features and n != "label"]
    synthetic = out.where("is_synthetic").collect()
    assert len(synthetic) == N_MAJOR - N_MINOR
    for row in synthetic:
        assert row["label"] == 1
        assert all(row[name] is None for name in others), row
        base, neighbor = by_id[row["smote_base_id"]], by_id[row["smote_neighbor_id"]]
        expected = base + row["smote_lambda"] * (neighbor - base)
        got = form.read(row)
        if form.integer:
            assert np.all(np.abs(got - expected) <= 0.5 + 1e-9), (got, expected)
            assert np.array_equal(got, np.floor(expected + 0.5))
        else:
            np.testing.assert_allclose(got, expected, rtol=form.tolerance, atol=form.tolerance)


def test_features_none_uses_every_numeric_column_but_label_and_id(spark):
    form = FORMS["none_all_numeric"]
    _, report = run(make_df(spark, form), form, id_col="id")
    # 'note' (string) and 'id' are left out; a, b interpolated (checked above).
    assert report.synthetic_counts == {1: N_MAJOR - N_MINOR}
    without_id, _ = run(make_df(spark, form), form)
    ids = [r["id"] for r in without_id.collect() if r["note"] is None]
    assert len(ids) == N_MAJOR - N_MINOR
    assert all(i is not None for i in ids), "without id_col, the numeric id is a feature"


@pytest.mark.parametrize(
    ("labels", "label_type"),
    [
        ((7, -3), T.LongType()),
        (("benign", "malignant"), T.StringType()),
        ((True, False), T.BooleanType()),
        ((2, 1), T.ByteType()),
    ],
    ids=["long", "string", "bool", "byte"],
)
def test_label_types(spark, labels, label_type):
    form = FORMS["list"]
    df = make_df(spark, form, labels=labels, label_type=label_type)
    out, report = run(df, form, synthetic_col="is_synthetic")
    assert types_of(out.schema) == [*types_of(df.schema), ("is_synthetic", "boolean")]
    assert label_counts(out, "label") == {labels[0]: N_MAJOR, labels[1]: N_MAJOR}
    assert report.synthetic_counts == {labels[1]: N_MAJOR - N_MINOR}
    synthetic_labels = Counter(r["label"] for r in out.where("is_synthetic").collect())
    assert synthetic_labels == {labels[1]: N_MAJOR - N_MINOR}


def test_multi_class_grows_every_class_to_the_majority(spark):
    rng = np.random.default_rng(3)
    sizes = {"a": 50, "b": 9, "c": 23, "d": 50}
    rows = [
        (float(x), float(y), label)
        for c, (label, n) in enumerate(sizes.items())
        for x, y in rng.normal(5.0 * c, 1.0, size=(n, 2))
    ]
    df = spark.createDataFrame(rows, "x double, y double, label string")
    out = SMOTE(label_col="label", k_neighbors=4, seed=1).fit_resample(df)
    assert label_counts(out, "label") == dict.fromkeys(sizes, 50)
    assert row_multiset(df) <= row_multiset(out)


def test_opt_in_columns_are_absent_unless_asked(spark):
    form = FORMS["list"]
    df = make_df(spark, form)
    out, _ = run(df, form)
    assert types_of(out.schema) == types_of(df.schema)
    only_flag, _ = run(df, form, synthetic_col="made_up")
    assert only_flag.columns == [*df.columns, "made_up"]
    only_provenance, _ = run(df, form, provenance=True, id_col="id")
    assert only_provenance.columns == [*df.columns, *PROVENANCE_COLUMNS]


def test_provenance_without_id_col_is_refused():
    with pytest.raises(InvalidParameterError, match=r"provenance=True needs id_col"):
        SMOTE(label_col="label", provenance=True)


def test_provenance_ids_join_back_to_the_input(spark):
    form = FORMS["list"]
    df = make_df(spark, form)
    out, _ = run(df, form, provenance=True, id_col="id", synthetic_col="s")
    assert types_of(out.schema)[-3:] == [
        ("smote_base_id", "bigint"),
        ("smote_neighbor_id", "bigint"),
        ("smote_lambda", "double"),
    ]
    synthetic = out.where("s").collect()
    keys = {r["smote_base_id"] for r in synthetic} | {r["smote_neighbor_id"] for r in synthetic}
    minority_ids = {r["id"] for r in df.where("label = 1").select("id").collect()}
    assert keys <= minority_ids
    assert all(r["smote_base_id"] != r["smote_neighbor_id"] for r in synthetic)
    originals = out.where("NOT s").collect()
    assert all(r["smote_base_id"] is None and r["smote_lambda"] is None for r in originals)


def test_nothing_to_grow_returns_the_input_rows(spark):
    rows = [(i, float(i), float(i % 4), i % 2) for i in range(30)]
    df = spark.createDataFrame(rows, "id long, x double, y double, label int")
    sampler = SMOTE(label_col="label", seed=1, synthetic_col="s", provenance=True, id_col="id")
    out = sampler.fit_resample(df)
    assert sampler.report_.synthetic_counts == {}
    assert sampler.report_.class_counts_after == {0: 15, 1: 15}
    assert out.columns == [*df.columns, "s", *PROVENANCE_COLUMNS]
    assert out.where("s").count() == 0
    assert row_multiset(out.select(*df.columns)) == row_multiset(df)
