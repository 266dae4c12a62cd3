"""Spark ML spellings of the parameters, and saving/loading a configured SMOTE."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from spark_smote import SMOTE, InvalidParameterError, OutputPathError, smote


def test_spark_ml_names_set_label_and_features() -> None:
    sm = SMOTE(labelCol="y", featuresCol="features", seed=3)
    assert sm.params.label_col == "y"
    assert sm.params.features == "features"
    assert sm.params.seed == 3


def test_conflicting_spellings_are_refused() -> None:
    with pytest.raises(InvalidParameterError, match="labelCol='y' and label_col='z' disagree"):
        SMOTE(label_col="z", labelCol="y")
    with pytest.raises(InvalidParameterError, match="featuresCol='f' and features="):
        SMOTE(features=["a"], featuresCol="f")


def test_saved_configuration_loads_equal(tmp_path: Path) -> None:
    sm = SMOTE(
        labelCol="y",
        features=["a", "b"],
        k_neighbors=3,
        sampling_strategy={1: 50},
        seed=9,
        categorical=["c"],
        non_feature_fill="base",
    )
    path = tmp_path / "smote.json"
    sm.save(path)
    loaded = SMOTE.load(path)
    assert loaded.get_params() == {**sm.get_params(), "sampling_strategy": {"1": 50}}
    assert repr(SMOTE(**sm.get_params())) == repr(sm)


def test_save_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "smote.json"
    SMOTE(seed=1).save(path)
    with pytest.raises(OutputPathError, match=r"already exists.*overwrite=True"):
        SMOTE(seed=2).save(path)
    SMOTE(seed=2).save(path, overwrite=True)
    assert SMOTE.load(path).params.seed == 2


def test_loading_a_file_that_is_not_a_configuration_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text('{"a": 1}')
    with pytest.raises(InvalidParameterError, match="not a saved SMOTE configuration"):
        SMOTE.load(path)


def test_loading_a_configuration_without_parameters_names_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "smote.json"
    SMOTE(seed=1).save(path)
    document = json.loads(path.read_text())
    del document["params"]
    path.write_text(json.dumps(document))
    with pytest.raises(InvalidParameterError, match=r"'params' object is missing.*\.save\(path\)"):
        SMOTE.load(path)


@pytest.mark.e2e
def test_loaded_configuration_resamples_like_the_original(spark: Any, tmp_path: Path) -> None:
    rows = [(float(i), float(i % 3), 0) for i in range(12)] + [(float(i), 0.5, 1) for i in range(5)]
    df = spark.createDataFrame(rows, ["a", "b", "label"])
    sm = SMOTE(labelCol="label", k_neighbors=2, seed=7, sampling_strategy={1: 12})
    sm.save(tmp_path / "smote.json")
    first = sorted(sm.fit_resample(df).collect())
    again = sorted(SMOTE.load(tmp_path / "smote.json").fit_resample(df).collect())
    assert first == again
    assert (
        sorted(
            smote(df, labelCol="label", k_neighbors=2, seed=7, sampling_strategy={1: 12}).collect()
        )
        == first
    )
