"""No silent choice of features: the report names them, id-like columns get a warning.

With ``features=None`` every numeric column but the label and ``id_col`` is a feature;
``report_`` (and the JSON report, and the CLI) list the features used and the columns
synthetic rows leave null, and an integer column that looks like a row id (named
``id``, ``*_id``, ``*Id``, or with every value distinct) is named in a warning with the
fix. Provenance needs ``id_col`` (its ids must join back to the input).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import pytest

from spark_smote import SMOTE
from spark_smote._errors import InvalidParameterError

pytestmark = pytest.mark.e2e


def rows_with(n_major: int = 60, n_minor: int = 60) -> list[tuple[Any, ...]]:
    """Columns: user_id (distinct), code (repeats), x, note, label."""
    rows = []
    for i in range(n_major + n_minor):
        rows.append((1000 + i, i % 4, float(i % 11) + 0.5 * (i % 3), f"r{i}", int(i < n_minor)))
    return rows


COLUMNS = ["user_id", "code", "x", "note", "label"]


def test_report_lists_the_features_and_the_columns_left_null(spark: Any) -> None:
    df = spark.createDataFrame(rows_with(60, 20), COLUMNS)
    sampler = SMOTE(label_col="label", id_col="user_id", k_neighbors=3, seed=1)
    sampler.fit_resample(df)
    assert sampler.report_ is not None
    assert sampler.report_.features == ["code", "x"]
    assert sampler.report_.columns_left_null == ["user_id", "note"]


def test_an_id_like_integer_feature_is_named_in_a_warning(
    spark: Any, caplog: pytest.LogCaptureFixture
) -> None:
    df = spark.createDataFrame(rows_with(60, 60), COLUMNS).withColumnRenamed("user_id", "serial")
    with (
        caplog.at_level(logging.WARNING, logger="spark_smote"),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        SMOTE(label_col="label", k_neighbors=3, seed=1, sampling_strategy={1: 70}).fit_resample(df)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    named = [m for m in messages if "'serial'" in m]
    assert named and "id_col='serial'" in named[0], messages  # every value distinct
    assert not [m for m in messages if "'code'" in m]  # repeats: a real feature
    assert any("'serial'" in r.getMessage() for r in caplog.records)


def test_a_column_named_like_an_id_is_named_in_a_warning(spark: Any) -> None:
    df = spark.createDataFrame([(i % 5, float(i), int(i < 8)) for i in range(30)], ["id", "x", "y"])
    with pytest.warns(UserWarning, match=r"column 'id' looks like a row identifier"):
        SMOTE(label_col="y", k_neighbors=3, seed=1).fit_resample(df)


def test_listed_features_or_id_col_give_no_warning(spark: Any) -> None:
    df = spark.createDataFrame(rows_with(60, 60), COLUMNS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        SMOTE(label_col="label", features=["x"], k_neighbors=3, seed=1).fit_resample(df)
        SMOTE(label_col="label", id_col="user_id", k_neighbors=3, seed=1).fit_resample(df)


def test_provenance_without_id_col_is_refused_with_the_fix() -> None:
    with pytest.raises(InvalidParameterError, match=r"provenance=True needs id_col.*id_col="):
        SMOTE(label_col="label", provenance=True)
