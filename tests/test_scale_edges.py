"""Skew and scale edges (issue 5, point 6).

One class of many identical rows (20,000 here; one million in the ``slow`` test), a
class of exactly k + 1 rows, 1000 classes, 1 and 512 features, and labels that are
strings with spaces and unicode. Each run checks exact counts and that synthetic rows
lie on the segment between their base and neighbour (provenance), bit for bit where
the arithmetic is the library's own.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
from pyspark.sql import functions as F

from spark_smote import SMOTE


def _synthetic_on_segments(out: Any, features: list[str], n_expected: int) -> None:
    """Every synthetic row is base + lambda * (neighbour - base), base != neighbour."""
    rows = out.select("id", *features, "smote_base_id", "smote_neighbor_id", "smote_lambda")
    pdf = rows.toPandas()
    originals = pdf[pdf["smote_base_id"].isna()].set_index("id")
    synthetic = pdf[pdf["smote_base_id"].notna()]
    assert len(synthetic) == n_expected
    assert (synthetic["smote_base_id"] != synthetic["smote_neighbor_id"]).all()
    base = originals.loc[synthetic["smote_base_id"].astype("int64"), features].to_numpy()
    nbr = originals.loc[synthetic["smote_neighbor_id"].astype("int64"), features].to_numpy()
    lam = synthetic["smote_lambda"].to_numpy()[:, None]
    assert ((lam >= 0) & (lam < 1)).all()
    np.testing.assert_allclose(synthetic[features].to_numpy(), base + lam * (nbr - base), atol=1e-9)


def _identical_majority(spark: Any, n_identical: int, n_minority: int) -> Any:
    """Class 0: ``n_identical`` copies of one row (made in Spark); class 1: a small blob."""
    majority = spark.range(n_identical).select(
        F.col("id"), F.lit(1.0).alias("x1"), F.lit(-2.0).alias("x2"), F.lit(0).alias("label")
    )
    rng = np.random.default_rng(1)
    blob = rng.normal(loc=5.0, size=(n_minority, 2))
    rows = [(n_identical + i, float(a), float(b), 1) for i, (a, b) in enumerate(blob)]
    minority = spark.createDataFrame(rows, majority.schema)
    return majority.unionByName(minority)


def _check_identical_majority(spark: Any, n_identical: int, n_minority: int) -> None:
    df = _identical_majority(spark, n_identical, n_minority)
    sampler = SMOTE(label_col="label", k_neighbors=5, seed=4, synthetic_col="synthetic")
    out = sampler.fit_resample(df)
    stats = (
        out.groupBy("label", "synthetic")
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.min("x1").alias("lo1"),
            F.max("x1").alias("hi1"),
            F.min("x2").alias("lo2"),
            F.max("x2").alias("hi2"),
        )
        .orderBy("label", "synthetic")
        .collect()
    )
    assert [(r["label"], r["synthetic"], r["n"]) for r in stats] == [
        (0, False, n_identical),
        (1, False, n_minority),
        (1, True, n_identical - n_minority),
    ]
    assert (stats[0]["lo1"], stats[0]["hi1"], stats[0]["lo2"], stats[0]["hi2"]) == (1, 1, -2, -2)
    original, synthetic = stats[1], stats[2]
    assert original["lo1"] <= synthetic["lo1"] and synthetic["hi1"] <= original["hi1"]
    assert original["lo2"] <= synthetic["lo2"] and synthetic["hi2"] <= original["hi2"]


def test_many_identical_rows_in_one_class(spark: Any) -> None:
    _check_identical_majority(spark, 20_000, 200)


@pytest.mark.slow
def test_one_million_identical_rows_in_one_class(spark: Any) -> None:
    _check_identical_majority(spark, 1_000_000, 500)


def test_grown_class_of_identical_rows_spanning_several_blocks(spark: Any) -> None:
    """2,500 identical minority rows (two exact-search blocks): synthetic rows are copies."""
    majority = spark.range(2_600).select(
        "id", (F.col("id") * 0.5).alias("x1"), F.lit(0.0).alias("x2"), F.lit(0).alias("label")
    )
    minority = spark.range(2_600, 5_100).select(
        "id", F.lit(3.0).alias("x1"), F.lit(7.0).alias("x2"), F.lit(1).alias("label")
    )
    out = SMOTE(label_col="label", k_neighbors=5, seed=8, synthetic_col="s").fit_resample(
        majority.unionByName(minority)
    )
    synthetic = out.where("s").groupBy("label", "x1", "x2").count().collect()
    assert [tuple(r) for r in synthetic] == [(1, 3.0, 7.0, 100)]


def test_class_of_exactly_k_plus_one_rows(spark: Any) -> None:
    k = 5
    rng = np.random.default_rng(2)
    rows = [(i, float(a), float(b), "big") for i, (a, b) in enumerate(rng.normal(size=(40, 2)))]
    rows += [(100 + i, float(i), float(i % 2), "small") for i in range(k + 1)]
    df = spark.createDataFrame(rows, "id long, x1 double, x2 double, label string")
    sampler = SMOTE(label_col="label", k_neighbors=k, seed=6, id_col="id", provenance=True)
    out = sampler.fit_resample(df)
    assert Counter(r["label"] for r in out.select("label").collect()) == {"big": 40, "small": 40}
    _synthetic_on_segments(out, ["x1", "x2"], 40 - (k + 1))
    # With k + 1 rows every other row of the class is a neighbour: all pairs can occur.
    pairs = out.where("smote_base_id is not null").select("smote_base_id", "smote_neighbor_id")
    assert all(100 <= r[0] <= 105 and 100 <= r[1] <= 105 for r in pairs.collect())


def test_one_thousand_classes(spark: Any) -> None:
    n_classes, k = 1000, 2
    rng = np.random.default_rng(3)
    rows = []
    for label in range(n_classes):
        size = 3 + (label % 3)  # 3, 4 or 5 rows: every class but the largest grows
        for x in rng.normal(loc=label, size=(size, 1)):
            rows.append((len(rows), float(x[0]), label))
    df = spark.createDataFrame(rows, "id long, x double, label int").repartition(4)
    sampler = SMOTE(label_col="label", k_neighbors=k, seed=12, synthetic_col="s")
    out = sampler.fit_resample(df)
    counts = dict(out.groupBy("label").count().collect())
    assert counts == dict.fromkeys(range(n_classes), 5)
    assert sampler.report_ is not None
    assert sum(sampler.report_.synthetic_counts.values()) == 5 * n_classes - len(rows)


@pytest.mark.parametrize("dimension", [1, 512])
def test_one_and_512_features(spark: Any, dimension: int) -> None:
    rng = np.random.default_rng(dimension)
    names = [f"f{i}" for i in range(dimension)]
    data = np.vstack([rng.normal(size=(60, dimension)), rng.normal(3.0, size=(20, dimension))])
    labels = [0] * 60 + [1] * 20
    rows = [(i, *map(float, x), labels[i]) for i, x in enumerate(data)]
    schema = ", ".join(["id long", *[f"{n} double" for n in names], "label int"])
    df = spark.createDataFrame(rows, schema)
    out = SMOTE(
        label_col="label", k_neighbors=4, seed=1, id_col="id", provenance=True
    ).fit_resample(df)
    assert out.columns[: dimension + 2] == ["id", *names, "label"]
    _synthetic_on_segments(out, names, 40)


@pytest.mark.e2e
def test_labels_with_spaces_and_unicode(spark: Any) -> None:
    labels = {"class one": 30, "  padded  ": 12, "clase ñ": 9, "类别 二": 8, "🙂 emoji": 7}
    rng = np.random.default_rng(9)
    rows = []
    for offset, (label, n) in enumerate(labels.items()):
        for x in rng.normal(loc=3 * offset, size=(n, 2)):
            rows.append((float(x[0]), float(x[1]), label))
    df = spark.createDataFrame(rows, "x1 double, x2 double, label string")
    out = SMOTE(label_col="label", k_neighbors=3, seed=2).fit_resample(df)
    assert dict(out.groupBy("label").count().collect()) == dict.fromkeys(labels, 30)
    asked = {"🙂 emoji": 20, "类别 二": 8, "  padded  ": 13}
    sampler = SMOTE(label_col="label", k_neighbors=3, seed=2, sampling_strategy=asked)
    counts = dict(sampler.fit_resample(df).groupBy("label").count().collect())
    assert counts == {**labels, **asked}
    assert sampler.report_ is not None
    assert sampler.report_.synthetic_counts == {"  padded  ": 1, "🙂 emoji": 13}
