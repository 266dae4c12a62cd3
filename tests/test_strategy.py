"""sampling_strategy gives exactly imbalanced-learn's per-class counts, for every form."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from imblearn.utils import check_sampling_strategy

from spark_smote import SMOTE, InvalidParameterError
from spark_smote._params import SMOTEParams
from spark_smote._strategy import resolve_sampling_strategy
from tests.helpers import class_df, label_counts

NAMED = ["auto", "not majority", "minority", "not minority", "all"]

# Rows per class, written as (label, count) in an order that is not the sorted one, so
# any dependence on insertion order shows. Ties for the majority and for the minority.
LABEL_SETS: dict[str, list[Any]] = {
    "int": [7, -2, 3, 11],
    "str": ["b", "a", "d", "c"],
}
COUNT_SHAPES = {
    "distinct": [40, 10, 25, 5],
    "majority_tie": [40, 40, 25, 5],
    "minority_tie": [40, 5, 25, 5],
    "all_tie": [9, 9, 9, 9],
    "three_way_majority_tie": [30, 30, 30, 4],
}


def imblearn_targets(strategy: Any, counts: dict[Any, int]) -> dict[Any, int]:
    """What imbalanced-learn asks for, as plain Python values."""
    y = np.concatenate([np.full(n, label) for label, n in counts.items()])
    targets = check_sampling_strategy(strategy, y, "over-sampling")
    return {_plain(label): int(n) for label, n in targets.items()}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def ours(strategy: Any, counts: dict[Any, int]) -> dict[Any, int]:
    checked = SMOTEParams.build(sampling_strategy=strategy).sampling_strategy
    return resolve_sampling_strategy(checked, counts)


def counts_of(labels: list[Any], shape: list[int]) -> dict[Any, int]:
    return dict(zip(labels, shape[: len(labels)], strict=True))


@pytest.mark.parametrize("shape", COUNT_SHAPES.values(), ids=COUNT_SHAPES.keys())
@pytest.mark.parametrize("labels", LABEL_SETS.values(), ids=LABEL_SETS.keys())
@pytest.mark.parametrize("strategy", NAMED)
def test_named_strategy_matches_imblearn(strategy, labels, shape):
    counts = counts_of(labels, shape)
    assert ours(strategy, counts) == imblearn_targets(strategy, counts)


@pytest.mark.parametrize("strategy", NAMED)
@pytest.mark.parametrize(
    "counts",
    [{False: 30, True: 8}, {False: 8, True: 30}, {False: 12, True: 12}],
    ids=["true_minority", "false_minority", "tie"],
)
def test_named_strategy_on_bool_labels_matches_imblearn(strategy, counts):
    assert ours(strategy, counts) == imblearn_targets(strategy, counts)


@pytest.mark.parametrize("ratio", [0.3, 0.5, 0.75, 0.8, 1.0])
@pytest.mark.parametrize(
    "counts",
    [{0: 100, 1: 20}, {"no": 100, "yes": 20}, {False: 20, True: 100}, {5: 33, 9: 7}],
    ids=["int", "str", "bool", "odd_counts"],
)
def test_float_strategy_matches_imblearn(ratio, counts):
    assert ours(ratio, counts) == imblearn_targets(ratio, counts)


@pytest.mark.parametrize(
    ("ratio", "counts"),
    [(0.5, {0: 100, 1: 50}), (1.0, {0: 40, 1: 40}), (0.25, {"a": 4, "b": 16})],
    ids=["ratio_already_met", "tie", "str_ratio_already_met"],
)
def test_float_strategy_that_adds_nothing_is_refused_like_imblearn(ratio, counts):
    with pytest.raises(ValueError, match="remove samples"):
        imblearn_targets(ratio, counts)
    with pytest.raises(InvalidParameterError, match=rf"sampling_strategy={ratio}.*Increase"):
        ours(ratio, counts)


@pytest.mark.parametrize(
    ("strategy", "counts"),
    [
        ({1: 40}, {0: 40, 1: 10, 2: 25}),
        ({1: 40, 2: 60}, {0: 40, 1: 10, 2: 25}),
        ({0: 40}, {0: 40, 1: 10, 2: 25}),
        ({"a": 13, "c": 7}, {"a": 10, "b": 30, "c": 7}),
        ({True: 50}, {False: 30, True: 8}),
        ({False: 8, True: 30}, {False: 8, True: 30}),
    ],
    ids=["one_class", "above_majority", "majority_unchanged", "str", "bool", "nothing"],
)
def test_dict_strategy_matches_imblearn(strategy, counts):
    assert ours(strategy, counts) == imblearn_targets(strategy, counts)


def test_dict_with_string_keys_for_int_labels_matches_int_keys():
    # The CLI passes JSON, whose keys are strings.
    counts = {0: 40, 1: 10, 2: 25}
    assert ours({"1": 30, "2": 26}, counts) == imblearn_targets({1: 30, 2: 26}, counts)


def test_result_is_in_sorted_label_order():
    counts = {"z": 5, "m": 7, "a": 30, "c": 1}
    assert list(ours("all", counts)) == ["a", "c", "m", "z"]


# --- through Spark: the classes end with exactly these counts --------------------------


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("strategy", "counts"),
    [
        ("auto", {3: 30, 1: 12, 2: 30, 0: 9}),
        ("minority", {"b": 25, "a": 9, "c": 9}),
        ("not minority", {"b": 25, "a": 9, "c": 12}),
        ("all", {False: 20, True: 11}),
        (0.6, {0: 30, 1: 8}),
        ({1: 21, 2: 40}, {0: 30, 1: 8, 2: 12}),
    ],
    ids=["auto_int_tie", "minority_str_tie", "not_minority_str", "all_bool", "float", "dict"],
)
def test_output_has_exactly_the_counts_imblearn_asks_for(spark, strategy, counts):
    df = class_df(spark, counts)
    out = SMOTE(label_col="label", k_neighbors=3, sampling_strategy=strategy, seed=3).fit_resample(
        df
    )
    added = imblearn_targets(strategy, counts)
    expected = {label: n + added.get(label, 0) for label, n in counts.items()}
    assert label_counts(out, "label") == expected
