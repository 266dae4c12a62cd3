"""Sampler parameters: declared once, checked at construction, derived everywhere.

No JVM: these tests build samplers and read their parameters, never a DataFrame.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from spark_smote import SMOTE, InvalidParameterError, neighbor_recall, smote
from spark_smote._params import SMOTEParams

SMOTE_DEFAULTS = {
    "label_col": "label",
    "features": None,
    "seed": None,
    "neighbor_search": "auto",
    "id_col": None,
    "synthetic_col": None,
    "provenance": False,
    "k_neighbors": 5,
    "sampling_strategy": "auto",
    "categorical": [],
    "non_feature_fill": "null",
    "synthetic_ids": False,
}


def test_defaults_are_the_documented_ones() -> None:
    assert SMOTE().get_params() == SMOTE_DEFAULTS


def test_signature_lists_every_parameter_and_the_spark_ml_spellings() -> None:
    names = [*SMOTE_DEFAULTS, "labelCol", "featuresCol"]
    assert list(inspect.signature(SMOTE).parameters) == names
    assert list(inspect.signature(smote).parameters) == ["df", *names]


def test_unknown_keyword_is_named_with_the_accepted_ones() -> None:
    with pytest.raises(
        InvalidParameterError,
        match=r"SMOTE: unknown parameter 'k_neighbours'\. Did you mean 'k_neighbors'\? "
        r"Accepted parameters: \['label_col', .*'labelCol', 'featuresCol'\]",
    ):
        SMOTE(k_neighbours=3)


def test_build_refuses_unknown_keywords_too() -> None:
    with pytest.raises(InvalidParameterError, match=r"SMOTEParams: unknown parameter 'spam'"):
        SMOTEParams.build(spam=1)


def test_get_params_makes_an_equal_copy() -> None:
    sm = SMOTE(labelCol="y", features=["a", "b"], seed=3, sampling_strategy={1: 50})
    again = SMOTE(**sm.get_params())
    assert repr(again) == repr(sm)
    assert again.params == sm.params


def test_repr_shows_every_parameter() -> None:
    text = repr(SMOTE(k_neighbors=3, seed=1))
    assert text.startswith("SMOTE(label_col='label', features=None, seed=1, ")
    assert all(f"{name}=" in text for name in SMOTE_DEFAULTS)


def test_given_params_names_what_the_caller_passed() -> None:
    assert SMOTE().given_params == frozenset()
    sm = SMOTE(labelCol="y", featuresCol="v", k_neighbors=5)
    assert sm.given_params == {"label_col", "features", "k_neighbors"}


def test_copy_overrides_and_checks_and_leaves_the_original_alone() -> None:
    sm = SMOTE(label_col="y", seed=4)
    copied = sm.copy(k_neighbors=2, featuresCol="v")
    assert copied is not sm
    assert (copied.params.k_neighbors, copied.params.features) == (2, "v")
    assert (copied.params.label_col, copied.params.seed) == ("y", 4)
    assert copied.given_params == {"label_col", "seed", "k_neighbors", "features"}
    assert sm.params.k_neighbors == 5
    with pytest.raises(InvalidParameterError, match=r"k_neighbors=0: must be an int >= 1"):
        sm.copy(k_neighbors=0)
    with pytest.raises(InvalidParameterError, match=r"unknown parameter 'k'"):
        sm.copy(k=2)


def test_copy_of_an_unseeded_sampler_draws_its_own_seed() -> None:
    copied = SMOTE().copy(k_neighbors=3)
    assert not copied.params.seed_was_given
    assert copied.get_params()["seed"] is None


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"label_col": "label", "labelCol": "y"}, r"labelCol='y' and label_col='label' disagree"),
        ({"label_col": "z", "labelCol": "y"}, r"labelCol='y' and label_col='z' disagree"),
        ({"features": None, "featuresCol": "f"}, r"featuresCol='f' and features=None disagree"),
        ({"features": ["a"], "featuresCol": "f"}, r"featuresCol='f' and features=\['a'\]"),
    ],
)
def test_both_spellings_with_different_values_are_refused(
    given: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidParameterError, match=message + ".*Pass only one of them"):
        SMOTE(**given)


def test_both_spellings_with_the_same_value_are_one_parameter() -> None:
    sm = SMOTE(label_col="y", labelCol="y", features="v", featuresCol="v")
    assert (sm.params.label_col, sm.params.features) == ("y", "v")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"k_neighbors": True}, r"k_neighbors=True: must be an int >= 1"),
        ({"seed": -1}, r"seed=-1: must be None or an int in \[0, 2\*\*63 - 1\]"),
        ({"neighbor_search": "ball"}, r"neighbor_search='ball': use one of \['auto'"),
        ({"features": []}, r"features=\[\]: an empty list selects nothing"),
        ({"features": ["a", "a"]}, r"features: columns \['a'\] are listed more than once"),
        ({"features": ["label"]}, r"features: 'label' is also label_col"),
        ({"id_col": "label"}, r"id_col='label' is also label_col"),
        ({"synthetic_col": "label"}, r"synthetic_col='label' names the label or id column"),
        ({"provenance": 1}, r"provenance=1: must be True or False"),
        ({"categorical": "c"}, r"categorical='c': expected a list of column names"),
        ({"categorical": ["a"], "features": ["a"]}, r"categorical: \['a'\] are also listed"),
        ({"non_feature_fill": "x"}, r"non_feature_fill='x': use one of.*'nearest': copy"),
        ({"synthetic_ids": True}, r"synthetic_ids=True generates fresh ids.*id_col is None"),
        ({"sampling_strategy": 1.5}, r"sampling_strategy=1\.5: a float strategy .*\(0, 1\]"),
        ({"sampling_strategy": {}}, r"sampling_strategy=\{\}: an empty dict asks for nothing"),
    ],
)
def test_each_rule_names_the_parameter_the_value_and_the_fix(
    given: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        SMOTE(**given)


def test_a_drawn_seed_is_kept_but_not_reported_as_given() -> None:
    sm = SMOTE()
    assert not sm.params.seed_was_given
    assert 0 <= sm.params.seed < 2**62
    assert SMOTE(seed=0).params.seed_was_given


# --- save / load -------------------------------------------------------------------


def test_saved_file_names_the_sampler_class(tmp_path: Path) -> None:
    path = tmp_path / "smote.json"
    SMOTE(seed=1, categorical=["c"]).save(path)
    document = json.loads(path.read_text())
    assert document["format"] == "spark_smote.SMOTE"
    assert document["params"] == {**SMOTE_DEFAULTS, "seed": 1, "categorical": ["c"]}


def test_loading_another_samplers_file_names_the_right_class(tmp_path: Path) -> None:
    path = tmp_path / "tomek.json"
    path.write_text(json.dumps({"format": "spark_smote.TomekLinks", "params": {}}))
    with pytest.raises(
        InvalidParameterError,
        match=r"holds a saved TomekLinks configuration, not a SMOTE one\. Load it with "
        r"TomekLinks\.load\(path\)",
    ):
        SMOTE.load(path)


def test_loading_a_file_with_an_unknown_parameter_names_it(tmp_path: Path) -> None:
    path = tmp_path / "smote.json"
    path.write_text(json.dumps({"format": "spark_smote.SMOTE", "params": {"k": 3}}))
    with pytest.raises(InvalidParameterError, match=r"unknown parameter 'k'"):
        SMOTE.load(path)


# --- not a Spark DataFrame ---------------------------------------------------------


def test_a_pandas_dataframe_is_refused_with_the_conversion() -> None:
    pdf = pd.DataFrame({"x": [1.0, 2.0], "label": [0, 1]})
    fix = r"got a pandas DataFrame.*spark\.createDataFrame\(pdf\)"
    with pytest.raises(TypeError, match=r"SMOTE\.fit_resample: " + fix):
        SMOTE(seed=1).fit_resample(pdf)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"smote: " + fix):
        smote(pdf, seed=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"neighbor_recall: " + fix):
        neighbor_recall(pdf)  # type: ignore[arg-type]


def test_other_objects_are_refused_naming_their_type() -> None:
    with pytest.raises(TypeError, match=r"expected a Spark DataFrame.*got builtins\.list"):
        SMOTE(seed=1).fit_resample([1, 2])  # type: ignore[arg-type]
