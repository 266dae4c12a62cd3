"""Parameters of the cleaners, RandomOverSampler and the combinations; their CLI. No JVM."""

from __future__ import annotations

import pytest

from spark_smote import (
    SMOTE,
    SMOTEENN,
    EditedNearestNeighbours,
    InvalidParameterError,
    RandomOverSampler,
    SMOTETomek,
    TomekLinks,
)
from spark_smote._config import load_config
from spark_smote._family_params import cleaned_classes, shrinkage_by_class
from spark_smote._random_over import bandwidth_factor
from spark_smote.cli import _sampler_arguments, build_parser


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("auto", ["a", "c"]),
        ("not minority", ["a", "c"]),
        ("majority", ["a"]),
        ("not majority", ["b", "c"]),
        ("all", ["a", "b", "c"]),
        (("c", "a"), ["a", "c"]),
    ],
)
def test_cleaning_strategies_follow_imbalanced_learn(strategy, expected) -> None:
    assert cleaned_classes(strategy, {"a": 50, "b": 5, "c": 20}) == expected


def test_cleaning_strategy_errors() -> None:
    with pytest.raises(InvalidParameterError, match="not present"):
        cleaned_classes(("a", "z"), {"a": 5, "b": 3})
    for bad in ("minority", 0.5, {"a": 3}, []):
        with pytest.raises(InvalidParameterError, match="sampling_strategy"):
            TomekLinks(sampling_strategy=bad)


def test_shrinkage() -> None:
    assert shrinkage_by_class(None, [1], {0: 9, 1: 3}) is None
    assert shrinkage_by_class(0.5, [1, 2], {0: 9, 1: 3, 2: 1}) == {1: 0.5, 2: 0.5}
    assert shrinkage_by_class({"1": 2}, [1], {0: 9, 1: 3}) == {1: 2.0}
    with pytest.raises(InvalidParameterError, match="no factor"):
        shrinkage_by_class({0: 1.0}, [1], {0: 9, 1: 3})
    for bad in (-0.1, float("nan"), True, "x"):
        with pytest.raises(InvalidParameterError, match="shrinkage"):
            RandomOverSampler(shrinkage=bad)
    assert bandwidth_factor(100, 2) == pytest.approx((4 / (4 * 100)) ** (1 / 6))


def test_repr_params_and_copy() -> None:
    enn = EditedNearestNeighbours(n_neighbors=5, kind_sel="mode", seed=1)
    assert "kind_sel='mode'" in repr(enn)
    assert EditedNearestNeighbours(**enn.get_params()).get_params() == enn.get_params()
    assert enn.copy(kind_sel="all").params.n_neighbors == 5
    combo = SMOTETomek(smote=SMOTE(k_neighbors=3, seed=2))
    assert combo.get_params() == {
        "smote": {"class": "SMOTE", "params": {"k_neighbors": 3, "seed": 2}},
        "tomek": None,
    }
    assert combo.params.label_col == "label" and combo.params.seed == 2


def test_the_combination_does_not_touch_the_callers_sampler() -> None:
    smote = SMOTE(seed=1)
    combo = SMOTEENN(smote=smote)
    assert combo.params.smote is not smote


def arguments(*argv: str) -> dict:
    args = build_parser().parse_args(["--input", "in", "--output", "out", *argv])
    return _sampler_arguments(args, load_config(None))


def test_cli_options_of_the_family() -> None:
    assert arguments("--sampler", "enn", "--enn-neighbors", "4", "--kind-sel", "mode") == {
        "n_neighbors": 4,
        "kind_sel": "mode",
    }
    assert arguments("--sampler", "tomek", "--sampling-strategy", "[0, 2]") == {
        "sampling_strategy": [0, 2]
    }
    assert arguments("--sampler", "tomek", "--sampling-strategy", "majority") == {
        "sampling_strategy": "majority"
    }
    assert arguments("--sampler", "random", "--shrinkage", '{"1": 0.5}') == {
        "shrinkage": {"1": 0.5}
    }
    combo = arguments("--sampler", "smote-enn", "--k-neighbors", "3", "--kind-sel", "mode")
    assert combo == {"smote": {"k_neighbors": 3}, "enn": {"kind_sel": "mode"}}
    assert SMOTEENN(**combo).params.cleaner().params.kind_sel == "mode"
    with pytest.raises(InvalidParameterError, match="--enn-neighbors does not apply"):
        arguments("--sampler", "smote", "--enn-neighbors", "4")
    with pytest.raises(InvalidParameterError, match="--kind-sel does not apply"):
        arguments("--sampler", "smote-tomek", "--kind-sel", "mode")


def test_shrinkage_naming_an_unknown_class() -> None:
    with pytest.raises(InvalidParameterError, match="shrinkage names class 7"):
        shrinkage_by_class({7: 1.0, 1: 1.0}, [1], {0: 9, 1: 3})
