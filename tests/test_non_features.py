"""Synthetic rows' values in columns that are neither label nor feature; fresh ids."""

from __future__ import annotations

from typing import Any

import pytest

from spark_smote import SMOTE, ColumnTypeError, InvalidInputError, InvalidParameterError


def _df(spark: Any, id_type: str = "long") -> Any:
    rows = [(i, float(i % 7), float(i // 7), f"m{i}", 0) for i in range(20)]
    rows += [(100 + i, 50.0 + i, 3.0 * (i % 3), f"n{i}", 1) for i in range(6)]
    return spark.createDataFrame(rows, f"id {id_type}, x double, y double, note string, label int")


def _synthetic(df: Any, **options: Any) -> list[Any]:
    sampler = SMOTE(
        label_col="label",
        features=["x", "y"],
        k_neighbors=2,
        seed=4,
        id_col="id",
        provenance=True,
        synthetic_col="synthetic",
        **options,
    )
    return sampler.fit_resample(df).where("synthetic").collect()


@pytest.mark.e2e
def test_default_leaves_other_columns_null(spark: Any) -> None:
    rows = _synthetic(_df(spark))
    assert rows and all(r["note"] is None and r["id"] is None for r in rows)


@pytest.mark.e2e
def test_base_fill_copies_the_base_row(spark: Any) -> None:
    df = _df(spark)
    notes = {r["id"]: r["note"] for r in df.collect()}
    rows = _synthetic(df, non_feature_fill="base")
    assert all(r["note"] == notes[r["smote_base_id"]] for r in rows)
    assert all(r["id"] is None for r in rows)


@pytest.mark.e2e
def test_nearest_fill_copies_the_nearer_end_of_the_segment(spark: Any) -> None:
    df = _df(spark)
    notes = {r["id"]: r["note"] for r in df.collect()}
    rows = _synthetic(df, non_feature_fill="nearest")
    for r in rows:
        nearer = r["smote_base_id"] if r["smote_lambda"] < 0.5 else r["smote_neighbor_id"]
        assert r["note"] == notes[nearer]
    assert {r["smote_lambda"] < 0.5 for r in rows} == {True, False}


@pytest.mark.e2e
def test_fresh_integer_ids_follow_the_largest_input_id(spark: Any) -> None:
    rows = _synthetic(_df(spark), synthetic_ids=True)
    assert sorted(r["id"] for r in rows) == list(range(106, 106 + 14))


@pytest.mark.e2e
def test_fresh_string_ids_are_unique_and_never_input_ids(spark: Any) -> None:
    df = _df(spark, id_type="string")
    rows = _synthetic(df, synthetic_ids=True)
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == len(ids) == 14
    assert all(i.startswith("smote-1-") for i in ids)


def test_fresh_ids_that_overflow_the_id_type_are_refused(spark: Any) -> None:
    rows = [(100 + i, float(i), i % 2) for i in range(10)]
    df = spark.createDataFrame(rows, "id tinyint, x double, label int")
    df = df.union(spark.createDataFrame([(127, 99.0, 0), (110, 98.0, 0)], df.schema))
    with pytest.raises(InvalidInputError, match=r"id_col='id' has type tinyint.*above"):
        SMOTE(id_col="id", synthetic_ids=True, k_neighbors=2, seed=1).fit_resample(df)


def test_fresh_ids_need_an_integer_or_string_id(spark: Any) -> None:
    df = spark.createDataFrame([(0.5, 1.0, 0)], "id double, x double, label int")
    with pytest.raises(ColumnTypeError, match="synthetic_ids=True: id_col='id' has type double"):
        SMOTE(id_col="id", synthetic_ids=True, features=["x"], seed=1).fit_resample(df)


def test_fresh_ids_without_id_col_are_refused() -> None:
    with pytest.raises(InvalidParameterError, match=r"synthetic_ids=True.*id_col is None"):
        SMOTE(synthetic_ids=True)


def test_unknown_fill_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="non_feature_fill='copy'"):
        SMOTE(non_feature_fill="copy")
