"""SMOTE-NC: categorical features against imbalanced-learn's SMOTENC."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pytest
from imblearn.over_sampling import SMOTENC

from spark_smote import (
    SMOTE,
    ColumnTypeError,
    InvalidInputError,
    InvalidParameterError,
    _categorical,
)

K = 3
N_MINOR = 14
N_MAJOR = 30


def _rows() -> list[tuple[Any, ...]]:
    """id, two continuous features, a string and an int category, label (no ties)."""
    rng = np.random.default_rng(11)
    rows = []
    for i in range(N_MAJOR + N_MINOR):
        label = 1 if i < N_MINOR else 0
        rows.append(
            (
                i,
                float(rng.normal() + 3 * label),
                float(rng.normal() * 2),
                str(rng.choice(["red", "green", "blue"])),
                int(rng.integers(0, 2)),
                label,
            )
        )
    return rows


COLUMNS = ["id", "x", "y", "color", "size", "label"]


class _RecordingSMOTENC(SMOTENC):
    """imblearn's SMOTENC keeping the neighbour indices it used."""

    def _make_samples(self, x, y_dtype, y_type, nn_data, nn_num, n_samples, step_size=1.0, y=None):  # type: ignore[no-untyped-def]
        self.recorded_nns_ = nn_num
        return super()._make_samples(x, y_dtype, y_type, nn_data, nn_num, n_samples, step_size, y)


def _imblearn_reference() -> tuple[_RecordingSMOTENC, pd.DataFrame]:
    frame = pd.DataFrame(_rows(), columns=COLUMNS)
    sampler = _RecordingSMOTENC(categorical_features=[2, 3], k_neighbors=K, random_state=0)
    sampler.fit_resample(frame[["x", "y", "color", "size"]], frame["label"])
    return sampler, frame


@pytest.fixture(scope="module")
def resampled(spark: Any) -> tuple[Any, list[Any], SMOTE]:
    df = spark.createDataFrame(_rows(), COLUMNS)
    sampler = SMOTE(
        label_col="label",
        k_neighbors=K,
        seed=5,
        id_col="id",
        categorical=["color", "size"],
        neighbor_search="exact",
        provenance=True,
        synthetic_col="synthetic",
        sampling_strategy={1: 200},
    )
    out = sampler.fit_resample(df)
    return df, out.where("synthetic").collect(), sampler


@pytest.mark.e2e
def test_median_std_per_class_matches_imblearn(resampled: Any) -> None:
    reference, _ = _imblearn_reference()
    _, _, sampler = resampled
    assert sampler.report_.categorical_median_std[1] == pytest.approx(reference.median_std_[1])


@pytest.mark.e2e
def test_exact_neighbour_sets_match_imblearn(resampled: Any) -> None:
    reference, frame = _imblearn_reference()
    minority_ids = frame.loc[frame["label"] == 1, "id"].to_numpy()
    expected = {
        int(minority_ids[i]): {int(minority_ids[j]) for j in row}
        for i, row in enumerate(reference.recorded_nns_)
    }
    _, synthetic, _ = resampled
    drawn: dict[int, set[int]] = {}
    for row in synthetic:
        drawn.setdefault(row["smote_base_id"], set()).add(row["smote_neighbor_id"])
    for base, neighbours in drawn.items():
        assert neighbours <= expected[base], (base, neighbours, expected[base])
    # 186 draws over 14 rows x 3 neighbours: nearly every pair is seen.
    seen = sum(len(v) for v in drawn.values())
    assert seen >= 0.9 * N_MINOR * K


@pytest.mark.e2e
def test_categories_follow_the_majority_of_the_base_neighbours(resampled: Any) -> None:
    reference, frame = _imblearn_reference()
    minority = frame[frame["label"] == 1].reset_index(drop=True)
    position = {int(i): p for p, i in enumerate(minority["id"])}
    _, synthetic, _ = resampled
    untied = 0
    for row in synthetic:
        nns = reference.recorded_nns_[position[row["smote_base_id"]]]
        for column in ("color", "size"):
            counts = Counter(minority.loc[nns, column]).most_common()
            values_in_class = set(minority[column])
            assert row[column] in values_in_class
            if len(counts) == 1 or counts[0][1] > counts[1][1]:
                untied += 1
                assert row[column] == counts[0][0], (row, column, counts)
            else:
                top = {v for v, n in counts if n == counts[0][1]}
                assert row[column] in top
    assert untied > 0


@pytest.mark.e2e
def test_votes_are_the_same_for_every_synthetic_row_of_one_base(resampled: Any) -> None:
    _, synthetic, _ = resampled
    by_base: dict[int, set[tuple[str, int]]] = {}
    for row in synthetic:
        by_base.setdefault(row["smote_base_id"], set()).add((row["color"], row["size"]))
    assert all(len(values) == 1 for values in by_base.values())


@pytest.mark.e2e
def test_lsh_search_with_categorical_gives_exact_counts_and_known_categories(spark: Any) -> None:
    df = spark.createDataFrame(_rows(), COLUMNS)
    out = SMOTE(
        label_col="label",
        k_neighbors=K,
        seed=2,
        categorical=["color", "size"],
        neighbor_search="lsh",
    ).fit_resample(df)
    rows = out.collect()
    assert Counter(r["label"] for r in rows) == {0: N_MAJOR, 1: N_MAJOR}
    assert {r["color"] for r in rows} <= {"red", "green", "blue"}
    assert {r["size"] for r in rows} <= {0, 1}


def test_categorical_only_data_is_refused_with_what_to_do(spark: Any) -> None:
    df = spark.createDataFrame([("a", 1, 0), ("b", 2, 1)], ["c", "d", "label"])
    with pytest.raises(InvalidInputError, match=r"SMOTEN|one-hot"):
        SMOTE(categorical=["c", "d"], seed=1).fit_resample(df)


def test_categorical_column_of_float_type_is_refused(spark: Any) -> None:
    df = spark.createDataFrame([(1.0, 0.5, 0)], ["x", "c", "label"])
    with pytest.raises(ColumnTypeError, match=r"'c'.*string, integer or boolean"):
        SMOTE(categorical=["c"], features=["x"], seed=1).fit_resample(df)


def test_column_both_feature_and_categorical_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match=r"categorical.*also listed in features"):
        SMOTE(features=["x", "c"], categorical=["c"])


def test_too_many_categories_is_refused(spark: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_categorical, "MAX_CATEGORIES", 2)
    df = spark.createDataFrame(_rows(), COLUMNS)
    with pytest.raises(InvalidInputError, match=r"\['color'\] have more than 2 distinct"):
        SMOTE(categorical=["color"], features=["x", "y"], k_neighbors=K, seed=1).fit_resample(df)


def test_null_category_is_refused(spark: Any) -> None:
    rows = [(float(i), None if i == 0 else "a", i % 2) for i in range(10)]
    df = spark.createDataFrame(rows, "x double, c string, label int")
    with pytest.raises(InvalidInputError, match="categorical columns contain null"):
        SMOTE(categorical=["c"], k_neighbors=2, seed=1).fit_resample(df)
